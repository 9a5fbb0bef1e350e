using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Numerics;

public unsafe class AttentionTests
{
    public static TheoryData<int, int, int, int, int, bool> Shapes => new()
    {
        // queries, keys, query heads, kv heads, head dim, causal
        { 1, 1, 1, 1, 16, false },
        { 5, 5, 2, 1, 16, true },          // GQA group 2
        { 37, 50, 4, 1, 32, true },        // KV-cache offset 13, group 4
        { 70, 70, 4, 4, 64, false },       // group 1, query block tail
        { 33, 97, 8, 2, 128, true },       // offset 64, crosses key blocks with a diagonal mask
        { 65, 130, 2, 2, 80, false },      // head dim 80: one 64-wide and one 16-wide value chunk
        { 20, 23, 2, 1, 24, true },        // head dim not a multiple of 16: scalar path
        { 1, 300, 4, 2, 64, true },        // one decode query against a long cache
    };

    static (float[] q, float[] k, float[] v, AttentionShape s, int qStride, int kvStride) Make(int nq, int nk, int qh, int kvh, int d, bool causal)
    {
        // Strides wider than heads·d: the model passes slices of a fused qkv buffer.
        int qStride = qh * d + 3, kvStride = kvh * d + 5;
        var s = new AttentionShape(nq, nk, qh, kvh, d, 1f / MathF.Sqrt(d), causal);
        // Scale 3 makes the softmax peaky enough that the online max really is rescaled.
        return (TestData.Random(nq * qStride, 11, 3f), TestData.Random(nk * kvStride, 12, 3f), TestData.Random(nk * kvStride, 13), s, qStride, kvStride);
    }

    /// <summary>Tolerance: outputs are convex combinations of values in [−1,1]; the fused kernel differs from the
    /// serial reference only in summation order and in its vector exp (≤ 2 ulp), so ~1e-6 absolute is expected.
    /// 3e-6 + 1e-5 relative leaves margin and still catches a dropped key (weights ≳ 1e-3 here).</summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesSerialReferenceAndMaterialisedSoftmax(int nq, int nk, int qh, int kvh, int d, bool causal)
    {
        var (q, k, v, s, qStride, kvStride) = Make(nq, nk, qh, kvh, d, causal);
        int outStride = qh * d + 1;
        var expected = new float[nq * outStride];
        fixed (float* pq = q, pk = k, pv = v, pe = expected)
            Attention.ForwardReference(ComputeContext.SingleThread, pq, qStride, pk, pv, kvStride, pe, outStride, s);

        // Independent check: softmax rows materialised in double, times V.
        var materialised = new float[nq * outStride];
        for (int i = 0; i < nq; i++)
            for (int h = 0; h < qh; h++)
            {
                int g = h / s.GroupSize, last = s.LastVisibleKey(i);
                var logits = new double[last + 1];
                for (int j = 0; j <= last; j++)
                {
                    double dot = 0;
                    for (int t = 0; t < d; t++) dot += (double)q[i * qStride + h * d + t] * k[j * kvStride + g * d + t];
                    logits[j] = dot * s.Scale;
                }
                double max = logits.Max(), sum = logits.Sum(x => Math.Exp(x - max));
                for (int t = 0; t < d; t++)
                {
                    double o = 0;
                    for (int j = 0; j <= last; j++) o += Math.Exp(logits[j] - max) / sum * v[j * kvStride + g * d + t];
                    materialised[i * outStride + h * d + t] = (float)o;
                }
            }
        TestData.AssertClose(materialised, expected, 3e-6, 1e-5, "serial reference vs double");

        float[]? first = null;
        foreach (int threads in new[] { 1, 2 })
        {
            var output = new float[nq * outStride];
            Attention.Forward(new ComputeContext(threads), q, qStride, k, v, kvStride, output, outStride, s);
            TestData.AssertClose(expected, output, 3e-6, 1e-5, $"fused attention, {threads} thread(s)");
            if (first == null) first = output;
            else Assert.Equal(first, output);
            // Eager attention materialises the probabilities and multiplies by V as products: the
            // same values up to float32 summation order (same bound as the fused kernel).
            var eager = new float[nq * outStride];
            Attention.Forward(new ComputeContext(threads, AttentionMode.Eager), q, qStride, k, v, kvStride, eager, outStride, s);
            TestData.AssertClose(expected, eager, 3e-6, 1e-5, $"eager attention, {threads} thread(s)");
        }
    }

    /// <summary>Row taps must equal the reference softmax rows up to float32 rounding: a logit error δ becomes a
    /// relative probability error ≈ δ, and the dot products here (|q·k| summed over up to 128 terms of size ≤ 9,
    /// times scale ≈ 0.09) round differently by up to ~4e-6 between vector and serial order. Hence 1e-5 relative
    /// (+1e-8 absolute for tiny probabilities); a wrong key, mask or normalisation is off by far more.</summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void RowProbabilitiesEqualMaterialisedSoftmax(int nq, int nk, int qh, int kvh, int d, bool causal)
    {
        var (q, k, _, s, qStride, kvStride) = Make(nq, nk, qh, kvh, d, causal);
        int[] rows = nq == 1 ? [0] : [0, nq - 1, nq / 2];
        var expected = new float[rows.Length * qh * nk];
        fixed (float* pq = q, pk = k, pe = expected)
            Attention.RowProbabilitiesReference(pq, qStride, pk, kvStride, rows, s, pe);
        foreach (int threads in new[] { 1, 2 })
        {
            var got = new float[rows.Length * qh * nk];
            got.AsSpan().Fill(float.NaN);
            Attention.RowProbabilities(new ComputeContext(threads), q, qStride, k, kvStride, rows, s, got);
            TestData.AssertClose(expected, got, 1e-8, 1e-5, "row tap");
            for (int r = 0; r < rows.Length; r++)
                for (int h = 0; h < qh; h++)
                {
                    double total = 0;
                    for (int j = 0; j < nk; j++) total += got[(r * qh + h) * nk + j];
                    Assert.InRange(total, 1 - 1e-5, 1 + 1e-5);
                }
        }
    }

    [Fact]
    public void ShapeValidation()
    {
        Assert.Throws<ArgumentException>(() => new AttentionShape(4, 3, 2, 1, 16, 1f, true).Validate());
        Assert.Throws<ArgumentException>(() => new AttentionShape(4, 4, 3, 2, 16, 1f, false).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            Attention.RowProbabilities(ComputeContext.Default, new float[16], 16, new float[16], 16, [1], new AttentionShape(1, 1, 1, 1, 16, 1f, false), new float[1]));
    }
}
