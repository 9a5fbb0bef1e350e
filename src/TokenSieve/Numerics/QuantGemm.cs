using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenSieve.Numerics;

/// <summary>y = x·Wᵀ for weights in a GGML block type (<see cref="QuantFormats"/>).</summary>
/// <remarks>
/// Decode (M ≤ <see cref="Gemm.GemvMaxRows"/>) with Q8_0 / Q4_0 weights takes integer dot products, as llama.cpp
/// does: each activation row is quantised once per call to int8 blocks of 32 with a float32 scale (round to
/// nearest even), every weight block is multiplied with its activation block in int32 (AVX-VNNI's vpdpbusd where the
/// CPU has it, vpmaddubsw + vpmaddwd on AVX2, a scalar loop otherwise), and the block's int32 sum enters a float32
/// accumulator times d_w·d_x. vpdpbusd multiplies unsigned by signed bytes: Q4_0's nibbles are the unsigned side
/// (their −8 offset is applied once per block as −8·d_w·d_x·Σq_x), and for Q8_0 the weights' magnitudes are, with
/// the weights' signs moved onto the activations (vpsignb). The weights' F16 scales are widened eight at a time with
/// a gather. The block types with 256-element super-blocks (Q4_K, Q6_K), and every type in prefill, widen weight tiles
/// to float32 (<see cref="QuantFormats.DequantizeRow"/>) and run the float32 GEMM.
/// </remarks>
internal static unsafe class QuantGemm
{
    const int Block = 32;
    /// <summary>Weight rows per GEMV task (a contiguous slab of W per task, enough tasks to balance).</summary>
    const int GemvTaskRows = 32;

    [ThreadStatic] static NativeScratch? t_activations;
    [ThreadStatic] static NativeScratch? t_row;

    /// <summary>True where the integer path serves <paramref name="type"/> at inner size <paramref name="k"/>.</summary>
    public static bool HasIntegerPath(DType type, int k) => type is DType.Q8_0 or DType.Q4_0 && k % Block == 0;

    public static void Multiply(ComputeContext ctx, float* x, int m, int k, void* w, DType wType, int n, float* bias, float* y)
    {
        if (m > Gemm.GemvMaxRows)
        {
            Gemm.BlockedOrReference(ctx, x, m, k, w, wType, n, bias, y);
            return;
        }
        if (HasIntegerPath(wType, k)) GemvInteger(ctx, x, m, k, (byte*)w, wType, n, bias, y);
        else GemvWidened(ctx, x, m, k, (byte*)w, wType, n, bias, y);
    }

    // ---------------------------------------------------------------- activation quantisation

    /// <summary>An activation row as int8 blocks: q[K] (bytes), then per block its scale d and −8·d·Σq (the Q4_0
    /// offset term), all float32.</summary>
    readonly struct QuantizedRows
    {
        public readonly sbyte* Q;
        public readonly float* Scale;
        public readonly float* Offset;
        public readonly int K, Blocks;

        public QuantizedRows(float* scratch, int m, int k)
        {
            K = k;
            Blocks = k / Block;
            Q = (sbyte*)scratch;
            Scale = scratch + (long)m * k / 4;
            Offset = Scale + (long)m * Blocks;
        }

        public sbyte* RowQ(int i) => Q + (long)i * K;
        public float* RowScale(int i) => Scale + (long)i * Blocks;
        public float* RowOffset(int i) => Offset + (long)i * Blocks;
        public static long Floats(int m, int k) => (long)m * k / 4 + 2L * m * (k / Block);
    }

