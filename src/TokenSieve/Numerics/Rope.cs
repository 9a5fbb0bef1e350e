using System.Runtime.Intrinsics;

namespace TokenSieve.Numerics;

/// <summary>Rotary position embedding in Hugging Face's rotate_half layout: within each head,
/// dimension i pairs with i + D/2 (not interleaved pairs as in Meta/GGUF).</summary>
/// <remarks>cos/sin of pos·inv_freq are cached per position (grow-only table, values identical to computing
/// them per call), so a layer call is pure vector arithmetic instead of rows·D/2 MathF.Cos/Sin calls.</remarks>
internal sealed unsafe class Rope : IRotaryEmbedding
{
    public int HeadDim { get; }
    public float Theta { get; }

    /// <summary>inv_freq[i] = 1/θ^(2i/D), computed in float32 as transformers does.</summary>
    readonly float[] _invFreq;

    /// <summary>[position][cos 0..half, sin 0..half]; replaced (never mutated) when it grows.</summary>
    volatile float[] _table = [];
    readonly Lock _grow = new();

    public Rope(int headDim, float theta)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"RoPE head dim must be even and positive, got {headDim}");
        HeadDim = headDim;
        Theta = theta;
        _invFreq = new float[headDim / 2];
        for (int i = 0; i < headDim / 2; i++)
            _invFreq[i] = 1f / MathF.Pow(theta, (float)(2 * i) / headDim);
    }

    public ReadOnlySpan<float> InverseFrequencies => _invFreq;

    /// <summary>Rotates every head of every row in place. x is [rows, stride] with heads at h·D;
    /// positions[r] is the position id of row r.</summary>
    public void Apply(Span<float> x, int rows, int stride, int heads, ReadOnlySpan<int> positions) =>
        Apply(ComputeContext.SingleThread, x, rows, stride, heads, positions);

    /// <summary>As <see cref="Apply(Span{float}, int, int, int, ReadOnlySpan{int})"/>, rows spread over the context's threads.</summary>
    public void Apply(ComputeContext ctx, Span<float> x, int rows, int stride, int heads, ReadOnlySpan<int> positions)
    {
        if (positions.Length < rows) throw new ArgumentException($"RoPE: {positions.Length} positions for {rows} rows", nameof(positions));
        if (stride < heads * HeadDim || x.Length < (long)(rows - 1) * stride + heads * HeadDim)
            throw new ArgumentException($"RoPE: buffer of {x.Length} values with stride {stride} too small for {rows} rows of {heads} heads x {HeadDim}", nameof(x));
        int maxPos = 0;
        for (int r = 0; r < rows; r++)
        {
            if (positions[r] < 0) throw new ArgumentOutOfRangeException(nameof(positions), $"RoPE: negative position {positions[r]} at row {r}");
            maxPos = Math.Max(maxPos, positions[r]);
        }
        float[] table = TableFor(maxPos);
        int half = HeadDim / 2;
        fixed (float* px = x, pt = table)
        fixed (int* pp = positions)
        {
            float* xp = px, tp = pt;
            int* pos = pp;
            int perTask = Math.Max(1, 8192 / Math.Max(1, heads * HeadDim));
            int tasks = (rows + perTask - 1) / perTask;
            ctx.For(tasks, t =>
            {
                int r1 = Math.Min(rows, (t + 1) * perTask);
                for (int r = t * perTask; r < r1; r++)
                {
                    float* cs = tp + (long)pos[r] * HeadDim;
                    for (int h = 0; h < heads; h++) RotateHead(xp + (long)r * stride + h * HeadDim, cs, cs + half, half);
                }
            });
        }
    }

    internal static void RotateHead(float* v, float* cos, float* sin, int half)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= half - 16; i += 16)
            {
                var a = Vector512.Load(v + i);
                var b = Vector512.Load(v + half + i);
                var c = Vector512.Load(cos + i);
                var s = Vector512.Load(sin + i);
                (a * c - b * s).Store(v + i);
                (b * c + a * s).Store(v + half + i);
            }
        else if (Vector256.IsHardwareAccelerated)
            for (; i <= half - 8; i += 8)
            {
                var a = Vector256.Load(v + i);
                var b = Vector256.Load(v + half + i);
                var c = Vector256.Load(cos + i);
                var s = Vector256.Load(sin + i);
                (a * c - b * s).Store(v + i);
                (b * c + a * s).Store(v + half + i);
            }
        for (; i < half; i++)
        {
            float a = v[i], b = v[i + half];
            v[i] = a * cos[i] - b * sin[i];
            v[i + half] = b * cos[i] + a * sin[i];
        }
    }

    float[] TableFor(int maxPosition)
    {
        float[] table = _table;
        if ((long)(maxPosition + 1) * HeadDim <= table.Length) return table;
        lock (_grow)
        {
            table = _table;
            int have = table.Length / HeadDim;
            if (maxPosition < have) return table;
            int need = Math.Max(maxPosition + 1, Math.Max(64, have * 2));
            var grown = new float[(long)need * HeadDim];
            table.CopyTo(grown, 0);
            int half = HeadDim / 2;
            for (int p = have; p < need; p++)
                for (int i = 0; i < half; i++)
                {
                    float f = p * _invFreq[i];
                    grown[(long)p * HeadDim + i] = MathF.Cos(f);
                    grown[(long)p * HeadDim + half + i] = MathF.Sin(f);
                }
            _table = grown;
            return grown;
        }
    }

    /// <summary>Scalar reference: cos/sin recomputed per row, as transformers' rotate_half formula reads.</summary>
    internal void ApplyReference(Span<float> x, int rows, int stride, int heads, ReadOnlySpan<int> positions)
    {
        int half = HeadDim / 2;
        Span<float> cos = stackalloc float[half];
        Span<float> sin = stackalloc float[half];
        for (int r = 0; r < rows; r++)
        {
            float pos = positions[r];
            for (int i = 0; i < half; i++)
            {
                float f = pos * _invFreq[i];
                cos[i] = MathF.Cos(f);
                sin[i] = MathF.Sin(f);
            }
            for (int h = 0; h < heads; h++)
            {
                var v = x.Slice(r * stride + h * HeadDim, HeadDim);
                for (int i = 0; i < half; i++)
                {
                    float a = v[i], b = v[i + half];
                    v[i] = a * cos[i] - b * sin[i];
                    v[i + half] = b * cos[i] + a * sin[i];
                }
            }
        }
    }
}
