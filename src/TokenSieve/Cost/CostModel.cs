using TokenSieve.Checkpoints;
using TokenSieve.Models;

namespace TokenSieve.Cost;

/// <summary>FLOPs and KV-cache bytes from the token counts that actually ran (FLOPs = 2 × MACs).
/// Decoder layers use METHODS.md §13 generalised to GQA: per layer with n tokens,
/// MAC = 2nd² (q, o) + 2n·d·kv (k, v) + 2n²d (attention scores and values, counted square as
/// the papers do) + 3ndm (SiLU-gated MLP). The vision tower and projector use the same
/// dense-layer counting.</summary>
public static class CostModel
{
    public static double DecoderLayerFlops(LlamaConfig t, long n)
    {
        double d = t.HiddenSize, kv = t.KvDim, m = t.IntermediateSize;
        return 2 * (2 * n * d * d + 2 * n * d * kv + 2.0 * n * n * d + 3 * n * d * m);
    }

    /// <summary>One decode step at a layer whose cache holds <paramref name="cached"/> tokens before it.</summary>
    public static double DecoderDecodeLayerFlops(LlamaConfig t, long cached)
    {
        double d = t.HiddenSize, kv = t.KvDim, m = t.IntermediateSize;
        return 2 * (2 * d * d + 2 * d * kv + 2.0 * (cached + 1) * d + 3 * d * m);
    }

    public static double LmHeadFlops(LlamaConfig t, long rows) => 2.0 * rows * t.HiddenSize * t.VocabSize;

    /// <summary>Prefill: every layer at its own token count, plus the lm_head for the last position.</summary>
    public static double PrefillFlops(LlamaConfig t, IReadOnlyList<int> tokensPerLayer)
    {
        if (tokensPerLayer.Count != t.NumHiddenLayers)
            throw new ArgumentException($"{tokensPerLayer.Count} layer counts for {t.NumHiddenLayers} layers");
        double total = LmHeadFlops(t, 1);
        foreach (int n in tokensPerLayer) total += DecoderLayerFlops(t, n);
        return total;
    }

    public static double PrefillFlops(LlamaConfig t, int tokens) => PrefillFlops(t, Enumerable.Repeat(tokens, t.NumHiddenLayers).ToArray());

    /// <summary>CLIP encoder layers that ran with <paramref name="tokens"/> tokens each (plus the patch embedding).</summary>
    public static double VisionFlops(ClipVisionConfig v, int layersRun, long tokens) =>
        VisionFlops(v, Enumerable.Range(0, layersRun).Select(l => new VisionLayerRun(l, (int)tokens, (int)tokens, false)).ToList());

    /// <summary>The patch embedding plus every layer as it ran: q/k/v/o projections and attention at
    /// the tokens entering the layer, the MLP at the tokens left after a merge (ToMe), and for a layer
    /// run for its projections only (PruMerge's next-layer q/k) just those two projections.</summary>
    public static double VisionFlops(ClipVisionConfig v, IReadOnlyList<VisionLayerRun> layers)
    {
        double c = v.HiddenSize, i = v.IntermediateSize;
        double total = 2.0 * v.NumPatches * c * v.NumChannels * v.PatchSize * v.PatchSize;
        foreach (var l in layers)
        {
            double t = l.Tokens;
            total += l.ProjectionsOnly
                ? 2 * (2 * t * c * c)
                : 2 * (4 * t * c * c + 2.0 * t * t * c + 2 * (double)l.MlpTokens * c * i);
        }
        return total;
    }

    public static double ProjectorFlops(long tokens, int visionHidden, int textHidden) =>
        2.0 * tokens * ((double)visionHidden * textHidden + (double)textHidden * textHidden);

    /// <summary>The decoder's float32 working memory for a prefill of <paramref name="tokens"/> rows:
    /// the residual stream and its normed copy, the query, attention output and projection buffers
    /// (five [tokens, d] arrays) and the MLP's gate and up activations (two [tokens, m]).</summary>
    public static long PrefillWorkspaceBytes(LlamaConfig t, int tokens) => 4L * tokens * (5L * t.HiddenSize + 2L * t.IntermediateSize);

    /// <summary>KV cache bytes when layer l holds tokensPerLayer[l] tokens.</summary>
    public static long KvCacheBytes(LlamaConfig t, IReadOnlyList<int> tokensPerLayer, int bytesPerElement = sizeof(float))
    {
        long total = 0;
        foreach (int n in tokensPerLayer) total += 2L * n * t.KvDim * bytesPerElement;
        return total;
    }
}
