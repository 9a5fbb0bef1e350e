namespace TokenSieve.Numerics;

/// <summary>Rotates the heads of q/k rows by the angles of their position ids, in transformers'
/// rotate_half layout (dimension i pairs with i + D/2).</summary>
internal interface IRotaryEmbedding
{
    int HeadDim { get; }

    /// <summary>Rotates every head of every row of x [rows, stride] in place; positions[r] is row r's id.</summary>
    void Apply(ComputeContext ctx, Span<float> x, int rows, int stride, int heads, ReadOnlySpan<int> positions);
}

/// <summary>Rotary embedding whose D/2 frequencies are split into consecutive sections, section a
/// turning with coordinate a of a point instead of one position: Qwen2-VL's M-RoPE (inv_freq split
/// t | h | w by <c>mrope_section</c>) and its vision tower's 2-D rotary (frequencies [inv, inv] split
/// h | w). One section is plain RoPE. Angles are coordinate·frequency in float32 and cos/sin are
/// taken in float32, as transformers computes them (its inv_freq @ position_ids has an inner
/// dimension of 1, so each angle is one rounded product).</summary>
internal sealed unsafe class SectionedRope
{
    public int HeadDim { get; }

    /// <summary>Coordinates per point (sections).</summary>
    public int Axes { get; }

    readonly float[] _frequencies;
    readonly int[] _axisOf;

    public SectionedRope(ReadOnlySpan<float> frequencies, IReadOnlyList<int> sections)
    {
        if (frequencies.Length == 0) throw new ArgumentException("rotary: no frequencies");
        if (sections.Count == 0 || sections.Any(s => s < 0) || sections.Sum() != frequencies.Length)
            throw new ArgumentException($"rotary sections [{string.Join(",", sections)}] must be non-negative and sum to the {frequencies.Length} frequencies");
        HeadDim = 2 * frequencies.Length;
        Axes = sections.Count;
        _frequencies = frequencies.ToArray();
        _axisOf = new int[frequencies.Length];
        for (int a = 0, i = 0; a < sections.Count; a++)
            for (int k = 0; k < sections[a]; k++) _axisOf[i++] = a;
    }

    /// <summary>transformers' inv_freq = 1/θ^(2i/D) for i &lt; D/2, in float32.</summary>
    public static float[] InverseFrequencies(int headDim, float theta)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"rotary head dim must be even and positive, got {headDim}");
        var inv = new float[headDim / 2];
        for (int i = 0; i < inv.Length; i++) inv[i] = 1f / MathF.Pow(theta, (float)(2 * i) / headDim);
        return inv;
    }

    /// <summary>cos|sin rows [count, HeadDim] (cos in the first D/2 columns, sin in the rest) for
    /// <paramref name="count"/> points whose coordinate a is <paramref name="coordinates"/>[a·count + r]
    /// (axis-major, like transformers' position_ids [3, S]).</summary>
    public float[] Table(ReadOnlySpan<int> coordinates, int count)
    {
        if (coordinates.Length != count * Axes) throw new ArgumentException($"rotary: {coordinates.Length} coordinates for {count} points of {Axes} axes");
        int half = HeadDim / 2;
        var table = new float[(long)count * HeadDim];
        for (int r = 0; r < count; r++)
            for (int i = 0; i < half; i++)
            {
                float angle = coordinates[_axisOf[i] * count + r] * _frequencies[i];
                table[(long)r * HeadDim + i] = MathF.Cos(angle);
                table[(long)r * HeadDim + half + i] = MathF.Sin(angle);
            }
        return table;
    }

    /// <summary>Rotates every head of row r of x [rows, stride] by table row <paramref name="tableRows"/>[r]
    /// (row r when empty), rows spread over the context's threads.</summary>
    public static void Rotate(ComputeContext ctx, Span<float> x, int rows, int stride, int heads, int headDim, ReadOnlySpan<float> table, ReadOnlySpan<int> tableRows = default)
    {
        if (stride < heads * headDim || x.Length < (long)(rows - 1) * stride + heads * headDim)
            throw new ArgumentException($"rotary: buffer of {x.Length} values with stride {stride} too small for {rows} rows of {heads} heads x {headDim}", nameof(x));
        int tableCount = table.Length / headDim;
        if (!tableRows.IsEmpty && tableRows.Length < rows) throw new ArgumentException($"rotary: {tableRows.Length} table rows for {rows} rows");
        for (int r = 0; r < rows; r++)
        {
            int t = tableRows.IsEmpty ? r : tableRows[r];
            if ((uint)t >= (uint)tableCount) throw new ArgumentOutOfRangeException(nameof(tableRows), $"rotary: row {r} asks for table row {t} of {tableCount}");
        }
        int half = headDim / 2;
        fixed (float* px = x, pt = table)
        fixed (int* pr = tableRows)
        {
            float* xp = px, tp = pt;
            int* map = tableRows.IsEmpty ? null : pr;
            int perTask = Math.Max(1, 8192 / Math.Max(1, heads * headDim));
            int tasks = (rows + perTask - 1) / perTask;
            ctx.For(tasks, task =>
            {
                int r1 = Math.Min(rows, (task + 1) * perTask);
                for (int r = task * perTask; r < r1; r++)
                {
                    float* cs = tp + (long)(map is null ? r : map[r]) * headDim;
                    for (int h = 0; h < heads; h++) Rope.RotateHead(xp + (long)r * stride + h * headDim, cs, cs + half, half);
                }
            });
        }
    }
}

