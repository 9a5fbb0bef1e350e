namespace TokenSieve.Numerics;

/// <summary>Shape of one multi-head attention call. Queries are [QueryCount, QueryHeads·HeadDim]
/// rows, keys/values [KeyCount, KvHeads·HeadDim] rows (GQA: query head h reads kv head
/// h / (QueryHeads/KvHeads)). With <see cref="Causal"/>, query i sits at key index
/// i + (KeyCount − QueryCount) and sees keys 0..that index (a KV cache prefix plus itself).</summary>
public readonly record struct AttentionShape(int QueryCount, int KeyCount, int QueryHeads, int KvHeads, int HeadDim, float Scale, bool Causal)
{
    public int GroupSize => QueryHeads / KvHeads;

    /// <summary>Index of the last key query <paramref name="i"/> may see.</summary>
    public int LastVisibleKey(int i) => Causal ? i + (KeyCount - QueryCount) : KeyCount - 1;

    public void Validate()
    {
        if (QueryCount <= 0 || KeyCount <= 0 || QueryHeads <= 0 || KvHeads <= 0 || HeadDim <= 0)
            throw new ArgumentException($"attention shape has a non-positive size: {this}");
        if (QueryHeads % KvHeads != 0) throw new ArgumentException($"query heads {QueryHeads} not a multiple of kv heads {KvHeads}");
        if (Causal && KeyCount < QueryCount) throw new ArgumentException($"causal attention with {QueryCount} queries but only {KeyCount} keys");
    }
}

/// <summary>Fused (streaming-softmax) attention: nothing [Q×K] is ever stored. Row taps recompute the
/// exact softmax rows a method asks for from the same q/k.</summary>
public static unsafe class Attention
{
    /// <summary>output[i, h·D..] = Σ_j softmax_j(q_i,h · k_j,g · scale) v_j,g. Strides are in floats per row.</summary>
    public static void Forward(ComputeContext ctx, ReadOnlySpan<float> q, int qStride, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int kvStride,
        Span<float> output, int outStride, AttentionShape s)
    {
        s.Validate();
        CheckSpans(q, qStride, k, v, kvStride, s);
        if (output.Length < (long)(s.QueryCount - 1) * outStride + s.QueryHeads * s.HeadDim) throw new ArgumentException("attention output too short");
        fixed (float* pq = q, pk = k, pv = v, po = output)
        {
            float* qp = pq, kp = pk, vp = pv, op = po;
            int d = s.HeadDim;
            ctx.For(s.QueryCount * s.QueryHeads, task =>
            {
                int i = task / s.QueryHeads, h = task % s.QueryHeads, g = h / s.GroupSize;
                float* qi = qp + (long)i * qStride + h * d;
                float* oi = op + (long)i * outStride + h * d;
                int last = s.LastVisibleKey(i);
                float max = float.NegativeInfinity, sum = 0f;
                Span<float> acc = stackalloc float[d];
                acc.Clear();
                for (int j = 0; j <= last; j++)
                {
                    float* kj = kp + (long)j * kvStride + g * d;
                    float dot = 0f;
                    for (int t = 0; t < d; t++) dot += qi[t] * kj[t];
                    float logit = dot * s.Scale;
                    if (logit > max)
                    {
                        float correction = MathF.Exp(max - logit);
                        sum *= correction;
                        for (int t = 0; t < d; t++) acc[t] *= correction;
                        max = logit;
                    }
                    float p = MathF.Exp(logit - max);
                    sum += p;
                    float* vj = vp + (long)j * kvStride + g * d;
                    for (int t = 0; t < d; t++) acc[t] += p * vj[t];
                }
                for (int t = 0; t < d; t++) oi[t] = acc[t] / sum;
            });
        }
    }

    /// <summary>Row tap: the exact softmax probabilities of the given query rows, per head:
    /// probabilities[r, h, j] for r over <paramref name="queryRows"/>, j over keys (0 beyond the causal limit).</summary>
    public static void RowProbabilities(ComputeContext ctx, ReadOnlySpan<float> q, int qStride, ReadOnlySpan<float> k, int kvStride,
        ReadOnlySpan<int> queryRows, AttentionShape s, Span<float> probabilities)
    {
        s.Validate();
        if (q.Length < (long)(s.QueryCount - 1) * qStride + s.QueryHeads * s.HeadDim || k.Length < (long)(s.KeyCount - 1) * kvStride + s.KvHeads * s.HeadDim)
            throw new ArgumentException("attention tap inputs too short");
        int rows = queryRows.Length;
        if (probabilities.Length < (long)rows * s.QueryHeads * s.KeyCount) throw new ArgumentException("attention tap output too short");
        int[] qr = queryRows.ToArray();
        foreach (int r in qr)
            if ((uint)r >= (uint)s.QueryCount) throw new ArgumentOutOfRangeException(nameof(queryRows), $"query row {r} outside 0..{s.QueryCount - 1}");
        fixed (float* pq = q, pk = k, pp = probabilities)
        {
            float* qp = pq, kp = pk, prob = pp;
            int d = s.HeadDim;
            ctx.For(rows * s.QueryHeads, task =>
            {
                int r = task / s.QueryHeads, h = task % s.QueryHeads, g = h / s.GroupSize;
                int i = qr[r];
                float* qi = qp + (long)i * qStride + h * d;
                float* row = prob + ((long)r * s.QueryHeads + h) * s.KeyCount;
                int last = s.LastVisibleKey(i);
                float max = float.NegativeInfinity;
                for (int j = 0; j <= last; j++)
                {
                    float* kj = kp + (long)j * kvStride + g * d;
                    float dot = 0f;
                    for (int t = 0; t < d; t++) dot += qi[t] * kj[t];
                    row[j] = dot * s.Scale;
                    if (row[j] > max) max = row[j];
                }
                float sum = 0f;
                for (int j = 0; j <= last; j++) { row[j] = MathF.Exp(row[j] - max); sum += row[j]; }
                for (int j = 0; j <= last; j++) row[j] /= sum;
                for (int j = last + 1; j < s.KeyCount; j++) row[j] = 0f;
            });
        }
    }

    static void CheckSpans(ReadOnlySpan<float> q, int qStride, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int kvStride, AttentionShape s)
    {
        if (qStride < s.QueryHeads * s.HeadDim || kvStride < s.KvHeads * s.HeadDim) throw new ArgumentException("attention stride smaller than heads x head dim");
        if (q.Length < (long)(s.QueryCount - 1) * qStride + s.QueryHeads * s.HeadDim) throw new ArgumentException("attention queries too short");
        long kvNeed = (long)(s.KeyCount - 1) * kvStride + s.KvHeads * s.HeadDim;
        if (k.Length < kvNeed || v.Length < kvNeed) throw new ArgumentException("attention keys/values too short");
    }
}
