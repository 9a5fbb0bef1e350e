using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>Vision-side and pre-LLM methods on a model whose tower merges patches itself and has no
/// [CLS] token (Qwen2-VL's 2×2 PatchMerger; docs/models/qwen2-vl.md): the methods see one image's
/// <em>merged</em> tokens as their "patches" — the merger's outputs, already in the decoder's width, on
/// the merged grid (h/2 × w/2) in raster order — so budgets count merged tokens. Methods that need
/// nothing from the tower (random, pooling, DivPrune) run as they are; FasterVLM ranks by a named
/// surrogate of its [CLS] row (<see cref="ReceivedAttention"/>); the others are refused with a
/// <see cref="MethodNotApplicableException"/>.</summary>
public static class MergedTokenReduction
{
    /// <summary>The model name used in errors and notes.</summary>
    public const string Model = "Qwen2-VL";

    /// <summary>Throws when <paramref name="reducer"/> cannot run on merged tokens; returns whether it
    /// needs the <see cref="ReceivedAttention"/> surrogate.</summary>
    public static bool CheckApplicable(IVisualReducer reducer)
    {
        var needs = reducer.Needs;
        if ((needs & VisionNeeds.LastLayerQK) != 0)
            throw new MethodNotApplicableException(reducer.Name, Model,
                "PruMerge ranks by the [CLS] query/key of the layer after the features and merges pre-projector features by key similarity; "
                + "the tower has no [CLS] token and its PatchMerger already merges every 2x2 window (refused; see docs/models/qwen2-vl.md)");
        if ((needs & VisionNeeds.TokenMerging) != 0)
            throw new MethodNotApplicableException(reducer.Name, Model,
                "ToMe merges tokens inside the tower's layers, but the PatchMerger after the last block needs every 2x2 window of patches intact (refused)");
        if ((needs & (VisionNeeds.ClsHiddenState | VisionNeeds.FeatureLayerKeys)) != 0)
            throw new MethodNotApplicableException(reducer.Name, Model,
                "VisionZip passes the [CLS] hidden state on as a dominant token and merges pre-projector features by [CLS]-layer keys; "
                + "the tower has no [CLS] token and merges 2x2 windows itself (refused; fastervlm runs with the received-attention surrogate)");
        return (needs & VisionNeeds.FeatureLayerClsAttention) != 0;
    }

    /// <summary>The reducer's input for one image: the merged tokens as features (the projector is
    /// the identity: they are already decoder embeddings), and the surrogate [CLS] row when asked —
    /// column 0 (the absent [CLS]) zero, column j + 1 merged token j's received attention per head.</summary>
    public static ReductionInput Input(float[] merged, int gridHeight, int gridWidth, int width, int heads, float[]? receivedPerHead, ulong seed)
    {
        int n = gridHeight * gridWidth;
        float[]? clsRow = null;
        if (receivedPerHead is not null)
        {
            clsRow = new float[heads * (n + 1)];
            for (int h = 0; h < heads; h++) receivedPerHead.AsSpan(h * n, n).CopyTo(clsRow.AsSpan(h * (n + 1) + 1, n));
        }
        return new ReductionInput
        {
            Features = merged, GridHeight = gridHeight, GridWidth = gridWidth, Channels = width, Heads = heads,
            FeatureLayerClsAttention = clsRow, Project = (f, rows) => f.AsSpan(0, rows * width).ToArray(), Seed = seed,
        };
    }

    /// <summary>The note a surrogate run carries in its report.</summary>
    public static string SurrogateNote(IVisualReducer reducer) =>
        $"{reducer.Name} on {Model}: ranked by the received-attention surrogate (mean attention each merged token's patches receive in the last vision block), not by a [CLS] row";
}

/// <summary>FasterVLM's surrogate on a tower without [CLS] (docs/models/qwen2-vl.md): for each image, the
/// attention each patch <em>receives</em> in the last vision block, averaged over the image's query
/// patches, per head; then averaged over the patches of each merge window, giving one score per
/// merged token and head [heads, N/merge²]. Exact softmax rows are recomputed from the block's own
/// post-rotary q/k in chunks, so nothing N×N is stored. One instance per forward.</summary>
public sealed class ReceivedAttention(int layer, int mergeUnit) : IVisionHook
{
    const int Chunk = 64;
    readonly Dictionary<int, float[]> _perImage = new();

    public bool Observes(int l) => l == layer;

    public void OnAttention(in VisionAttentionView view)
    {
        int n = view.Tokens, heads = view.Heads;
        if (n % mergeUnit != 0) throw new InvalidInputException($"image {view.Image}: {n} patches are not whole merge windows of {mergeUnit}");
        var received = new double[heads * n];
        var rows = new float[Chunk * heads * n];
        var queries = new int[Chunk];
        for (int q0 = 0; q0 < n; q0 += Chunk)
        {
            int count = Math.Min(Chunk, n - q0);
            for (int i = 0; i < count; i++) queries[i] = q0 + i;
            view.RowProbabilities(queries.AsSpan(0, count), rows);
            for (int i = 0; i < count; i++)
                for (int h = 0; h < heads; h++)
                {
                    var p = rows.AsSpan((i * heads + h) * n, n);
                    for (int j = 0; j < n; j++) received[h * n + j] += p[j];
                }
        }
        int tokens = n / mergeUnit;
        var score = new float[heads * tokens];
        for (int h = 0; h < heads; h++)
            for (int k = 0; k < tokens; k++)
            {
                double s = 0;
                for (int u = 0; u < mergeUnit; u++) s += received[h * n + k * mergeUnit + u];
                score[h * tokens + k] = (float)(s / n / mergeUnit);
            }
        _perImage[view.Image] = score;
    }

    /// <summary>Image <paramref name="image"/>'s scores [heads, merged tokens].</summary>
    public float[] Scores(int image) =>
        _perImage.TryGetValue(image, out var s) ? s : throw new InvalidOperationException($"no attention was observed for image {image}");
}
