namespace TokenSieve.Numerics;

/// <summary>Rotary position embedding in Hugging Face's rotate_half layout: within each head,
/// dimension i pairs with i + D/2 (not interleaved pairs as in Meta/GGUF).</summary>
public sealed class Rope
{
    public int HeadDim { get; }
    public float Theta { get; }

    /// <summary>inv_freq[i] = 1/θ^(2i/D), computed in float32 as transformers does.</summary>
    readonly float[] _invFreq;

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
    public void Apply(Span<float> x, int rows, int stride, int heads, ReadOnlySpan<int> positions)
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
