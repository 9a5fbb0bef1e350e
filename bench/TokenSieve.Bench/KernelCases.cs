using TokenSieve.Numerics;

namespace TokenSieve.Bench;

/// <summary>The kernel shapes issue #5 tracks, shared by the quick table and the BenchmarkDotNet suites.</summary>
public static class KernelCases
{
    /// <summary>(M, K, N): y[M,N] = x[M,K]·W[N,K]ᵀ. CLIP-L attention/MLP, TinyLlama MLP, LLaMA-7B projections, a 64-token chunk.</summary>
    public static readonly (int M, int K, int N)[] PrefillShapes =
    [
        (576, 1024, 1024),
        (576, 1024, 4096),
        (640, 2048, 5632),
        (640, 4096, 4096),
        (64, 4096, 4096),
    ];

    /// <summary>Decode: one token through a 4096×4096 projection and TinyLlama's MLP up and down projections (bandwidth bound).</summary>
    public static readonly (int M, int K, int N)[] DecodeShapes = [(1, 4096, 4096), (1, 2048, 5632), (1, 5632, 2048)];

    /// <summary>Weight types of the prefill rows.</summary>
    public static readonly DType[] DTypes = [DType.F32, DType.F16, DType.BF16];

    /// <summary>Weight types of the decode rows (the GGML block types are what CPU decode runs in).</summary>
    public static readonly DType[] DecodeDTypes = [DType.F32, DType.F16, DType.BF16, DType.Q8_0, DType.Q4_0];

    /// <summary>Attention calls: CLIP-L/14-336 (577 tokens, bidirectional) and a 640-token causal LLaMA prefill.</summary>
    public static readonly AttentionCase[] Attention =
    [
        new("clip 577 bidir d64", 577, 577, 16, 16, 64, false),
        new("clip 577 bidir d128", 577, 577, 8, 8, 128, false),
        new("llama 640 causal d64", 640, 640, 32, 32, 64, true),
        new("llama 640 causal d128", 640, 640, 32, 32, 128, true),
        new("llama 640 causal d128 gqa4", 640, 640, 32, 8, 128, true),
    ];

    public static float[] Random(long count, int seed)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }
}

public sealed record AttentionCase(string Name, int Queries, int Keys, int QueryHeads, int KvHeads, int HeadDim, bool Causal)
{
    internal AttentionShape Shape => new(Queries, Keys, QueryHeads, KvHeads, HeadDim, 1f / MathF.Sqrt(HeadDim), Causal);

    /// <summary>Multiply-add flops of QKᵀ and PV over the visible (query, key) pairs.</summary>
    public double Flops
    {
        get
        {
            double pairs = 0;
            for (int i = 0; i < Queries; i++) pairs += Shape.LastVisibleKey(i) + 1;
            return pairs * QueryHeads * HeadDim * 4.0;
        }
    }

    public override string ToString() => Name;
}