    /// <summary>Quantises one row of k values (k a multiple of 32): d = max|x|/127, q = round-to-even(x/d).</summary>
    internal static void QuantizeActivations(float* x, int k, sbyte* q, float* scale, float* offset)
    {
        for (int b = 0; b < k / Block; b++)
        {
            float* xb = x + b * Block;
            sbyte* qb = q + b * Block;
            float amax;
            if (Avx512F.IsSupported)
            {
                var lo = Vector512.Load(xb);
                var hi = Vector512.Load(xb + 16);
                var m = Vector512.Max(Vector512.Abs(lo), Vector512.Abs(hi));
                var m256 = Vector256.Max(m.GetLower(), m.GetUpper());
                var m128 = Vector128.Max(m256.GetLower(), m256.GetUpper());
                m128 = Vector128.Max(m128, Vector128.Shuffle(m128, Vector128.Create(2, 3, 0, 1)));
                m128 = Vector128.Max(m128, Vector128.Shuffle(m128, Vector128.Create(1, 0, 3, 2)));
                amax = m128.ToScalar();
                float d = amax / 127f;
                var id = Vector512.Create(d != 0f ? 1f / d : 0f);
                var q0 = Avx512F.ConvertToVector512Int32(lo * id);
                var q1 = Avx512F.ConvertToVector512Int32(hi * id);
                Avx512F.ConvertToVector128SByte(q0).Store(qb);
                Avx512F.ConvertToVector128SByte(q1).Store(qb + 16);
                scale[b] = d;
                offset[b] = -8f * d * Vector512.Sum(q0 + q1);
                continue;
            }
            amax = 0f;
            for (int j = 0; j < Block; j++) amax = MathF.Max(amax, MathF.Abs(xb[j]));
            float ds = amax / 127f, ids = ds != 0f ? 1f / ds : 0f;
            int sum = 0;
            for (int j = 0; j < Block; j++)
            {
                int v = (int)MathF.Round(xb[j] * ids, MidpointRounding.ToEven);
                qb[j] = (sbyte)v;
                sum += v;
            }
            scale[b] = ds;
            offset[b] = -8f * ds * sum;
        }
    }

    // ---------------------------------------------------------------- integer GEMV (Q8_0, Q4_0)

    static void GemvInteger(ComputeContext ctx, float* x, int m, int k, byte* w, DType wType, int n, float* bias, float* y)
    {
        var qx = new QuantizedRows((t_activations ??= new NativeScratch()).Get(QuantizedRows.Floats(m, k)), m, k);
        for (int i = 0; i < m; i++) QuantizeActivations(x + (long)i * k, k, qx.RowQ(i), qx.RowScale(i), qx.RowOffset(i));
        long rowBytes = DTypes.ByteCount(wType, k);
        int tasks = (n + GemvTaskRows - 1) / GemvTaskRows;
        ctx.For(tasks, t =>
        {
            int j0 = t * GemvTaskRows, j1 = Math.Min(n, j0 + GemvTaskRows);
            for (int j = j0; j < j1; j++)
            {
                byte* row = w + j * rowBytes;
                float b = bias == null ? 0f : bias[j];
                for (int i = 0; i < m; i++)
                    y[(long)i * n + j] = b + (wType == DType.Q8_0
                        ? DotQ8_0(row, qx.RowQ(i), qx.RowScale(i), qx.Blocks)
                        : DotQ4_0(row, qx.RowQ(i), qx.RowScale(i), qx.RowOffset(i), qx.Blocks));
            }
        });
    }

    /// <summary>The F16 scales of eight consecutive blocks (each block's first two bytes) as float32, by one gather.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Scales8(byte* firstBlock, Vector256<int> offsets) =>
        WeightConversion.HalfToSingle256(Vector256.Narrow(Avx2.GatherVector256((int*)firstBlock, offsets, 1).AsUInt32() & Vector256.Create(0xFFFFu), default).GetLower());

    /// <summary>Lane <paramref name="lane"/> of <paramref name="v"/> in every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Lane(Vector256<float> v, int lane) => Avx2.PermuteVar8x32(v, Vector256.Create(lane));

