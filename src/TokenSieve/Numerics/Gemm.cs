using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenSieve.Numerics;

/// <summary>Matrix products with float32 accumulation.</summary>
/// <remarks>
/// Both operands of y = x·Wᵀ are contiguous along K, so one of them must be transposed into a
/// k-major panel. We transpose the activations, not the weights: x is packed once per call and
/// reused by every weight row, while W (the big operand) is only widened to float32 with straight
/// vector conversions, one cache-sized block at a time, and read by the microkernel as broadcasts.
/// The microkernel therefore vectorises along M: it keeps an 8 (weight rows) × 48 (x rows, three
/// 16-lane vectors) tile of yᵀ in 24 registers. Partial sums over K blocks accumulate in a per-task
/// yᵀ scratch tile that is transposed into y (plus bias) once at the end.
/// Every output element is summed in the same order (K blocks of <see cref="KBlock"/>, FMA along k)
/// whichever thread or tile computes it, so results do not depend on the thread count.
/// M ≤ <see cref="GemvMaxRows"/> (decoding) takes a separate bandwidth-bound path that streams W once
/// (Gemv.cs: the matrix-vector product and its dot kernels).
/// </remarks>
internal static unsafe partial class Gemm
{
    /// <summary>Weight rows per microkernel tile.</summary>
    const int TileRows = 8;
    /// <summary>K elements per block: the x panel slice (48·KBlock floats = 24 KiB) stays in L1 while every tile of the task reads it.</summary>
    const int KBlock = 128;
    /// <summary>Most weight rows one task owns (its converted W block is MaxTaskRows·KBlock floats).</summary>
    const int MaxTaskRows = 128;
    /// <summary>Up to this many rows, Linear is a matrix-vector product limited by reading W.</summary>
    public const int GemvMaxRows = 4;

    [ThreadStatic] static NativeScratch? t_packedX;
    [ThreadStatic] static NativeScratch? t_weights;
    [ThreadStatic] static NativeScratch? t_tile;