/// <summary>M-RoPE for one prompt (Qwen2-VL): prompt row p &lt; <see cref="PromptLength"/> turns by its
/// own 3-D position (t, h, w); an id p ≥ PromptLength, a token appended after the prompt, sits at
/// p + <see cref="Delta"/> on every axis (transformers' rope_deltas), which is plain RoPE there.
/// Position ids are prompt row indices, so a pruned sequence that keeps original ids keeps each
/// token's original 3-D position.</summary>
internal sealed class MultimodalRope : IRotaryEmbedding
{
    readonly SectionedRope _rope;
    readonly int[] _coordinates;
    readonly float[] _table;

    public int HeadDim => _rope.HeadDim;

    public int PromptLength { get; }

    public int Delta { get; }

    /// <param name="coordinates">axis-major [axes, promptLength] positions</param>
    public MultimodalRope(SectionedRope rope, int[] coordinates, int promptLength, int delta)
    {
        _rope = rope;
        _coordinates = coordinates;
        PromptLength = promptLength;
        Delta = delta;
        _table = rope.Table(coordinates, promptLength);
    }

    public void Apply(ComputeContext ctx, Span<float> x, int rows, int stride, int heads, ReadOnlySpan<int> positions)
    {
        if (positions.Length < rows) throw new ArgumentException($"M-RoPE: {positions.Length} positions for {rows} rows", nameof(positions));
        bool prompt = true;
        for (int r = 0; r < rows; r++)
        {
            if (positions[r] < 0) throw new ArgumentOutOfRangeException(nameof(positions), $"M-RoPE: negative position {positions[r]} at row {r}");
            if (positions[r] >= PromptLength) prompt = false;
        }
        if (prompt)
        {
            SectionedRope.Rotate(ctx, x, rows, stride, heads, HeadDim, _table, positions[..rows]);
            return;
        }
        int axes = _rope.Axes;
        var coordinates = new int[rows * axes];
        for (int r = 0; r < rows; r++)
        {
            int p = positions[r];
            for (int a = 0; a < axes; a++) coordinates[a * rows + r] = p < PromptLength ? _coordinates[a * PromptLength + p] : p + Delta;
        }
        SectionedRope.Rotate(ctx, x, rows, stride, heads, HeadDim, _rope.Table(coordinates, rows));
    }
}