    /// <summary>Σ_b d_w[b]·d_x[b]·Σ_j w[b,j]·q_x[b,j] for one Q8_0 row. Eight blocks at a time: their scales by one
    /// gather, multiplied by the activation scales, each block's int32 sums times its lane of that vector; the row
    /// streams once, prefetched <see cref="Gemm.GemvPrefetchBytes"/> ahead.</summary>
    internal static float DotQ8_0(byte* row, sbyte* qx, float* dx, int blocks)
    {
        const int bb = QuantFormats.Q8_0BlockBytes;
        int b = 0;
        float sum = 0f;
        byte* p = row;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var offsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * bb;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; b + 8 <= blocks; b += 8, p += 8 * bb, qx += 256)
            {
                if (Sse.IsSupported)
                    for (int l = 0; l < 8 * bb; l += 64) Sse.Prefetch0(p + Gemm.GemvPrefetchBytes + l);
                var s = Scales8(p, offsets) * Vector256.Load(dx + b);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + 2, qx)), Lane(s, 0), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + bb + 2, qx + 32)), Lane(s, 1), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + 2 * bb + 2, qx + 64)), Lane(s, 2), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + 3 * bb + 2, qx + 96)), Lane(s, 3), a3);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + 4 * bb + 2, qx + 128)), Lane(s, 4), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + 5 * bb + 2, qx + 160)), Lane(s, 5), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + 6 * bb + 2, qx + 192)), Lane(s, 6), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + 7 * bb + 2, qx + 224)), Lane(s, 7), a3);
            }
            for (; b < blocks; b++, p += bb, qx += 32)
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ8(p + 2, qx)), Vector256.Create(QuantFormats.HalfToSingle(*(ushort*)p) * dx[b]), a0);
            return Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; b < blocks; b++, p += bb, qx += 32)
        {
            int dot = 0;
            for (int j = 0; j < Block; j++) dot += ((sbyte*)(p + 2))[j] * qx[j];
            sum += QuantFormats.HalfToSingle(*(ushort*)p) * dx[b] * dot;
        }
        return sum;
    }

    /// <summary>Eight int32 partial sums of one Q8_0 block with its int8 activations: |w| (unsigned) times x with w's sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> DotBlockQ8(byte* wq, sbyte* xq)
    {
        var wv = Vector256.Load((sbyte*)wq);
        var magnitude = Avx2.Abs(wv);
        var signed = Avx2.Sign(Vector256.Load(xq), wv);
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, magnitude, signed);
        // |w| ≤ 128 and |x| ≤ 127: each pair sum is at most 2·128·127 = 32512, inside int16.
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(magnitude, signed), Vector256.Create((short)1));
    }

    /// <summary>Σ_b d_w[b]·(d_x[b]·Σ_j nibble[b,j]·q_x[b,j] + offset[b]) for one Q4_0 row, offset[b] = −8·d_x[b]·Σ_j q_x[b,j]
    /// (the nibbles' −8, applied once per block). Structured as <see cref="DotQ8_0"/>.</summary>
    internal static float DotQ4_0(byte* row, sbyte* qx, float* dx, float* offset, int blocks)
    {
        const int bb = QuantFormats.Q4_0BlockBytes;
        int b = 0;
        float sum = 0f;
        byte* p = row;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var offsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * bb;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, corr = default;
            for (; b + 8 <= blocks; b += 8, p += 8 * bb, qx += 256)
            {
                if (Sse.IsSupported)
                    for (int l = 0; l < 8 * bb; l += 64) Sse.Prefetch0(p + Gemm.GemvPrefetchBytes + l);
                var d = Scales8(p, offsets);
                var s = d * Vector256.Load(dx + b);
                corr = Fma.MultiplyAdd(d, Vector256.Load(offset + b), corr);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + 2, qx)), Lane(s, 0), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + bb + 2, qx + 32)), Lane(s, 1), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + 2 * bb + 2, qx + 64)), Lane(s, 2), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + 3 * bb + 2, qx + 96)), Lane(s, 3), a3);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + 4 * bb + 2, qx + 128)), Lane(s, 4), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + 5 * bb + 2, qx + 160)), Lane(s, 5), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + 6 * bb + 2, qx + 192)), Lane(s, 6), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + 7 * bb + 2, qx + 224)), Lane(s, 7), a3);
            }
            for (; b < blocks; b++, p += bb, qx += 32)
            {
                float d = QuantFormats.HalfToSingle(*(ushort*)p);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(DotBlockQ4(p + 2, qx)), Vector256.Create(d * dx[b]), a0);
                sum += d * offset[b];
            }
            return Vector256.Sum((a0 + a1) + (a2 + a3)) + Vector256.Sum(corr) + sum;
        }
        for (; b < blocks; b++, p += bb, qx += 32)
        {
            int dot = 0;
            for (int j = 0; j < 16; j++) dot += (p[2 + j] & 15) * qx[j] + (p[2 + j] >> 4) * qx[j + 16];
            float d = QuantFormats.HalfToSingle(*(ushort*)p);
            sum += d * dx[b] * dot + d * offset[b];
        }
        return sum;
    }

    /// <summary>A Q4_0 block's 16 bytes as 32 unsigned nibbles, low nibbles (the block's first half) first. With
    /// AVX-512BW the bytes are broadcast to both halves by the load and shifted by 0 and 4 in one variable shift.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Nibbles(byte* qs)
    {
        if (Avx512BW.VL.IsSupported)
            return Avx512BW.VL.ShiftRightLogicalVariable(Avx2.BroadcastVector128ToVector256(qs).AsUInt16(),
                Vector256.Create(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, (ushort)4)).AsByte() & Vector256.Create((byte)15);
        var v = Vector128.Load(qs);
        return Vector256.Create(v, (v.AsUInt16() >>> 4).AsByte()) & Vector256.Create((byte)15);
    }

    /// <summary>Eight int32 partial sums of one Q4_0 block's nibbles (0..15) with its activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> DotBlockQ4(byte* qs, sbyte* xq)
    {
        var nibbles = Nibbles(qs);
        var xv = Vector256.Load(xq);
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, nibbles, xv);
        // nibble ≤ 15, |x| ≤ 127: pair sums ≤ 3810, inside int16.
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(nibbles, xv), Vector256.Create((short)1));
    }

    /// <summary>Scalar reference of the integer path: the activations quantised by the scalar rule, then for each
    /// block the exact integer dot product times d_w·d_x, summed in block order in float32.</summary>
    internal static void ReferenceInteger(float* x, int m, int k, byte* w, DType wType, int n, float* bias, float* y)
    {
        int blocks = k / Block;
        var q = new sbyte[k];
        var dx = new float[blocks];
        var offset = new float[blocks];
        long rowBytes = DTypes.ByteCount(wType, k);
        Span<int> wq = stackalloc int[Block];
        for (int i = 0; i < m; i++)
        {
            fixed (sbyte* pq = q)
            fixed (float* pd = dx, po = offset)
            {
                // The scalar branch of QuantizeActivations is the rule; run it whatever the CPU.
                for (int b = 0; b < blocks; b++)
                {
                    float* xb = x + (long)i * k + b * Block;
                    float amax = 0f;
                    for (int j = 0; j < Block; j++) amax = MathF.Max(amax, MathF.Abs(xb[j]));
                    float d = amax / 127f, id = d != 0f ? 1f / d : 0f;
                    int s = 0;
                    for (int j = 0; j < Block; j++)
                    {
                        int v = (int)MathF.Round(xb[j] * id, MidpointRounding.ToEven);
                        pq[b * Block + j] = (sbyte)v;
                        s += v;
                    }
                    pd[b] = d;
                    po[b] = -8f * d * s;
                }
                for (int j = 0; j < n; j++)
                {
                    byte* row = w + j * rowBytes;
                    float sum = 0f;
                    for (int b = 0; b < blocks; b++)
                    {
                        byte* block = row + b * DTypes.BlockBytes(wType);
                        float dw = QuantFormats.BlockValues(block, wType, wq);
                        int dot = 0;
                        for (int e = 0; e < Block; e++) dot += wq[e] * pq[b * Block + e];
                        sum += dw * pd[b] * dot;
                    }
                    y[(long)i * n + j] = sum + (bias == null ? 0f : bias[j]);
                }
            }
        }
    }

    // ---------------------------------------------------------------- widened GEMV (K-quants, odd K)

    /// <summary>Each weight row widened to float32 in a per-thread buffer, then dotted with every x row.</summary>
    static void GemvWidened(ComputeContext ctx, float* x, int m, int k, byte* w, DType wType, int n, float* bias, float* y)
    {
        long rowBytes = DTypes.ByteCount(wType, k);
        int tasks = (n + GemvTaskRows - 1) / GemvTaskRows;
        ctx.For(tasks, t =>
        {
            int j0 = t * GemvTaskRows, j1 = Math.Min(n, j0 + GemvTaskRows);
            float* wide = (t_row ??= new NativeScratch()).Get(k);
            for (int j = j0; j < j1; j++)
            {
                QuantFormats.DequantizeRow(w + j * rowBytes, wType, 0, k, wide);
                float b = bias == null ? 0f : bias[j];
                for (int i = 0; i < m; i++) y[(long)i * n + j] = Gemm.Dot(x + (long)i * k, wide, k) + b;
            }
        });
    }
}
