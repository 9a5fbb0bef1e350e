namespace TokenSieve.Reduction;

/// <summary>Where one output token came from: the patches (raster indices 0..N−1) and the weights
/// with which they were summed into it. <see cref="IsClassToken"/> marks VisionZip's [CLS] token,
/// which has no patches.</summary>
public sealed record TokenProvenance(int[] Patches, float[] Weights, bool IsClassToken = false)
{
    /// <summary>A token that is exactly one patch.</summary>
    public static TokenProvenance Single(int patch) => new([patch], [1f]);

    /// <summary>VisionZip's [CLS] hidden state.</summary>
    public static TokenProvenance ClassToken { get; } = new([], [], true);
}

/// <summary>How <see cref="ReductionResult.PositionGrid"/> counts patches.</summary>
public enum PositionGridMode
{
    /// <summary>How many output tokens each patch contributes to.</summary>
    Count,

    /// <summary>The sum of the weights each patch contributes with.</summary>
    Weight,

    /// <summary>1 where the patch is in <see cref="ReductionResult.KeptIndices"/> (kept as itself
    /// or as a merge centre), else 0.</summary>
    Kept,
}

/// <summary>The reduced visual tokens of one image and where each came from.</summary>
public sealed class ReductionResult
{
    /// <summary>Output tokens, row-major [TokenCount, Width].</summary>
    public required float[] Tokens { get; init; }

    public required int TokenCount { get; init; }

    /// <summary>Row width: C, or the projector width D when <see cref="AlreadyProjected"/>.</summary>
    public required int Width { get; init; }

    /// <summary>True when <see cref="Tokens"/> are projector outputs (DivPrune, pool stage=post):
    /// the pipeline must not project them again.</summary>
    public bool AlreadyProjected { get; init; }

    /// <summary>The patches kept as themselves or as merge centres, in the order the reference
    /// emits them (PruMerge: descending attention, then spatial samples; FasterVLM, random,
    /// DivPrune: ascending; VisionZip: dominant ascending, then contextual targets). Empty for
    /// methods that only average (pool, ToMe).</summary>
    public required int[] KeptIndices { get; init; }

    /// <summary>One entry per output token.</summary>
    public required TokenProvenance[] Provenance { get; init; }

    /// <summary>The score that ranked the patches (one per patch, raster order): PruMerge's and
    /// FasterVLM's [CLS] attention, VisionZip's head-summed [CLS] attention; null for methods that
    /// rank nothing (random, pooling, ToMe) or rank projected tokens by diversity (DivPrune).</summary>
    public float[]? Scores { get; init; }

    /// <summary>PruMerge(+) adaptive mode: the IQR outlier count c.</summary>
    public int? AdaptiveCount { get; init; }

    /// <summary>Set when the method departed from its reference (a documented fallback).</summary>
    public string? Note { get; init; }

    public required int GridHeight { get; init; }

    public required int GridWidth { get; init; }

    /// <summary>One output token's row.</summary>
    public ReadOnlySpan<float> Token(int i) => Tokens.AsSpan(i * Width, Width);

    /// <summary>A [GridHeight × GridWidth] raster map for overlays and position-bias statistics.</summary>
    public float[] PositionGrid(PositionGridMode mode = PositionGridMode.Count)
    {
        var grid = new float[GridHeight * GridWidth];
        if (mode == PositionGridMode.Kept)
        {
            foreach (int p in KeptIndices) grid[p] = 1f;
            return grid;
        }
        foreach (var prov in Provenance)
            for (int i = 0; i < prov.Patches.Length; i++)
                grid[prov.Patches[i]] += mode == PositionGridMode.Count ? 1f : prov.Weights[i];
        return grid;
    }
}
