using System.Numerics.Tensors;
using TokenSieve.Numerics;

namespace TokenSieve.Lab.Training;

/// <summary>Every layer the lab model uses, as a forward/backward pair over flat row-major buffers
/// (the llm.c layout). Shapes are in each comment; N = tokens. Backward functions *accumulate* into
/// parameter gradients and input gradients (+=), so residual branches and shared weights just add.</summary>
internal static class Layers
{
    // ---------------------------------------------------------------- linear
    /// <summary>y[N,O] = x[N,I]·Wᵀ + b, with W [O,I] given as its transpose wT [I,O]; b may be empty.</summary>
    public static void LinearForward(ReadOnlySpan<float> x, ReadOnlySpan<float> wT, ReadOnlySpan<float> b, Span<float> y, int n, int inDim, int outDim)
    {
        if (b.IsEmpty) y[..(n * outDim)].Clear();
        else for (int t = 0; t < n; t++) b[..outDim].CopyTo(y.Slice(t * outDim, outDim));
        MatMul.Multiply(x, inDim, 1, wT, y, n, inDim, outDim, accumulate: true);
    }

    /// <summary>dx[N,I] += dy·W; dW[O,I] += dyᵀ·x; db[O] += Σ dy. Empty dx / db are skipped.</summary>
    public static void LinearBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> dx, Span<float> dw, Span<float> db, int n, int inDim, int outDim)
    {
        if (!dx.IsEmpty) MatMul.Multiply(dy, outDim, 1, w, dx, n, outDim, inDim, accumulate: true);
        MatMul.Multiply(dy, 1, outDim, x, dw, outDim, n, inDim, accumulate: true);
        if (!db.IsEmpty)
            for (int t = 0; t < n; t++) TensorPrimitives.Add(db[..outDim], dy.Slice(t * outDim, outDim), db[..outDim]);
    }

    // ---------------------------------------------------------------- patch embedding
    /// <summary>Conv2d(C→D, kernel = stride = P, no bias) as a matmul: im2col turns pixels [C,H,W]
    /// into patches [G·G, C·P·P] in the conv weight's (c, ky, kx) order, raster patch order.</summary>
    public static void Im2Col(ReadOnlySpan<float> pixels, Span<float> patches, int channels, int imageSize, int patch)
    {
        int grid = imageSize / patch, row = channels * patch * patch;
        for (int gy = 0; gy < grid; gy++)
            for (int gx = 0; gx < grid; gx++)
            {
                var dst = patches.Slice((gy * grid + gx) * row, row);
                int o = 0;
                for (int c = 0; c < channels; c++)
                    for (int ky = 0; ky < patch; ky++)
                    {
                        pixels.Slice(c * imageSize * imageSize + (gy * patch + ky) * imageSize + gx * patch, patch).CopyTo(dst.Slice(o, patch));
                        o += patch;
                    }
            }
    }

    /// <summary>CLIP embeddings: x[0] = class_embedding + pos[0]; x[1+p] = patchOut[p] + pos[1+p]. x [N=1+P, D].</summary>
    public static void EmbeddingsForward(ReadOnlySpan<float> patchOut, ReadOnlySpan<float> cls, ReadOnlySpan<float> pos, Span<float> x, int numPatches, int d)
    {
        TensorPrimitives.Add(cls[..d], pos[..d], x[..d]);
        TensorPrimitives.Add(patchOut[..(numPatches * d)], pos.Slice(d, numPatches * d), x.Slice(d, numPatches * d));
    }

    public static void EmbeddingsBackward(ReadOnlySpan<float> dx, Span<float> dPatchOut, Span<float> dCls, Span<float> dPos, int numPatches, int d)
    {
        int total = (numPatches + 1) * d;
        TensorPrimitives.Add(dPos[..total], dx[..total], dPos[..total]);
        TensorPrimitives.Add(dCls[..d], dx[..d], dCls[..d]);
        TensorPrimitives.Add(dPatchOut[..(numPatches * d)], dx.Slice(d, numPatches * d), dPatchOut[..(numPatches * d)]);
    }

    // ---------------------------------------------------------------- norms
    /// <summary>LayerNorm over the last axis: y = (x−μ)·rstd·w + b. x, y [N,D]; saves mean, rstd [N].</summary>
    public static void LayerNormForward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, Span<float> mean, Span<float> rstd, int n, int d, float eps)
    {
        for (int t = 0; t < n; t++)
        {
            var xr = x.Slice(t * d, d);
            var yr = y.Slice(t * d, d);
            float m = TensorPrimitives.Sum(xr) / d;
            float v = 0;
            for (int i = 0; i < d; i++) { float c = xr[i] - m; v += c * c; }
            float s = 1f / MathF.Sqrt(v / d + eps);
            for (int i = 0; i < d; i++) yr[i] = (xr[i] - m) * s * w[i] + b[i];
            mean[t] = m;
            rstd[t] = s;
        }
    }

    public static void LayerNormBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        Span<float> dx, Span<float> dw, Span<float> db, int n, int d)
    {
        for (int t = 0; t < n; t++)
        {
            var dyr = dy.Slice(t * d, d);
            var xr = x.Slice(t * d, d);
            var dxr = dx.Slice(t * d, d);
            float m = mean[t], s = rstd[t];
            float sumG = 0, sumGx = 0;
            for (int i = 0; i < d; i++)
            {
                float xh = (xr[i] - m) * s;
                float g = dyr[i] * w[i];
                sumG += g;
                sumGx += g * xh;
                dw[i] += dyr[i] * xh;
                db[i] += dyr[i];
            }
            sumG /= d;
            sumGx /= d;
            for (int i = 0; i < d; i++)
            {
                float xh = (xr[i] - m) * s;
                dxr[i] += s * (dyr[i] * w[i] - sumG - xh * sumGx);
            }
        }
    }

    /// <summary>RMSNorm (LLaMA): y = x·rstd·w, rstd = 1/√(mean(x²)+eps). x, y [N,D]; saves rstd [N].</summary>
    public static void RmsNormForward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, Span<float> rstd, int n, int d, float eps)
    {
        for (int t = 0; t < n; t++)
        {
            var xr = x.Slice(t * d, d);
            float s = 1f / MathF.Sqrt(TensorPrimitives.Dot(xr, xr) / d + eps);
            var yr = y.Slice(t * d, d);
            for (int i = 0; i < d; i++) yr[i] = xr[i] * s * w[i];
            rstd[t] = s;
        }
    }

    public static void RmsNormBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> rstd, Span<float> dx, Span<float> dw, int n, int d)
    {
        for (int t = 0; t < n; t++)
        {
            var dyr = dy.Slice(t * d, d);
            var xr = x.Slice(t * d, d);
            var dxr = dx.Slice(t * d, d);
            float s = rstd[t];
            float dot = 0;
            for (int i = 0; i < d; i++)
            {
                dot += dyr[i] * w[i] * xr[i];
                dw[i] += dyr[i] * xr[i] * s;
            }
            float c = s * s * dot / d;
            for (int i = 0; i < d; i++) dxr[i] += s * (dyr[i] * w[i] - xr[i] * c);
        }
    }

    // ---------------------------------------------------------------- attention
    /// <summary>Multi-head scaled dot-product attention. q, k, v, o [N, H·hd] (head h in columns
    /// h·hd..); probs [H,N,N] saved for backward (rows beyond the causal limit are zero).
    /// Bidirectional for CLIP, causal for LLaMA.</summary>
    public static void AttentionForward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> probs, int n, int heads, int headDim, bool causal)
    {
        int d = heads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        o[..(n * d)].Clear();
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < n; i++)
            {
                var p = probs.Slice((h * n + i) * n, n);
                var qi = q.Slice(i * d + h * headDim, headDim);
                int len = causal ? i + 1 : n;
                float max = float.NegativeInfinity;
                for (int j = 0; j < len; j++)
                {
                    float s = TensorPrimitives.Dot(qi, k.Slice(j * d + h * headDim, headDim)) * scale;
                    p[j] = s;
                    if (s > max) max = s;
                }
                float sum = 0;
                for (int j = 0; j < len; j++) { p[j] = MathF.Exp(p[j] - max); sum += p[j]; }
                float inv = 1f / sum;
                var oi = o.Slice(i * d + h * headDim, headDim);
                for (int j = 0; j < len; j++)
                {
                    p[j] *= inv;
                    TensorPrimitives.MultiplyAdd(v.Slice(j * d + h * headDim, headDim), p[j], oi, oi);
                }
                p[len..].Clear();
            }
    }

    /// <summary>Backward of <see cref="AttentionForward"/>: accumulates dq, dk, dv [N, H·hd].
    /// scratch needs N floats.</summary>
    public static void AttentionBackward(ReadOnlySpan<float> dO, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> probs,
        Span<float> dq, Span<float> dk, Span<float> dv, Span<float> scratch, int n, int heads, int headDim, bool causal)
    {
        int d = heads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        var dp = scratch[..n];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < n; i++)
            {
                var p = probs.Slice((h * n + i) * n, n);
                var doi = dO.Slice(i * d + h * headDim, headDim);
                int len = causal ? i + 1 : n;
                float dot = 0;
                for (int j = 0; j < len; j++)
                {
                    dp[j] = TensorPrimitives.Dot(doi, v.Slice(j * d + h * headDim, headDim));
                    dot += p[j] * dp[j];
                    var dvj = dv.Slice(j * d + h * headDim, headDim);
                    TensorPrimitives.MultiplyAdd(doi, p[j], dvj, dvj);
                }
                var qi = q.Slice(i * d + h * headDim, headDim);
                var dqi = dq.Slice(i * d + h * headDim, headDim);
                for (int j = 0; j < len; j++)
                {
                    float ds = p[j] * (dp[j] - dot) * scale;
                    TensorPrimitives.MultiplyAdd(k.Slice(j * d + h * headDim, headDim), ds, dqi, dqi);
                    var dkj = dk.Slice(j * d + h * headDim, headDim);
                    TensorPrimitives.MultiplyAdd(qi, ds, dkj, dkj);
                }
            }
    }

    // ---------------------------------------------------------------- RoPE
    /// <summary>cos/sin tables [positions, hd/2] for HF's rotate_half RoPE: inv_freq[i] =
    /// 1/θ^(2i/hd) in float32 as transformers computes it, angle = pos·inv_freq in float32.</summary>
    public static (float[] Cos, float[] Sin) RopeTables(int positions, int headDim, float theta)
    {
        int half = headDim / 2;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int i = 0; i < half; i++)
        {
            float inv = (float)(1.0 / Math.Pow(theta, (float)(2 * i) / headDim));
            for (int p = 0; p < positions; p++)
            {
                float angle = p * inv;
                cos[p * half + i] = MathF.Cos(angle);
                sin[p * half + i] = MathF.Sin(angle);
            }
        }
        return (cos, sin);
    }

    /// <summary>In place on x [N, H·hd], position of row t = t: (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin)
    /// with x1 = dims 0..hd/2, x2 = dims hd/2..hd of each head (rotate_half layout).</summary>
    public static void RopeForward(Span<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, int n, int heads, int headDim)
    {
        int half = headDim / 2, d = heads * headDim;
        for (int t = 0; t < n; t++)
            for (int h = 0; h < heads; h++)
            {
                var r = x.Slice(t * d + h * headDim, headDim);
                for (int i = 0; i < half; i++)
                {
                    float c = cos[t * half + i], s = sin[t * half + i];
                    float x1 = r[i], x2 = r[i + half];
                    r[i] = x1 * c - x2 * s;
                    r[i + half] = x2 * c + x1 * s;
                }
            }
    }

    /// <summary>In place on the gradient: the transpose of the rotation.</summary>
    public static void RopeBackward(Span<float> dx, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, int n, int heads, int headDim)
    {
        int half = headDim / 2, d = heads * headDim;
        for (int t = 0; t < n; t++)
            for (int h = 0; h < heads; h++)
            {
                var r = dx.Slice(t * d + h * headDim, headDim);
                for (int i = 0; i < half; i++)
                {
                    float c = cos[t * half + i], s = sin[t * half + i];
                    float g1 = r[i], g2 = r[i + half];
                    r[i] = g1 * c + g2 * s;
                    r[i + half] = g2 * c - g1 * s;
                }
            }
    }

    // ---------------------------------------------------------------- activations
    /// <summary>CLIP's quick_gelu: y = x·σ(1.702x).</summary>
    public static void QuickGeluForward(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] / (1f + MathF.Exp(-1.702f * x[i]));
    }

    public static void QuickGeluBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float s = 1f / (1f + MathF.Exp(-1.702f * x[i]));
            dx[i] += dy[i] * (s + 1.702f * x[i] * s * (1f - s));
        }
    }

    /// <summary>The projector's exact GELU: y = x·Φ(x) = ½x(1 + erf(x/√2)).</summary>
    public static void GeluForward(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = (float)(0.5 * x[i] * (1.0 + Activations.Erf(x[i] * 0.70710678118654752)));
    }

    public static void GeluBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double xi = x[i];
            double cdf = 0.5 * (1.0 + Activations.Erf(xi * 0.70710678118654752));
            double pdf = Math.Exp(-0.5 * xi * xi) * 0.39894228040143268;
            dx[i] += (float)(dy[i] * (cdf + xi * pdf));
        }
    }

    /// <summary>LLaMA's gated MLP middle: h = silu(g)·u.</summary>
    public static void SwiGluForward(ReadOnlySpan<float> g, ReadOnlySpan<float> u, Span<float> h)
    {
        for (int i = 0; i < g.Length; i++) h[i] = g[i] / (1f + MathF.Exp(-g[i])) * u[i];
    }

    public static void SwiGluBackward(ReadOnlySpan<float> dh, ReadOnlySpan<float> g, ReadOnlySpan<float> u, Span<float> dg, Span<float> du)
    {
        for (int i = 0; i < g.Length; i++)
        {
            float s = 1f / (1f + MathF.Exp(-g[i]));
            float silu = g[i] * s;
            du[i] += dh[i] * silu;
            dg[i] += dh[i] * u[i] * s * (1f + g[i] * (1f - s));
        }
    }

    // ---------------------------------------------------------------- losses
    /// <summary>Softmax cross-entropy of one row of logits [V] against a target; writes
    /// dlogits = weight·(softmax − onehot) and returns −log p(target).</summary>
    public static float CrossEntropyForwardBackward(ReadOnlySpan<float> logits, int target, float weight, Span<float> dlogits)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp(logits[i] - max);
        double logZ = max + Math.Log(sum);
        for (int i = 0; i < logits.Length; i++) dlogits[i] = weight * (float)Math.Exp(logits[i] - logZ);
        dlogits[target] -= weight;
        return (float)(logZ - logits[target]);
    }

    /// <summary>Binary cross-entropy with logits: returns the loss, writes dlogit = weight·(σ(z) − y).</summary>
    public static float SigmoidCrossEntropy(float logit, float target, float weight, out float dlogit)
    {
        double p = 1.0 / (1.0 + Math.Exp(-logit));
        dlogit = weight * (float)(p - target);
        // log(1+e^z) − y·z, computed stably
        double loss = Math.Max(logit, 0) - logit * target + Math.Log(1 + Math.Exp(-Math.Abs(logit)));
        return (float)loss;
    }
}
