using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>How position ids continue after tokens are dropped inside the decoder (METHODS.md §0.2).</summary>
public enum PositionPolicy
{
    /// <summary>Survivors keep their original position ids; decoding continues from the original length (FastV, DART).</summary>
    KeepOriginal,
    /// <summary>Position ids are renumbered 0..L'−1 after each drop; a decode token's position in a layer is that layer's cache length (SparseVLM v1.x, PyramidDrop).</summary>
    Renumber,
}

/// <summary>What a pruner asks layer K−1 to expose while it runs.</summary>
public sealed record AttentionRequest
{
    /// <summary>Rows (in the current sequence) whose exact softmax attention is needed, per head.</summary>
    public int[] QueryRows { get; init; } = [];
    /// <summary>Keep layer K−1's post-RoPE keys of the current sequence (DART's key norms).</summary>
    public bool Keys { get; init; }
}

/// <summary>The sequence as it stands at a pruning boundary: after layer K−1, before layer K.</summary>
public sealed class PruneState
{
    /// <summary>K: the first layer that will run on the pruned sequence.</summary>
    public required int Layer { get; init; }
    public required int Length { get; init; }
    /// <summary>Output of layer K−1 (the input of layer K), [Length, Hidden]. Not final-normed.</summary>
    public required float[] Hidden { get; init; }
    public required int[] Positions { get; init; }
    /// <summary>Index of each row in the original prefill sequence (−1 for merged tokens).</summary>
    public required int[] OriginalIndices { get; init; }
    public required int ImageStart { get; init; }
    /// <summary>Visual tokens currently in the sequence: rows [ImageStart, ImageStart + ImageCount).</summary>
    public required int ImageCount { get; init; }
    public required AttentionRequest Request { get; init; }
    /// <summary>Exact softmax rows of layer K−1 for <see cref="AttentionRequest.QueryRows"/>: [rows, heads, Length].</summary>
    public float[]? AttentionRows { get; init; }
    /// <summary>Post-RoPE keys of layer K−1, [Length, KvDim], when requested.</summary>
    public float[]? Keys { get; init; }
    public required LlamaDecoder Decoder { get; init; }
    public required ComputeContext Compute { get; init; }

    public int TextStart => ImageStart + ImageCount;

    /// <summary>Mean over heads of the tapped row r: [Length].</summary>
    public float[] HeadMeanRow(int r)
    {
        int heads = Decoder.Config.NumAttentionHeads;
        var mean = new float[Length];
        for (int h = 0; h < heads; h++)
            System.Numerics.Tensors.TensorPrimitives.Add(mean, AttentionRows.AsSpan((r * heads + h) * Length, Length), mean);
        System.Numerics.Tensors.TensorPrimitives.Multiply(mean, 1f / heads, mean);
        return mean;
    }
}

/// <summary>A pruner's answer: which rows survive, and optionally merged tokens to insert.</summary>
public sealed class PruneDecision
{
    /// <summary>Rows of the current sequence to keep, strictly ascending.</summary>
    public required int[] Keep { get; init; }
    /// <summary>Merged tokens [count, Hidden] inserted after the kept visual tokens (SparseVLM's recycling).</summary>
    public float[]? Inserted { get; init; }
    public int InsertedCount { get; init; }
    /// <summary>Free text for the run report (per-layer counts, fallbacks).</summary>
    public string? Note { get; init; }
}

/// <summary>A method that drops (or merges) tokens between decoder layers during prefill.</summary>
public interface IDecoderPruner
{
    string Spec { get; }
    PositionPolicy Positions { get; }
    /// <summary>The layers K (ascending) before which this pruner acts. K ≥ 1.</summary>
    IReadOnlyList<int> Boundaries { get; }
    /// <summary>Called once per prefill with the spliced layer-0 input (SparseVLM picks its raters here).</summary>
    void Begin(SplicedSequence sequence, LlamaDecoder decoder, ComputeContext compute);
    /// <summary>What layer K−1 must expose for the boundary at K, given the current sequence layout.</summary>
    AttentionRequest Request(int boundary, int length, int imageStart, int imageCount);
    PruneDecision Prune(PruneState state);
}
