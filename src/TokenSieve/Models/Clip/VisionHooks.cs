using TokenSieve.Numerics;

namespace TokenSieve.Models;

/// <summary>What a vision tower is, for a method deciding what it can ask of it: depth, width,
/// heads, the patch grid of one image (or tile / frame) and whether its sequence starts with a
/// [CLS] token.</summary>
public sealed record VisionTowerInfo
{
    /// <summary>Encoder layers stored in the checkpoint.</summary>
    public required int Layers { get; init; }

    /// <summary>Index into hidden_states of the features: layers 0..FeatureIndex−1 produce them
    /// (LLaVA's vision_feature_layer −2 → L−1).</summary>
    public required int FeatureIndex { get; init; }

    public required int Channels { get; init; }

    public required int Heads { get; init; }

    public int HeadDim => Channels / Heads;

    /// <summary>Sequence row 0 is a [CLS] token (CLIP); false for towers without one (Qwen2-VL).</summary>
    public required bool HasClassToken { get; init; }

    public required int GridHeight { get; init; }

    public required int GridWidth { get; init; }

    public int Patches => GridHeight * GridWidth;

    /// <summary>Rows of one forward: [CLS] (if any) + patches.</summary>
    public int SequenceLength => Patches + (HasClassToken ? 1 : 0);
}

/// <summary>A layer's attention inputs as a hook sees them, before the attention runs: the raw
/// q_proj / k_proj outputs (bias included, unscaled, heads side by side) of every row. Exact
/// softmax rows for any queries are computed on demand from the same q/k, so no method needs the
/// tower to materialise an attention matrix.</summary>
public readonly ref struct VisionAttentionView
{
    public int Layer { get; init; }

    /// <summary>Which image of the forward these rows are (a Qwen2-VL forward holds several images, each
    /// attending only within itself); 0 for a CLIP forward.</summary>
    public int Image { get; init; }

    public int Tokens { get; init; }

    public int Channels { get; init; }

    public int Heads { get; init; }

    public int HeadDim => Channels / Heads;

    /// <summary>[Tokens, Channels] q_proj output (Qwen2-VL: the query part of qkv after the 2-D rotary, as its attention uses it).</summary>
    public ReadOnlySpan<float> Queries { get; init; }

    /// <summary>[Tokens, Channels] k_proj output.</summary>
    public ReadOnlySpan<float> Keys { get; init; }

    /// <summary>True for a layer past the features that runs only its pre-norm and q/k
    /// projections because a hook observes it (PruMerge's "last layer" q/k).</summary>
    public bool ProjectionsOnly { get; init; }

    internal AttentionShape Shape { get; init; }

    internal ComputeContext Compute { get; init; }

    /// <summary>Softmax attention rows of <paramref name="queryRows"/> per head, written to
    /// <paramref name="destination"/> as [rows, heads, Tokens] (exactly what the layer's own
    /// attention uses, without a key bias).</summary>
    public void RowProbabilities(ReadOnlySpan<int> queryRows, Span<float> destination) =>
        Attention.RowProbabilities(Compute, Queries, Channels, Keys, Channels, queryRows, Shape, destination);
}

/// <summary>The residual stream after a layer's attention (before its MLP), which a merging hook
/// may shorten: it writes the merged rows back into <see cref="Hidden"/> and returns their count.</summary>
public readonly ref struct VisionMergeView
{
    public int Layer { get; init; }

    public int Tokens { get; init; }

    public int Channels { get; init; }

    public int Heads { get; init; }

    public int HeadDim => Channels / Heads;

    /// <summary>[Tokens, Channels], writable; merged rows go to the front.</summary>
    public Span<float> Hidden { get; init; }

    /// <summary>[Tokens, Channels] k_proj output of this layer.</summary>
    public ReadOnlySpan<float> Keys { get; init; }

    public ComputeContext Compute { get; init; }
}

/// <summary>How a method reaches inside a vision tower. Every member has a no-op default, so a hook
/// implements only what it uses. The tower knows no method; it calls these at fixed points of each
/// layer: after the q/k/v projections (<see cref="OnAttention"/>, <see cref="KeyBias"/>), after the
/// attention's residual (<see cref="Merge"/>), and after each hidden state (<see cref="OnHiddenState"/>).</summary>
public interface IVisionHook
{
    /// <summary>Whether <see cref="OnAttention"/> should see layer <paramref name="layer"/>. A layer
    /// at or past the feature index makes the tower run that far (projections only for the last).</summary>
    bool Observes(int layer) => false;

    void OnAttention(in VisionAttentionView view) { }

    /// <summary>An additive bias on every key's attention logit in <paramref name="layer"/> (per key,
    /// shared by all heads and queries), or null.</summary>
    float[]? KeyBias(int layer) => null;

    /// <summary>Returns the token count after merging (≤ view.Tokens); the default keeps all.</summary>
    int Merge(in VisionMergeView view) => view.Tokens;

    /// <summary>Whether <see cref="OnHiddenState"/> is called (parity dumps).</summary>
    bool ObservesHiddenStates => false;

    /// <summary>hidden_states[index] as transformers numbers them (0 after the pre-norm, i+1 after
    /// layer i); index −1 is the embeddings before the pre-norm.</summary>
    void OnHiddenState(int index, ReadOnlySpan<float> hidden, int tokens) { }
}

/// <summary>One layer that ran in a vision forward, so cost is counted from what ran: the tokens its
/// attention saw, the tokens its MLP saw (fewer after a merge), or only its pre-norm and q/k
/// projections (a layer past the features that a hook observed).</summary>
public readonly record struct VisionLayerRun(int Layer, int Tokens, int MlpTokens, bool ProjectionsOnly);

/// <summary>Results of one vision forward. <see cref="FeatureHidden"/> is owned by the tower and
/// overwritten by its next forward.</summary>
public sealed class VisionOutputs
{
    /// <summary>Rows of the features: [CLS] (when the tower has one) + patches, fewer after merging.</summary>
    public int Tokens { get; internal set; }

    public int Channels { get; internal set; }

    /// <summary>hidden_states[feature index], [CLS] first: [Tokens, Channels].</summary>
    public float[] FeatureHidden { get; internal set; } = [];

    /// <summary>The layers that ran, in order, with their token counts.</summary>
    public IReadOnlyList<VisionLayerRun> LayersRun { get; internal set; } = [];

    /// <summary>The patch rows of the features (without [CLS]): [Tokens − 1, Channels].</summary>
    public ReadOnlySpan<float> PatchFeatures => FeatureHidden.AsSpan(Channels, (Tokens - 1) * Channels);
}
