using TokenSieve.Models;
using TokenSieve.Reduction;

namespace TokenSieve.Pipeline;

/// <summary>One image's visual tokens as they enter the decoder, and what produced them: the tower
/// layers that ran, the reduction (with provenance), the rows the projector saw, and wall time per
/// stage.</summary>
public sealed class VisualTokens
{
    /// <summary>Projected tokens, [Count, Width].</summary>
    public required float[] Tokens { get; init; }

    public required int Count { get; init; }

    /// <summary>The decoder's hidden size.</summary>
    public required int Width { get; init; }

    /// <summary>Visual tokens the model would feed without reduction.</summary>
    public required int TokensBefore { get; init; }

    /// <summary>Each token's cell in the tower's patch grid: a token that is one patch has its cell,
    /// merged, pooled and [CLS] tokens have none.</summary>
    public required VisualLayout Layout { get; init; }

    /// <summary>The reduction's output with provenance; null without reduction. For several views
    /// (LLaVA-NeXT tiles, video frames) the first view's; <see cref="Sources"/> covers every token.</summary>
    public ReductionResult? Reduction { get; init; }

    /// <summary>Where each token came from: patches of its view's grid (the view is the token's
    /// <see cref="VisualLayout"/> grid) with their weights; [CLS] rows are class tokens, LLaVA-NeXT's
    /// newlines have no patches.</summary>
    public required TokenProvenance[] Sources { get; init; }

    /// <summary>Every view's tower layers as they ran, one view after another.</summary>
    public required IReadOnlyList<VisionLayerRun> VisionLayers { get; init; }

    /// <summary>The vision towers' FLOPs over all views, counted from the layers that ran.</summary>
    public required double VisionFlops { get; init; }

    /// <summary>Tower forwards: 1, LLaVA-NeXT's tiles + base, or a video's frames.</summary>
    public int Views { get; init; } = 1;

    /// <summary>Rows that went through the projector (all patches for methods that select after it).</summary>
    public required int ProjectedRows { get; init; }

    public double VisionMs { get; init; }

    public double ReductionMs { get; init; }

    public double ProjectorMs { get; init; }
}
