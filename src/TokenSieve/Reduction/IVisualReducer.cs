using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>What a reducer asks the vision tower (and the pipeline) to compute beyond the
/// feature-layer output. The tower computes only the taps that are asked for.</summary>
[Flags]
public enum VisionNeeds
{
    None = 0,

    /// <summary>The raw q_proj / k_proj outputs [N+1, C] (bias included, unscaled, not split into
    /// heads) of the layer <em>after</em> the feature layer, applied to LN1 of the feature-layer
    /// output (CLS first). PruMerge(+) (METHODS §1 step 1).</summary>
    LastLayerQK = 1,

    /// <summary>Per-head softmax rows of [CLS] at the feature layer (the layer whose output is the
    /// features): [heads, N+1], CLS column first. FasterVLM, VisionZip.</summary>
    FeatureLayerClsAttention = 2,

    /// <summary>The feature layer's k_proj output [N+1, C] (bias included, CLS first). VisionZip
    /// averages it over heads.</summary>
    FeatureLayerKeys = 4,

    /// <summary>The feature-layer hidden state of [CLS] [C]. VisionZip passes it on as a token.</summary>
    ClsHiddenState = 8,

    /// <summary>The method works on projected embeddings: <see cref="ReductionInput.Project"/> must
    /// be set and the result is <see cref="ReductionResult.AlreadyProjected"/>.</summary>
    Projector = 16,

    /// <summary>Token merging inside every tower layer (ToMe): the reducer's
    /// <see cref="IVisualReducer.CreateTowerHook"/> merges between attention and MLP and the merged
    /// tokens arrive with their sources in <see cref="ReductionInput.MergedTokenSources"/>.</summary>
    TokenMerging = 32,
}

/// <summary>A visual-token reduction method, built from its spec by the method catalog (Methods/).</summary>
public interface IVisualReducer
{
    /// <summary>The canonical spec string of this reducer (parses back to the same reducer).</summary>
    string Name { get; }

    /// <summary>The taps the vision tower must provide in <see cref="ReductionInput"/>.</summary>
    VisionNeeds Needs { get; }

    /// <summary>Reduces one image's visual tokens. Validates the input it uses (shapes, NaN/Inf)
    /// and throws <see cref="InvalidInputException"/> or <see cref="MethodSpecException"/>
    /// (budget larger than the patch count) naming the tensor or spec.</summary>
    ReductionResult Reduce(ReductionInput input, ComputeContext ctx);

    /// <summary>For methods that work inside the vision tower (ToMe): a fresh hook for one image's
    /// forward. The default, null, leaves the tower alone.</summary>
    IVisionHook? CreateTowerHook(VisionTowerInfo tower) => null;

    /// <summary>The fixed token budget of the spec (tokens kept per image or view), or null for
    /// adaptive and ratio budgets, which scale with the view by themselves.</summary>
    int? FixedBudget => null;

    /// <summary>The same method keeping <paramref name="keep"/> tokens: how a budget for a whole
    /// input (LLaVA-NeXT's tiles, a video's frames) is split over its views. Null when the method
    /// has no fixed budget.</summary>
    IVisualReducer? WithBudget(int keep) => null;
}
