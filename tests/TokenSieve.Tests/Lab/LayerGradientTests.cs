using TokenSieve.Lab.Training;

namespace TokenSieve.Tests.Lab;

/// <summary>Finite-difference checks of every backward function in <see cref="Layers"/>.</summary>
public class LayerGradientTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linear(bool bias)
    {
        int n = 5, i = 7, o = 9;
        var x = GradientCheck.Random(n * i, 1);
        var w = GradientCheck.Random(o * i, 2);
        var b = bias ? GradientCheck.Random(o, 3) : [];
        var up = GradientCheck.Random(n * o, 4);
        double Loss()
        {
            var wt = new float[i * o];
            MatMul.Transpose(w, wt, o, i);
            var y = new float[n * o];
            Layers.LinearForward(x, wt, b, y, n, i, o);
            return GradientCheck.Weighted(y, up);
        }
        var dx = new float[n * i];
        var dw = new float[o * i];
        var db = new float[o];
        Layers.LinearBackward(up, x, w, dx, dw, bias ? db : default, n, i, o);
        GradientCheck.AssertClose(dx, GradientCheck.Numeric(x, Loss), "linear dx");
        GradientCheck.AssertClose(dw, GradientCheck.Numeric(w, Loss), "linear dW");
        if (bias) GradientCheck.AssertClose(db, GradientCheck.Numeric(b, Loss), "linear db");
    }

    [Fact]
    public void LayerNorm()
    {
        int n = 4, d = 11;
        var x = GradientCheck.Random(n * d, 5, 2f);
        var w = GradientCheck.Random(d, 6);
        var b = GradientCheck.Random(d, 7);
        var up = GradientCheck.Random(n * d, 8);
        double Loss()
        {
            var y = new float[n * d];
            Layers.LayerNormForward(x, w, b, y, new float[n], new float[n], n, d, 1e-5f);
            return GradientCheck.Weighted(y, up);
        }
        var mean = new float[n];
        var rstd = new float[n];
        Layers.LayerNormForward(x, w, b, new float[n * d], mean, rstd, n, d, 1e-5f);
        var dx = new float[n * d];
        var dw = new float[d];
        var db = new float[d];
        Layers.LayerNormBackward(up, x, w, mean, rstd, dx, dw, db, n, d);
        GradientCheck.AssertClose(dx, GradientCheck.Numeric(x, Loss), "layernorm dx");
        GradientCheck.AssertClose(dw, GradientCheck.Numeric(w, Loss), "layernorm dw");
        GradientCheck.AssertClose(db, GradientCheck.Numeric(b, Loss), "layernorm db");
    }

    [Fact]
    public void RmsNorm()
    {
        int n = 4, d = 10;
        var x = GradientCheck.Random(n * d, 9, 2f);
        var w = GradientCheck.Random(d, 10);
        var up = GradientCheck.Random(n * d, 11);
        double Loss()
        {
            var y = new float[n * d];
            Layers.RmsNormForward(x, w, y, new float[n], n, d, 1e-5f);
            return GradientCheck.Weighted(y, up);
        }
        var rstd = new float[n];
        Layers.RmsNormForward(x, w, new float[n * d], rstd, n, d, 1e-5f);
        var dx = new float[n * d];
        var dw = new float[d];
        Layers.RmsNormBackward(up, x, w, rstd, dx, dw, n, d);
        GradientCheck.AssertClose(dx, GradientCheck.Numeric(x, Loss), "rmsnorm dx");
        GradientCheck.AssertClose(dw, GradientCheck.Numeric(w, Loss), "rmsnorm dw");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Attention(bool causal)
    {
        int n = 6, heads = 2, hd = 4, d = heads * hd;
        var q = GradientCheck.Random(n * d, 12);
        var k = GradientCheck.Random(n * d, 13);
        var v = GradientCheck.Random(n * d, 14);
        var up = GradientCheck.Random(n * d, 15);
        double Loss()
        {
            var o = new float[n * d];
            Layers.AttentionForward(q, k, v, o, new float[heads * n * n], n, heads, hd, causal);
            return GradientCheck.Weighted(o, up);
        }
        var probs = new float[heads * n * n];
        Layers.AttentionForward(q, k, v, new float[n * d], probs, n, heads, hd, causal);
        var dq = new float[n * d];
        var dk = new float[n * d];
        var dv = new float[n * d];
        Layers.AttentionBackward(up, q, k, v, probs, dq, dk, dv, new float[n], n, heads, hd, causal);
        GradientCheck.AssertClose(dq, GradientCheck.Numeric(q, Loss), "attention dq");
        GradientCheck.AssertClose(dk, GradientCheck.Numeric(k, Loss), "attention dk");
        GradientCheck.AssertClose(dv, GradientCheck.Numeric(v, Loss), "attention dv");
    }

    [Fact]
    public void CausalAttentionIgnoresTheFuture()
    {
        int n = 5, heads = 1, hd = 4;
        var q = GradientCheck.Random(n * hd, 16);
        var k = GradientCheck.Random(n * hd, 17);
        var v = GradientCheck.Random(n * hd, 18);
        var before = new float[n * hd];
        Layers.AttentionForward(q, k, v, before, new float[n * n], n, heads, hd, causal: true);
        for (int i = 0; i < hd; i++) { k[(n - 1) * hd + i] += 3; v[(n - 1) * hd + i] -= 2; }
        var after = new float[n * hd];
        Layers.AttentionForward(q, k, v, after, new float[n * n], n, heads, hd, causal: true);
        Assert.Equal(before.AsSpan(0, (n - 1) * hd).ToArray(), after.AsSpan(0, (n - 1) * hd).ToArray());
    }

    [Fact]
    public void Rope()
    {
        int n = 5, heads = 2, hd = 8, d = heads * hd;
        var (cos, sin) = Layers.RopeTables(16, hd, 10000f);
        var x = GradientCheck.Random(n * d, 19);
        var up = GradientCheck.Random(n * d, 20);
        double Loss()
        {
            var y = (float[])x.Clone();
            Layers.RopeForward(y, cos, sin, n, heads, hd);
            return GradientCheck.Weighted(y, up);
        }
        var dx = (float[])up.Clone();
        Layers.RopeBackward(dx, cos, sin, n, heads, hd);
        GradientCheck.AssertClose(dx, GradientCheck.Numeric(x, Loss), "rope dx");
    }

    [Fact]
    public void RopeUsesRotateHalfPairs()
    {
        // position 1, head dim 4: dims (0, 2) rotate by θ₀ = 1 rad, dims (1, 3) by θ₁ = 1/√10000 rad
        var (cos, sin) = Layers.RopeTables(2, 4, 10000f);
        var x = new float[] { 0, 0, 0, 0, 1, 0, 0, 0 };
        Layers.RopeForward(x, cos, sin, 2, 1, 4);
        Assert.Equal(MathF.Cos(1f), x[4], 6);
        Assert.Equal(MathF.Sin(1f), x[6], 6);
        Assert.Equal(0f, x[5]);
    }

    [Fact]
    public void Activations()
    {
        int n = 23;
        var x = GradientCheck.Random(n, 21, 3f);
        var u = GradientCheck.Random(n, 22, 2f);
        var up = GradientCheck.Random(n, 23);
        foreach (var (name, fwd, bwd) in new (string, Action<float[], float[]>, Action<float[], float[], float[]>)[]
        {
            ("quick_gelu", (a, y) => Layers.QuickGeluForward(a, y), (g, a, d) => Layers.QuickGeluBackward(g, a, d)),
            ("gelu", (a, y) => Layers.GeluForward(a, y), (g, a, d) => Layers.GeluBackward(g, a, d)),
        })
        {
            double Loss() { var y = new float[n]; fwd(x, y); return GradientCheck.Weighted(y, up); }
            var dx = new float[n];
            bwd(up, x, dx);
            GradientCheck.AssertClose(dx, GradientCheck.Numeric(x, Loss), name);
        }
        double SwiLoss() { var h = new float[n]; Layers.SwiGluForward(x, u, h); return GradientCheck.Weighted(h, up); }
        var dg = new float[n];
        var du = new float[n];
        Layers.SwiGluBackward(up, x, u, dg, du);
        GradientCheck.AssertClose(dg, GradientCheck.Numeric(x, SwiLoss), "swiglu dgate");
        GradientCheck.AssertClose(du, GradientCheck.Numeric(u, SwiLoss), "swiglu dup");
    }

    [Fact]
    public void ActivationValues()
    {
        var y = new float[3];
        Layers.GeluForward([-1f, 0f, 1.5f], y);
        // Φ(x)·x with Φ from float64 erf: GELU(−1) = −0.158655, GELU(1.5) = 1.399789
        Assert.Equal(-0.158655f, y[0], 5);
        Assert.Equal(1.399789f, y[2], 5);
        Layers.QuickGeluForward([1f, 0f, 1.5f], y);
        Assert.Equal(1f / (1f + MathF.Exp(-1.702f)), y[0], 6);
    }

    [Fact]
    public void Losses()
    {
        int v = 7;
        var logits = GradientCheck.Random(v, 24, 2f);
        var dl = new float[v];
        Layers.CrossEntropyForwardBackward(logits, 3, 1f, dl);
        var numeric = GradientCheck.Numeric(logits, () => Layers.CrossEntropyForwardBackward(logits, 3, 1f, new float[v]));
        GradientCheck.AssertClose(dl, numeric, "cross-entropy");
        var z = new[] { 0.7f };
        Layers.SigmoidCrossEntropy(z[0], 1f, 1f, out float dz);
        var nz = GradientCheck.Numeric(z, () => Layers.SigmoidCrossEntropy(z[0], 1f, 1f, out _));
        GradientCheck.AssertClose([dz], nz, "sigmoid cross-entropy");
    }

    [Fact]
    public void PatchEmbeddingIsTheConvolution()
    {
        // Conv2d(3→2, kernel = stride = 2) on a 4×4 image computed directly vs im2col + linear
        int c = 3, s = 4, p = 2, d = 2, grid = 2;
        var pixels = GradientCheck.Random(c * s * s, 25);
        var w = GradientCheck.Random(d * c * p * p, 26);
        var patches = new float[grid * grid * c * p * p];
        Layers.Im2Col(pixels, patches, c, s, p);
        var wt = new float[w.Length];
        MatMul.Transpose(w, wt, d, c * p * p);
        var y = new float[grid * grid * d];
        Layers.LinearForward(patches, wt, default, y, grid * grid, c * p * p, d);
        for (int gy = 0; gy < grid; gy++)
            for (int gx = 0; gx < grid; gx++)
                for (int o = 0; o < d; o++)
                {
                    double sum = 0;
                    for (int ch = 0; ch < c; ch++)
                        for (int ky = 0; ky < p; ky++)
                            for (int kx = 0; kx < p; kx++)
                                sum += w[((o * c + ch) * p + ky) * p + kx] * pixels[(ch * s + gy * p + ky) * s + gx * p + kx];
                    Assert.Equal(sum, y[(gy * grid + gx) * d + o], 5);
                }
    }

    [Fact]
    public void EmbeddingsBackward()
    {
        int np = 3, d = 4;
        var patchOut = GradientCheck.Random(np * d, 27);
        var cls = GradientCheck.Random(d, 28);
        var pos = GradientCheck.Random((np + 1) * d, 29);
        var up = GradientCheck.Random((np + 1) * d, 30);
        double Loss() { var x = new float[(np + 1) * d]; Layers.EmbeddingsForward(patchOut, cls, pos, x, np, d); return GradientCheck.Weighted(x, up); }
        var dp = new float[np * d];
        var dc = new float[d];
        var dpos = new float[(np + 1) * d];
        Layers.EmbeddingsBackward(up, dp, dc, dpos, np, d);
        GradientCheck.AssertClose(dp, GradientCheck.Numeric(patchOut, Loss), "embeddings dpatch");
        GradientCheck.AssertClose(dc, GradientCheck.Numeric(cls, Loss), "embeddings dcls");
        GradientCheck.AssertClose(dpos, GradientCheck.Numeric(pos, Loss), "embeddings dpos");
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1)]
    [InlineData(5, 7, 17, 7, 1)]
    [InlineData(9, 13, 33, 13, 1)]
    [InlineData(6, 5, 24, 1, 6)]
    [InlineData(4, 3, 8, 1, 4)]
    public void MatMulMatchesReference(int m, int k, int n, int aRow, int aCol)
    {
        var a = GradientCheck.Random(m * k, 31);
        var b = GradientCheck.Random(k * n, 32);
        var c1 = GradientCheck.Random(m * n, 33);
        var c2 = (float[])c1.Clone();
        MatMul.Multiply(a, aRow, aCol, b, c1, m, k, n, accumulate: true);
        MatMul.Reference(a, aRow, aCol, b, c2, m, k, n, accumulate: true);
        // fp32 FMA accumulation over k ≤ 13 terms of size ≤ 1: error well below 1e-5
        for (int i = 0; i < c1.Length; i++) Assert.Equal(c2[i], c1[i], 1e-5f);
    }
}
