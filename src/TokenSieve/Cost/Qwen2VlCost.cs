using TokenSieve.Checkpoints;

namespace TokenSieve.Cost;

/// <summary>FLOPs of Qwen2-VL's vision side (FLOPs = 2 × MACs, dense layers counted as in
/// <see cref="CostModel"/>): the patch embedding, every block over all N patches of the prompt's images
/// (q/k/v, proj and MLP per patch; attention scores and values within each image, n_i² per head
/// width), and the PatchMerger's two linears per merged token. The decoder is costed by
/// <see cref="CostModel.PrefillFlops(LlamaConfig, IReadOnlyList{int})"/>.</summary>
public static class Qwen2VlCost
{
    /// <summary>Patch embedding and all blocks for images of the given patch counts.</summary>
    public static double VisionFlops(Qwen2VlVisionConfig v, IReadOnlyList<int> patchesPerImage)
    {
        double e = v.EmbedDim, m = v.MlpHiddenSize, total = 0;
        foreach (int n in patchesPerImage)
        {
            total += 2.0 * n * e * v.PatchLength;
            total += v.Depth * 2 * (4.0 * n * e * e + 2.0 * n * n * e + 2.0 * n * e * m);
        }
        return total;
    }

    /// <summary>The PatchMerger: Linear(merge²·E → merge²·E) and Linear(merge²·E → D) per merged token.</summary>
    public static double MergerFlops(Qwen2VlVisionConfig v, long mergedTokens) =>
        2.0 * mergedTokens * ((double)v.MergedDim * v.MergedDim + (double)v.MergedDim * v.HiddenSize);
}
