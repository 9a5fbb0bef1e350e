using BenchmarkDotNet.Attributes;
using TokenSieve.Numerics;

namespace TokenSieve.Bench;

/// <summary>Gemm.Linear on the issue #5 prefill and decode shapes, per weight dtype.</summary>
[MemoryDiagnoser]
public class LinearBenchmarks
{
    public static IEnumerable<string> ShapeNames => KernelCases.PrefillShapes.Concat(KernelCases.DecodeShapes).Select(s => $"{s.M}x{s.K}x{s.N}");

    [ParamsSource(nameof(ShapeNames))]
    public string Shape { get; set; } = "";

    [Params(DType.F32, DType.F16, DType.BF16)]
    public DType WeightType { get; set; }

    [Params(0)]
    public int Threads { get; set; }

    ComputeContext _ctx = null!;
    float[] _x = [], _bias = [], _y = [];
    WeightMatrix _w = null!;
    int _m;

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x').Select(int.Parse).ToArray();
        (_m, int k, int n) = (parts[0], parts[1], parts[2]);
        _ctx = new ComputeContext(Threads);
        _x = KernelCases.Random((long)_m * k, 1);
        _bias = KernelCases.Random(n, 3);
        _y = new float[(long)_m * n];
        _w = WeightMatrix.FromFloats("bench", KernelCases.Random((long)n * k, 2), n, k, WeightType);
    }

    [Benchmark]
    public void Linear() => Gemm.Linear(_ctx, _x, _m, _w, _bias, _y);
}

/// <summary>Fused attention on CLIP (577, bidirectional) and LLaMA (640, causal) shapes.</summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    public static IEnumerable<AttentionCase> Cases => KernelCases.Attention;

    [ParamsSource(nameof(Cases))]
    public AttentionCase Case { get; set; } = KernelCases.Attention[0];

    [Params(0)]
    public int Threads { get; set; }

    ComputeContext _ctx = null!;
    float[] _q = [], _k = [], _v = [], _o = [];

    [GlobalSetup]
    public void Setup()
    {
        var c = Case;
        _ctx = new ComputeContext(Threads);
        _q = KernelCases.Random((long)c.Queries * c.QueryHeads * c.HeadDim, 4);
        _k = KernelCases.Random((long)c.Keys * c.KvHeads * c.HeadDim, 5);
        _v = KernelCases.Random((long)c.Keys * c.KvHeads * c.HeadDim, 6);
        _o = new float[(long)c.Queries * c.QueryHeads * c.HeadDim];
    }

    [Benchmark]
    public void Forward()
    {
        var c = Case;
        Attention.Forward(_ctx, _q, c.QueryHeads * c.HeadDim, _k, _v, c.KvHeads * c.HeadDim, _o, c.QueryHeads * c.HeadDim, c.Shape);
    }

    /// <summary>The [CLS]/last-query tap: one row, every head.</summary>
    [Benchmark]
    public void RowTap()
    {
        var c = Case;
        Attention.RowProbabilities(_ctx, _q, c.QueryHeads * c.HeadDim, _k, c.KvHeads * c.HeadDim, [c.Queries - 1], c.Shape, _o);
    }
}