    /// <summary>y[M,N] = x[M,K]·Wᵀ + bias, W stored [N,K] in its own dtype (a PyTorch Linear).
    /// <paramref name="bias"/> may be empty. <paramref name="y"/> must not alias <paramref name="x"/>.</summary>
    public static void Linear(ComputeContext ctx, ReadOnlySpan<float> x, int m, WeightMatrix w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int k = w.Cols, n = w.Rows;
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), $"Linear '{w.Name}': negative row count {m}");
        if (x.Length < (long)m * k) throw new ArgumentException($"Linear '{w.Name}': input has {x.Length} values, need {m}x{k}", nameof(x));
        if (y.Length < (long)m * n) throw new ArgumentException($"Linear '{w.Name}': output has {y.Length} values, need {m}x{n}", nameof(y));
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException($"Linear '{w.Name}': bias has {bias.Length} values, need {n}", nameof(bias));
        if (m == 0) return;
        fixed (float* px = x, py = y, pb = bias)
            Multiply(ctx, px, m, k, (void*)w.Pointer, w.DType, n, bias.IsEmpty ? null : pb, py);
    }

    /// <summary>c[M,N] = a[M,K]·b[N,K]ᵀ for float32 activations (similarities, attention rows).</summary>
    public static void MatMulTransposed(ComputeContext ctx, ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"MatMulTransposed: negative size [{m},{k}]x[{n},{k}]^T");
        if (a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n)
            throw new ArgumentException($"MatMulTransposed: spans too short for [{m},{k}]x[{n},{k}]^T");
        if (m == 0 || n == 0) return;
        if (k == 0) { c[..(m * n)].Clear(); return; }
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (m <= GemvMaxRows || !Vector256.IsHardwareAccelerated || !Fma.IsSupported)
            {
                Multiply(ctx, pa, m, k, pb, DType.F32, n, null, pc);
                return;
            }
            // A few rows past a whole number of vectors (PruMerge's 33 centres, 577 CLIP tokens) would
            // pad a panel to a full vector, up to 15 lanes of wasted work over all of b: the blocked
            // product takes the whole vectors and the matrix-vector path (one pass over b) the rest.
            int tail = m % VectorWidth;
            if (tail > GemvMaxRows) tail = 0;
            Blocked(ctx, pa, m - tail, k, pb, DType.F32, n, null, pc, prefetch: false);
            if (tail > 0) Gemv(ctx, pa + (long)(m - tail) * k, tail, k, pb, DType.F32, n, null, pc + (long)(m - tail) * n);
        }
    }

    /// <summary>y[M,N] = x[M,K]·Wᵀ (+ bias) with W [N,K] of <paramref name="wType"/> at <paramref name="w"/>.</summary>
    public static void Multiply(ComputeContext ctx, float* x, int m, int k, void* w, DType wType, int n, float* bias, float* y)
    {
        if (DTypes.IsQuantized(wType))
        {
            QuantGemm.Multiply(ctx, x, m, k, w, wType, n, bias, y);
            return;
        }
        if (!Vector256.IsHardwareAccelerated || !Fma.IsSupported)
        {
            Reference(x, m, k, w, wType, n, bias, y);
            return;
        }
        if (m <= GemvMaxRows) Gemv(ctx, x, m, k, w, wType, n, bias, y);
        else Blocked(ctx, x, m, k, w, wType, n, bias, y);
    }

    /// <summary>The blocked GEMM (any M), or the scalar reference where the CPU has no FMA vectors.</summary>
    internal static void BlockedOrReference(ComputeContext ctx, float* x, int m, int k, void* w, DType wType, int n, float* bias, float* y)
    {
        if (!Vector256.IsHardwareAccelerated || !Fma.IsSupported) Reference(x, m, k, w, wType, n, bias, y);
        else Blocked(ctx, x, m, k, w, wType, n, bias, y);
    }

    /// <summary>Scalar reference (float32 accumulation in k order).</summary>
    internal static void Reference(float* x, int m, int k, void* w, DType wType, int n, float* bias, float* y)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float sum = 0f;
                for (int p = 0; p < k; p++) sum += x[(long)i * k + p] * WeightConversion.ToSingleReference(w, wType, (long)j * k + p);
                y[(long)i * n + j] = sum + (bias == null ? 0f : bias[j]);
            }
    }

    // ---------------------------------------------------------------- blocked GEMM

    static int VectorWidth => Vector512.IsHardwareAccelerated ? 16 : 8;

    /// <summary>How x rows are cut into k-major panels: widths of 3 vectors, the last one padded to a whole
    /// vector; a trailing single vector after a full panel is rebalanced into two 2-vector panels (M = 64, 640)
    /// because the 1-vector microkernel is the slowest.</summary>
    readonly struct PanelLayout
    {
        public readonly int[] Start;
        public readonly int[] Width;
        public int Count => Width.Length;
        public long PaddedRows => Start[^1] + Width[^1];

        public PanelLayout(int m, int lanes)
        {
            int full = 3 * lanes;
            int count = (m + full - 1) / full;
            var widths = new int[count];
            for (int p = 0; p < count; p++) widths[p] = full;
            widths[^1] = RoundUp(m - (count - 1) * full, lanes);
            if (count >= 2 && widths[^1] == lanes)
            {
                widths[^2] = 2 * lanes;
                widths[^1] = 2 * lanes;
            }
            Width = widths;
            Start = new int[count];
            for (int p = 1; p < count; p++) Start[p] = Start[p - 1] + widths[p - 1];
        }
    }

    /// <param name="prefetch">Software-prefetch the next blocks of W and x. On for model weights,
    /// which stream from memory; off for products of activations (similarities), whose operands
    /// are already in cache: there the prefetch instructions only cost issue slots (PruMerge+'s
    /// 139×1024×576 similarity: 0.97 → 0.90 ms).</param>
    static void Blocked(ComputeContext ctx, float* x, int m, int k, void* w, DType wType, int n, float* bias, float* y, bool prefetch = true)
    {
        int lanes = VectorWidth;
        var layout = new PanelLayout(m, lanes);
        int panels = layout.Count;

        float* xp = (t_packedX ??= new NativeScratch()).Get(layout.PaddedRows * k);
        ctx.For(panels, p => PackPanel(x, m, k, layout.Start[p], layout.Width[p], xp + (long)layout.Start[p] * k));

        // Tasks: blocks of weight rows (multiples of the tile height), enough for the threads to balance;
        // small N is split along M as well.
        int tiles = (n + TileRows - 1) / TileRows;
        int tilesPerTask = Math.Min(MaxTaskRows / TileRows, Math.Max(1, tiles / (4 * ctx.Threads)));
        int nTasks = (tiles + tilesPerTask - 1) / tilesPerTask;
        int mChunks = nTasks >= 2 * ctx.Threads ? 1 : Math.Min(panels, (2 * ctx.Threads + nTasks - 1) / nTasks);
        int panelsPerChunk = (panels + mChunks - 1) / mChunks;
        mChunks = (panels + panelsPerChunk - 1) / panelsPerChunk;

        ctx.For(nTasks * mChunks, task =>
        {
            int nt = task / mChunks, mc = task % mChunks;
            int n0 = nt * tilesPerTask * TileRows, n1 = Math.Min(n, n0 + tilesPerTask * TileRows);
            int p0 = mc * panelsPerChunk, p1 = Math.Min(panels, p0 + panelsPerChunk);
            BlockedTask(xp, m, k, w, wType, n, bias, y, n0, n1, p0, p1, layout, prefetch);
        });
    }

    static int RoundUp(int v, int multiple) => (v + multiple - 1) / multiple * multiple;

    /// <summary>x rows [r0, r0+width) → k-major panel: dst[kk·width + r] = x[r0 + r, kk]; rows past M are zero.
    /// Full groups of 8 rows are read with one gather per k (row stride K) instead of 8 scalar loads.</summary>
    static void PackPanel(float* x, int m, int k, int r0, int width, float* dst)
    {
        int valid = Math.Min(width, m - r0);
        int r = 0;
        if (Avx2.IsSupported && (long)k * 7 <= int.MaxValue / 4)
        {
            var rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * Vector256.Create(k);
            for (; r + 8 <= valid; r += 8)
            {
                float* src = x + (long)(r0 + r) * k;
                float* d = dst + r;
                for (int kk = 0; kk < k; kk++, d += width)
                    Avx2.GatherVector256(src + kk, rowOffsets, 4).Store(d);
            }
        }
        const int kStep = 64;
        for (int kb = 0; kb < k; kb += kStep)
        {
            int ke = Math.Min(k, kb + kStep);
            for (int rr = r; rr < valid; rr++)
            {
                float* src = x + (long)(r0 + rr) * k;
                for (int kk = kb; kk < ke; kk++) dst[(long)kk * width + rr] = src[kk];
            }
            for (int rr = Math.Max(r, valid); rr < width; rr++)
                for (int kk = kb; kk < ke; kk++) dst[(long)kk * width + rr] = 0f;
        }
    }

    /// <summary>Walks a set of cache lines a few at a time, so the next block's data is requested from memory
    /// (into L2) while the current block computes: W blocks and x panel slices are not read sequentially
    /// enough for the hardware prefetcher to run ahead on its own.</summary>
    struct Prefetcher
    {
        byte* _base;
        long _rowStride;
        int _rows, _linesPerRow, _row, _line;

        public void Reset(void* start, long rowStrideBytes, int rows, long rowBytes)
        {
            _base = (byte*)start;
            _rowStride = rowStrideBytes;
            _rows = rows;
            _linesPerRow = (int)((rowBytes + 63) / 64);
            _row = 0;
            _line = 0;
        }

        public void Issue(int lines)
        {
            if (!Sse.IsSupported) return;
            for (int i = 0; i < lines && _row < _rows; i++)
            {
                Sse.Prefetch1(_base + _row * _rowStride + _line * 64L);
                if (++_line == _linesPerRow) { _line = 0; _row++; }
            }
        }
    }

    static void BlockedTask(float* xp, int m, int k, void* w, DType wType, int n, float* bias, float* y,
        int n0, int n1, int p0, int p1, PanelLayout layout, bool prefetch)
    {
        int rows = n1 - n0;
        int lanes = VectorWidth;
        int m0 = layout.Start[p0];
        long tileWidth = layout.Start[p1 - 1] + layout.Width[p1 - 1] - m0;
        float* wp = (t_weights ??= new NativeScratch()).Get((long)MaxTaskRows * KBlock);
        float* ct = (t_tile ??= new NativeScratch()).Get(rows * tileWidth);
        // Bytes per row; a block type's row is whole blocks, and a K block (a multiple of 128) starts on a block
        // boundary or, for 256-weight super-blocks, on one of their 128-weight halves.
        long rowBytes = DTypes.ByteCount(wType, k);
        bool quantized = DTypes.IsQuantized(wType);
        int tileCount = (rows + TileRows - 1) / TileRows;
        int callsPerBlock = (p1 - p0) * tileCount;
        var nextW = new Prefetcher();
        var nextX = new Prefetcher();

        for (int pc = 0; pc < k; pc += KBlock)
        {
            int kc = Math.Min(KBlock, k - pc);
            // F32 weights are read in place (row stride K); F16/BF16 are widened into the block buffer (stride kc).
            float* wBlock;
            long ldw;
            if (wType == DType.F32)
            {
                wBlock = (float*)w + (long)n0 * k + pc;
                ldw = k;
            }
            else
            {
                for (int r = 0; r < rows; r++)
                {
                    byte* row = (byte*)w + (n0 + r) * rowBytes;
                    if (quantized) QuantFormats.DequantizeRow(row, wType, pc, kc, wp + (long)r * kc);
                    else WeightConversion.ToSingle(row + pc * rowBytes / k, wType, wp + (long)r * kc, kc);
                }
                wBlock = wp;
                ldw = kc;
            }
            int nextPc = pc + KBlock;
            int nextKc = Math.Min(KBlock, k - nextPc);
            long nextBytes = nextKc > 0 ? nextKc * rowBytes / k : 0;
            if (nextKc > 0)
                nextW.Reset((byte*)w + n0 * rowBytes + nextPc * rowBytes / k, rowBytes, rows, nextBytes);
            int wLinesPerCall = nextKc > 0 ? (int)((rows * ((nextBytes + 63) / 64) + callsPerBlock - 1) / callsPerBlock) : 0;
            bool accumulate = pc > 0;
            for (int p = p0; p < p1; p++)
            {
                int width = layout.Width[p];
                float* xpan = xp + (long)layout.Start[p] * k + (long)pc * width;
                float* cpan = ct + (layout.Start[p] - m0);
                // The slice the next call sequence reads: next panel at this pc, or the first panel at the next pc.
                if (p + 1 < p1) nextX.Reset(xp + (long)layout.Start[p + 1] * k + (long)pc * layout.Width[p + 1], 0, 1, (long)kc * layout.Width[p + 1] * 4);
                else if (nextKc > 0) nextX.Reset(xp + (long)layout.Start[p0] * k + (long)nextPc * layout.Width[p0], 0, 1, (long)nextKc * layout.Width[p0] * 4);
                else nextX.Reset(null, 0, 0, 0);
                int xLinesPerCall = (int)(((long)KBlock * 3 * lanes * 4 / 64 + tileCount - 1) / tileCount);
                for (int r = 0; r < rows; r += TileRows)
                {
                    if (prefetch)
                    {
                        nextX.Issue(xLinesPerCall);
                        nextW.Issue(wLinesPerCall);
                    }
                    int tr = Math.Min(TileRows, rows - r);
                    float* wt = wBlock + r * ldw;
                    float* cr = cpan + r * tileWidth;
                    if (lanes == 16) Tile512(xpan, width, wt, kc, ldw, tr, cr, tileWidth, accumulate);
                    else Tile256(xpan, width, wt, kc, ldw, tr, cr, tileWidth, accumulate);
                }
            }
        }

        // yᵀ tile → y, adding the bias: 8 consecutive outputs of a row are gathered from 8 tile rows.
        int mEnd = Math.Min(m, m0 + (int)tileWidth);
        int r0 = 0;
        if (Avx2.IsSupported && tileWidth * 7 <= int.MaxValue / 4)
        {
            var rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * Vector256.Create((int)tileWidth);
            for (; r0 + 8 <= rows; r0 += 8)
            {
                var b = bias == null ? Vector256<float>.Zero : Vector256.Load(bias + n0 + r0);
                float* src = ct + r0 * tileWidth;
                for (int i = m0; i < mEnd; i++)
                    (Avx2.GatherVector256(src + (i - m0), rowOffsets, 4) + b).Store(y + (long)i * n + n0 + r0);
            }
        }
        for (int i = m0; i < mEnd; i += 16)
        {
            int ie = Math.Min(mEnd, i + 16);
            for (int r = r0; r < rows; r++)
            {
                float b = bias == null ? 0f : bias[n0 + r];
                float* src = ct + r * tileWidth + (i - m0);
                float* dst = y + (long)i * n + n0 + r;
                for (int ii = 0; ii < ie - i; ii++) dst[(long)ii * n] = src[ii] + b;
            }
        }
    }

    static void Tile512(float* xpan, int width, float* wt, int kc, long ldw, int rows, float* c, long ldc, bool accumulate)
    {
        if (rows == TileRows && width == 48)
        {
            Kernel512x8x3(xpan, wt, kc, ldw, c, ldc, accumulate);
            return;
        }
        if (rows == TileRows && width == 32)
        {
            Kernel512x8x2(xpan, wt, kc, ldw, c, ldc, accumulate);
            return;
        }
        for (int v = 0; v < width; v += 16)
        {
            if (rows == TileRows) Kernel512x8x1(xpan + v, width, wt, kc, ldw, c + v, ldc, accumulate);
            else
                for (int r = 0; r < rows; r++)
                    Kernel512x1x1(xpan + v, width, wt + r * ldw, kc, c + v + r * ldc, accumulate);
        }
    }

    static void Tile256(float* xpan, int width, float* wt, int kc, long ldw, int rows, float* c, long ldc, bool accumulate)
    {
        int r = 0;
        if (width == 24)
            for (; r + 4 <= rows; r += 4)
                Kernel256x4x3(xpan, wt + r * ldw, kc, ldw, c + r * ldc, ldc, accumulate);
        for (; r < rows; r++)
            for (int v = 0; v < width; v += 8)
                Kernel256x1x1(xpan + v, width, wt + r * ldw, kc, c + v + r * ldc, accumulate);
    }

    /// <summary>c[r, 0..48) (+)= Σ_p w[r, p]·xpan[p, 0..48) for 8 weight rows: 24 accumulators.</summary>
    [SkipLocalsInit]
    static void Kernel512x8x3(float* xp, float* w, int kc, long ldw, float* c, long ldc, bool accumulate)
    {
        Vector512<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32,
            c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
        if (accumulate)
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 16); c02 = Vector512.Load(c + 32);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + 16); c12 = Vector512.Load(c + ldc + 32);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16); c22 = Vector512.Load(c + 2 * ldc + 32);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16); c32 = Vector512.Load(c + 3 * ldc + 32);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16); c42 = Vector512.Load(c + 4 * ldc + 32);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16); c52 = Vector512.Load(c + 5 * ldc + 32);
            c60 = Vector512.Load(c + 6 * ldc); c61 = Vector512.Load(c + 6 * ldc + 16); c62 = Vector512.Load(c + 6 * ldc + 32);
            c70 = Vector512.Load(c + 7 * ldc); c71 = Vector512.Load(c + 7 * ldc + 16); c72 = Vector512.Load(c + 7 * ldc + 32);
        }
        else
        {
            c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = Vector512<float>.Zero;
            c40 = c41 = c42 = c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 = Vector512<float>.Zero;
        }
        float* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw, w4 = w + 4 * ldw, w5 = w + 5 * ldw, w6 = w + 6 * ldw, w7 = w + 7 * ldw;
        for (int p = 0; p < kc; p++)
        {
            var x0 = Vector512.Load(xp);
            var x1 = Vector512.Load(xp + 16);
            var x2 = Vector512.Load(xp + 32);
            xp += 48;
            var b = Vector512.Create(w0[p]);
            c00 = Avx512F.FusedMultiplyAdd(x0, b, c00); c01 = Avx512F.FusedMultiplyAdd(x1, b, c01); c02 = Avx512F.FusedMultiplyAdd(x2, b, c02);
            b = Vector512.Create(w1[p]);
            c10 = Avx512F.FusedMultiplyAdd(x0, b, c10); c11 = Avx512F.FusedMultiplyAdd(x1, b, c11); c12 = Avx512F.FusedMultiplyAdd(x2, b, c12);
            b = Vector512.Create(w2[p]);
            c20 = Avx512F.FusedMultiplyAdd(x0, b, c20); c21 = Avx512F.FusedMultiplyAdd(x1, b, c21); c22 = Avx512F.FusedMultiplyAdd(x2, b, c22);
            b = Vector512.Create(w3[p]);
            c30 = Avx512F.FusedMultiplyAdd(x0, b, c30); c31 = Avx512F.FusedMultiplyAdd(x1, b, c31); c32 = Avx512F.FusedMultiplyAdd(x2, b, c32);
            b = Vector512.Create(w4[p]);
            c40 = Avx512F.FusedMultiplyAdd(x0, b, c40); c41 = Avx512F.FusedMultiplyAdd(x1, b, c41); c42 = Avx512F.FusedMultiplyAdd(x2, b, c42);
            b = Vector512.Create(w5[p]);
            c50 = Avx512F.FusedMultiplyAdd(x0, b, c50); c51 = Avx512F.FusedMultiplyAdd(x1, b, c51); c52 = Avx512F.FusedMultiplyAdd(x2, b, c52);
            b = Vector512.Create(w6[p]);
            c60 = Avx512F.FusedMultiplyAdd(x0, b, c60); c61 = Avx512F.FusedMultiplyAdd(x1, b, c61); c62 = Avx512F.FusedMultiplyAdd(x2, b, c62);
            b = Vector512.Create(w7[p]);
            c70 = Avx512F.FusedMultiplyAdd(x0, b, c70); c71 = Avx512F.FusedMultiplyAdd(x1, b, c71); c72 = Avx512F.FusedMultiplyAdd(x2, b, c72);
        }
        c00.Store(c); c01.Store(c + 16); c02.Store(c + 32);
        c10.Store(c + ldc); c11.Store(c + ldc + 16); c12.Store(c + ldc + 32);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16); c22.Store(c + 2 * ldc + 32);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16); c32.Store(c + 3 * ldc + 32);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16); c42.Store(c + 4 * ldc + 32);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16); c52.Store(c + 5 * ldc + 32);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16); c62.Store(c + 6 * ldc + 32);
        c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16); c72.Store(c + 7 * ldc + 32);
    }

    /// <summary>8 weight rows × 32 columns (two-vector panels): 16 accumulators.</summary>
    static void Kernel512x8x2(float* xp, float* w, int kc, long ldw, float* c, long ldc, bool accumulate)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (accumulate)
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 16);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + 16);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16);
            c60 = Vector512.Load(c + 6 * ldc); c61 = Vector512.Load(c + 6 * ldc + 16);
            c70 = Vector512.Load(c + 7 * ldc); c71 = Vector512.Load(c + 7 * ldc + 16);
        }
        else c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = Vector512<float>.Zero;
        float* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw, w4 = w + 4 * ldw, w5 = w + 5 * ldw, w6 = w + 6 * ldw, w7 = w + 7 * ldw;
        for (int p = 0; p < kc; p++)
        {
            var x0 = Vector512.Load(xp);
            var x1 = Vector512.Load(xp + 16);
            xp += 32;
            var b = Vector512.Create(w0[p]); c00 = Avx512F.FusedMultiplyAdd(x0, b, c00); c01 = Avx512F.FusedMultiplyAdd(x1, b, c01);
            b = Vector512.Create(w1[p]); c10 = Avx512F.FusedMultiplyAdd(x0, b, c10); c11 = Avx512F.FusedMultiplyAdd(x1, b, c11);
            b = Vector512.Create(w2[p]); c20 = Avx512F.FusedMultiplyAdd(x0, b, c20); c21 = Avx512F.FusedMultiplyAdd(x1, b, c21);
            b = Vector512.Create(w3[p]); c30 = Avx512F.FusedMultiplyAdd(x0, b, c30); c31 = Avx512F.FusedMultiplyAdd(x1, b, c31);
            b = Vector512.Create(w4[p]); c40 = Avx512F.FusedMultiplyAdd(x0, b, c40); c41 = Avx512F.FusedMultiplyAdd(x1, b, c41);
            b = Vector512.Create(w5[p]); c50 = Avx512F.FusedMultiplyAdd(x0, b, c50); c51 = Avx512F.FusedMultiplyAdd(x1, b, c51);
            b = Vector512.Create(w6[p]); c60 = Avx512F.FusedMultiplyAdd(x0, b, c60); c61 = Avx512F.FusedMultiplyAdd(x1, b, c61);
            b = Vector512.Create(w7[p]); c70 = Avx512F.FusedMultiplyAdd(x0, b, c70); c71 = Avx512F.FusedMultiplyAdd(x1, b, c71);
        }
        c00.Store(c); c01.Store(c + 16);
        c10.Store(c + ldc); c11.Store(c + ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16);
        c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16);
    }

    /// <summary>One 16-lane column of an 8-row tile (x panels narrower than 48, the M tail).</summary>
    static void Kernel512x8x1(float* xp, int width, float* w, int kc, long ldw, float* c, long ldc, bool accumulate)
    {
        Vector512<float> c0, c1, c2, c3, c4, c5, c6, c7;
        if (accumulate)
        {
            c0 = Vector512.Load(c); c1 = Vector512.Load(c + ldc); c2 = Vector512.Load(c + 2 * ldc); c3 = Vector512.Load(c + 3 * ldc);
            c4 = Vector512.Load(c + 4 * ldc); c5 = Vector512.Load(c + 5 * ldc); c6 = Vector512.Load(c + 6 * ldc); c7 = Vector512.Load(c + 7 * ldc);
        }
        else c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = Vector512<float>.Zero;
        float* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw, w4 = w + 4 * ldw, w5 = w + 5 * ldw, w6 = w + 6 * ldw, w7 = w + 7 * ldw;
        for (int p = 0; p < kc; p++)
        {
            var x0 = Vector512.Load(xp);
            xp += width;
            c0 = Avx512F.FusedMultiplyAdd(x0, Vector512.Create(w0[p]), c0);
            c1 = Avx512F.FusedMultiplyAdd(x0, Vector512.Create(w1[p]), c1);
            c2 = Avx512F.FusedMultiplyAdd(x0, Vector512.Create(w2[p]), c2);
            c3 = Avx512F.FusedMultiplyAdd(x0, Vector512.Create(w3[p]), c3);
            c4 = Avx512F.FusedMultiplyAdd(x0, Vector512.Create(w4[p]), c4);
            c5 = Avx512F.FusedMultiplyAdd(x0, Vector512.Create(w5[p]), c5);
            c6 = Avx512F.FusedMultiplyAdd(x0, Vector512.Create(w6[p]), c6);
            c7 = Avx512F.FusedMultiplyAdd(x0, Vector512.Create(w7[p]), c7);
        }
        c0.Store(c); c1.Store(c + ldc); c2.Store(c + 2 * ldc); c3.Store(c + 3 * ldc);
        c4.Store(c + 4 * ldc); c5.Store(c + 5 * ldc); c6.Store(c + 6 * ldc); c7.Store(c + 7 * ldc);
    }

    /// <summary>One weight row × one 16-lane column (the N tail).</summary>
    static void Kernel512x1x1(float* xp, int width, float* w, int kc, float* c, bool accumulate)
    {
        var acc = accumulate ? Vector512.Load(c) : Vector512<float>.Zero;
        for (int p = 0; p < kc; p++, xp += width)
            acc = Avx512F.FusedMultiplyAdd(Vector512.Load(xp), Vector512.Create(w[p]), acc);
        acc.Store(c);
    }

    /// <summary>AVX2 fallback: 4 weight rows × 24 columns, 12 accumulators (16 ymm registers).</summary>
    static void Kernel256x4x3(float* xp, float* w, int kc, long ldw, float* c, long ldc, bool accumulate)
    {
        Vector256<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
        if (accumulate)
        {
            c00 = Vector256.Load(c); c01 = Vector256.Load(c + 8); c02 = Vector256.Load(c + 16);
            c10 = Vector256.Load(c + ldc); c11 = Vector256.Load(c + ldc + 8); c12 = Vector256.Load(c + ldc + 16);
            c20 = Vector256.Load(c + 2 * ldc); c21 = Vector256.Load(c + 2 * ldc + 8); c22 = Vector256.Load(c + 2 * ldc + 16);
            c30 = Vector256.Load(c + 3 * ldc); c31 = Vector256.Load(c + 3 * ldc + 8); c32 = Vector256.Load(c + 3 * ldc + 16);
        }
        else c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = Vector256<float>.Zero;
        float* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        for (int p = 0; p < kc; p++)
        {
            var x0 = Vector256.Load(xp);
            var x1 = Vector256.Load(xp + 8);
            var x2 = Vector256.Load(xp + 16);
            xp += 24;
            var b = Vector256.Create(w0[p]);
            c00 = Fma.MultiplyAdd(x0, b, c00); c01 = Fma.MultiplyAdd(x1, b, c01); c02 = Fma.MultiplyAdd(x2, b, c02);
            b = Vector256.Create(w1[p]);
            c10 = Fma.MultiplyAdd(x0, b, c10); c11 = Fma.MultiplyAdd(x1, b, c11); c12 = Fma.MultiplyAdd(x2, b, c12);
            b = Vector256.Create(w2[p]);
            c20 = Fma.MultiplyAdd(x0, b, c20); c21 = Fma.MultiplyAdd(x1, b, c21); c22 = Fma.MultiplyAdd(x2, b, c22);
            b = Vector256.Create(w3[p]);
            c30 = Fma.MultiplyAdd(x0, b, c30); c31 = Fma.MultiplyAdd(x1, b, c31); c32 = Fma.MultiplyAdd(x2, b, c32);
        }
        c00.Store(c); c01.Store(c + 8); c02.Store(c + 16);
        c10.Store(c + ldc); c11.Store(c + ldc + 8); c12.Store(c + ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 8); c22.Store(c + 2 * ldc + 16);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 8); c32.Store(c + 3 * ldc + 16);
    }

    static void Kernel256x1x1(float* xp, int width, float* w, int kc, float* c, bool accumulate)
    {
        var acc = accumulate ? Vector256.Load(c) : Vector256<float>.Zero;
        for (int p = 0; p < kc; p++, xp += width)
            acc = Fma.MultiplyAdd(Vector256.Load(xp), Vector256.Create(w[p]), acc);
        acc.Store(c);
    }
}
