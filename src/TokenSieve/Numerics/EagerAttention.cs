namespace TokenSieve.Numerics;

/// <summary>How attention runs: fused (streaming softmax, nothing [Q×K] stored; the default) or eager,
/// the way frameworks without row taps run it when a method needs attention probabilities.</summary>
public enum AttentionMode
{
    Fused,

    /// <summary>Every call materialises the full softmax matrix [heads, Q, K] (scores = Q·Kᵀ as a
    /// product, scaled, masked, softmax row by row, then P·V as a second product), as transformers'
    /// eager attention does (METHODS.md §15.4). For measuring what fused attention saves.</summary>
    Eager,
}

/// <summary>Eager attention: per query head the score matrix S = Q_h·K_gᵀ [Q, K] is a product, the
/// causal mask and softmax run over whole rows, and O_h = P_h·V_g is a second product. The [heads, Q, K]
/// probabilities are all held at once, as a framework's eager path holds them (one buffer per thread
/// reused across calls, as a caching allocator would).</summary>
internal static unsafe class EagerAttention
{
    [ThreadStatic] static NativeScratch? t_probabilities;

    public static void Forward(ComputeContext ctx, float* q, int qStride, float* k, float* v, int kvStride, float* o, int outStride, AttentionShape s)
    {
        int d = s.HeadDim, nq = s.QueryCount, nk = s.KeyCount;
        {
            t_probabilities ??= new NativeScratch();
            float* p = t_probabilities.Get((long)s.QueryHeads * nq * nk);
            var qh = new float[nq * d];
            var kg = new float[nk * d];
            var vgT = new float[d * nk];
            var oh = new float[nq * d];
            for (int g = 0; g < s.KvHeads; g++)
            {
                for (int j = 0; j < nk; j++)
                    new ReadOnlySpan<float>(k + (long)j * kvStride + g * d, d).CopyTo(kg.AsSpan(j * d, d));
                for (int j = 0; j < nk; j++)
                for (int t = 0; t < d; t++)
                    vgT[t * nk + j] = v[(long)j * kvStride + g * d + t];
                for (int h = g * s.GroupSize; h < (g + 1) * s.GroupSize; h++)
                {
                    for (int i = 0; i < nq; i++)
                        new ReadOnlySpan<float>(q + (long)i * qStride + h * d, d).CopyTo(qh.AsSpan(i * d, d));
                    float* ph = p + (long)h * nq * nk;
                    var scores = new Span<float>(ph, nq * nk);
                    Gemm.MatMulTransposed(ctx, qh, nq, d, kg, nk, scores);
                    ctx.For(nq, i =>
                    {
                        float* row = ph + (long)i * nk;
                        int last = s.LastVisibleKey(i);
                        for (int j = 0; j <= last; j++) row[j] *= s.Scale;
                        Attention.SoftmaxInPlace(row, last + 1);
                        for (int j = last + 1; j < nk; j++) row[j] = 0f;
                    });
                    Gemm.MatMulTransposed(ctx, new ReadOnlySpan<float>(ph, nq * nk), nq, nk, vgT, d, oh);
                    for (int i = 0; i < nq; i++)
                        oh.AsSpan(i * d, d).CopyTo(new Span<float>(o + (long)i * outStride + h * d, d));
                }
            }
        }
    }
}
