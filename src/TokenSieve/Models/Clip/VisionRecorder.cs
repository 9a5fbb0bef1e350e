namespace TokenSieve.Models;

/// <summary>A vision hook that records what transformers reports with <c>output_hidden_states</c>
/// (and optionally <c>output_attentions</c>): the embeddings before the pre-norm, every hidden state
/// 0..L, and every layer's softmax maps [heads, T, T]. For parity dumps and tests on small models;
/// the maps are T² per head.</summary>
public sealed class VisionRecorder(bool attentions = false) : IVisionHook
{
    /// <summary>Patch + class + position embeddings before pre_layrnorm.</summary>
    public float[]? Embeddings { get; private set; }

    public List<float[]> HiddenStates { get; } = [];

    /// <summary>Per layer, [heads, T, T] as transformers stores attentions (empty unless asked for).</summary>
    public List<float[]> Attentions { get; } = [];

    public bool ObservesHiddenStates => true;

    public bool Observes(int layer) => attentions;

    public void OnHiddenState(int index, ReadOnlySpan<float> hidden, int tokens)
    {
        if (index < 0) Embeddings = hidden.ToArray();
        else HiddenStates.Add(hidden.ToArray());
    }

    public void OnAttention(in VisionAttentionView view)
    {
        int tokens = view.Tokens, heads = view.Heads;
        var rows = Enumerable.Range(0, tokens).ToArray();
        var maps = new float[tokens * heads * tokens];
        view.RowProbabilities(rows, maps);
        // [row, head, key] → [head, row, key]
        var byHead = new float[heads * tokens * tokens];
        for (int r = 0; r < tokens; r++)
        for (int h = 0; h < heads; h++)
            maps.AsSpan((r * heads + h) * tokens, tokens).CopyTo(byHead.AsSpan((h * tokens + r) * tokens, tokens));
        Attentions.Add(byHead);
    }
}
