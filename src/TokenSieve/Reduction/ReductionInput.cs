using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>Everything a reducer may read about one image. Row-major float32, patches in raster
/// order p = row·GridWidth + col, N = GridHeight·GridWidth. Tap arrays keep [CLS] as row 0.</summary>
public sealed class ReductionInput
{
    /// <summary>Feature-layer output without CLS, [N, C] (for ToMe: the merged tokens, one row per
    /// entry of <see cref="MergedTokenSources"/>).</summary>
    public required float[] Features { get; init; }

    public required int GridHeight { get; init; }

    public required int GridWidth { get; init; }

    /// <summary>C, the vision width.</summary>
    public required int Channels { get; init; }

    /// <summary>Vision attention heads (C must be divisible by it where heads are used).</summary>
    public int Heads { get; init; } = 1;

    /// <summary>Layer-after-feature-layer q_proj output [N+1, C] (see <see cref="VisionNeeds.LastLayerQK"/>).</summary>
    public float[]? LastLayerQueries { get; init; }

    /// <summary>Layer-after-feature-layer k_proj output [N+1, C].</summary>
    public float[]? LastLayerKeys { get; init; }

    /// <summary>Feature-layer [CLS] attention probabilities [Heads, N+1].</summary>
    public float[]? FeatureLayerClsAttention { get; init; }

    /// <summary>Feature-layer k_proj output [N+1, C].</summary>
    public float[]? FeatureLayerKeys { get; init; }

    /// <summary>Feature-layer hidden state of [CLS] [C].</summary>
    public float[]? ClsHiddenState { get; init; }

    /// <summary>The multimodal projector applied per row: (features [rows, C], rows) → [rows, D].</summary>
    public Func<float[], int, float[]>? Project { get; init; }

    /// <summary>ToMe only: where each row of <see cref="Features"/> came from (patch indices, weights).</summary>
    public TokenProvenance[]? MergedTokenSources { get; init; }

    /// <summary>Seed for randomised methods when the spec names none.</summary>
    public ulong Seed { get; init; }

    /// <summary>N, the number of patches.</summary>
    public int PatchCount => GridHeight * GridWidth;

    /// <summary>Checks the shapes and finiteness of the features and of every tap in
    /// <paramref name="needs"/>; the messages name the tensor, the expected and the actual shape.
    /// With <paramref name="values"/> false only shapes are checked: the caller then proves
    /// finiteness from its own results (<see cref="RequireFiniteInputs"/> names the culprit).</summary>
    public void Validate(VisionNeeds needs, string spec, bool values = true)
    {
        if (GridHeight <= 0 || GridWidth <= 0)
            throw new InvalidInputException($"{spec}: patch grid {GridHeight}x{GridWidth} must be at least 1x1");
        if (Channels <= 0) throw new InvalidInputException($"{spec}: Channels must be positive, got {Channels}");
        int n = PatchCount, c = Channels;
        int rows = MergedTokenSources?.Length ?? n;
        if ((needs & VisionNeeds.TokenMerging) != 0 && MergedTokenSources is null)
            throw new InvalidInputException($"{spec}: 'MergedTokenSources' is missing (ToMe merges inside the vision tower; run the tower with a ToMeTracker)");
        if (Features is null) throw new InvalidInputException($"{spec}: tensor 'Features' is missing");
        Require(Features, "Features", (long)rows * c, $"[{rows},{c}]");
        if ((needs & VisionNeeds.LastLayerQK) != 0)
        {
            Require(LastLayerQueries, "LastLayerQueries", (long)(n + 1) * c, $"[{n + 1},{c}]");
            Require(LastLayerKeys, "LastLayerKeys", (long)(n + 1) * c, $"[{n + 1},{c}]");
        }
        if (Heads <= 0) throw new InvalidInputException($"{spec}: Heads must be positive, got {Heads}");
        if ((needs & VisionNeeds.FeatureLayerKeys) != 0 && c % Heads != 0)
            throw new InvalidInputException($"{spec}: Channels {c} is not divisible by Heads {Heads} (the keys are split into heads)");
        if ((needs & VisionNeeds.FeatureLayerClsAttention) != 0)
            Require(FeatureLayerClsAttention, "FeatureLayerClsAttention", (long)Heads * (n + 1), $"[{Heads},{n + 1}]");
        if ((needs & VisionNeeds.FeatureLayerKeys) != 0)
            Require(FeatureLayerKeys, "FeatureLayerKeys", (long)(n + 1) * c, $"[{n + 1},{c}]");
        if ((needs & VisionNeeds.ClsHiddenState) != 0)
            Require(ClsHiddenState, "ClsHiddenState", c, $"[{c}]");
        if ((needs & VisionNeeds.Projector) != 0 && Project is null)
            throw new InvalidInputException($"{spec}: the projector callback 'Project' is missing (this method works on projected embeddings)");

        void Require(float[]? t, string name, long length, string shape)
        {
            if (t is null) throw new InvalidInputException($"{spec}: tensor '{name}' {shape} is missing");
            if (t.Length != length)
                throw new InvalidInputException($"{spec}: tensor '{name}' has {t.Length} values, expected {shape} = {length} (grid {GridHeight}x{GridWidth}, C = {c})");
            if (values) ReductionInput.RequireFinite(t, name, spec);
        }
    }

    /// <summary>For reducers that validated shapes only and found a non-finite value in their own
    /// results: checks every tensor in <paramref name="needs"/> so the error names the input at
    /// fault; if all inputs are finite the overflow happened inside the method, reported as such.</summary>
    public InvalidInputException RequireFiniteInputs(VisionNeeds needs, string spec, string where)
    {
        Validate(needs, spec, values: true);
        return new InvalidInputException($"{spec}: {where} overflowed to a non-finite value although every input is finite (values too large for float32)");
    }

    /// <summary>Throws <see cref="InvalidInputException"/> naming <paramref name="tensor"/> and the
    /// first NaN/Inf position.</summary>
    internal static void RequireFinite(ReadOnlySpan<float> values, string tensor, string spec)
    {
        int i = RowKernels.IndexOfNonFinite(values);
        if (i >= 0)
            throw new InvalidInputException($"{spec}: tensor '{tensor}' has a non-finite value ({values[i]}) at flat index {i}");
    }

    /// <summary>Runs <see cref="Project"/> on <paramref name="rows"/> rows and checks its output.</summary>
    internal float[] ProjectRows(float[] features, int rows, string spec, out int width)
    {
        var z = Project!(features, rows);
        if (z is null || z.Length == 0 || z.Length % rows != 0)
            throw new InvalidInputException($"{spec}: projector output has {z?.Length ?? 0} values, not a multiple of {rows} rows");
        width = z.Length / rows;
        ReductionInput.RequireFinite(z, "projector output", spec);
        return z;
    }
}
