using TokenSieve.Checkpoints;
using TokenSieve.Lab.Text;

namespace TokenSieve.Lab.Training;

/// <summary>Sizes of the lab's LLaVA: CLIP ViT tower → 2-layer GELU projector → LLaMA decoder.
/// <see cref="Default"/> is the built-in model; any llava-hf config with the supported
/// activations maps onto it through <see cref="FromLlava"/> (the parity test uses llava-tiny).</summary>
public sealed record LabModelConfig(
    int ImageSize, int PatchSize, int VisionHidden, int VisionIntermediate, int VisionLayers, int VisionHeads, float VisionLayerNormEps,
    int TextHidden, int TextIntermediate, int TextLayers, int TextHeads, int VocabSize, int MaxPositions, float RmsNormEps, float RopeTheta,
    int ImageTokenIndex, int PadTokenId, int BosTokenId, int EosTokenId, int VisionFeatureLayer)
{
    public const int Channels = 3;
    public int Grid => ImageSize / PatchSize;
    public int NumPatches => Grid * Grid;
    public int VisionTokens => NumPatches + 1;
    public int VisionHeadDim => VisionHidden / VisionHeads;
    public int TextHeadDim => TextHidden / TextHeads;
    public int PatchInputs => Channels * PatchSize * PatchSize;
    /// <summary>Encoder layers that produce hidden_states[feature layer] (the last one runs only for [CLS]/PruMerge).</summary>
    public int FeatureLayers => VisionFeatureLayer < 0 ? VisionLayers + 1 + VisionFeatureLayer : VisionFeatureLayer;

    /// <summary>The built-in lab model. 112×112 images with 14-pixel patches give 8×8 = 64 visual
    /// tokens (+[CLS]), enough for pruning to matter and for the 4×4 object grid to cover 2×2
    /// patches per cell. Widths 96 (vision) and 128 (text), 4 layers each, are about the most a
    /// 2-core fp32 trainer can fit into its time budget (≈1.3 M parameters, ≈5 MB in F32).</summary>
    public static LabModelConfig Default { get; } = new(
        ImageSize: 112, PatchSize: 14, VisionHidden: 96, VisionIntermediate: 384, VisionLayers: 4, VisionHeads: 4, VisionLayerNormEps: 1e-5f,
        TextHidden: 128, TextIntermediate: 320, TextLayers: 4, TextHeads: 4, VocabSize: LabVocabulary.VocabSize, MaxPositions: 256,
        RmsNormEps: 1e-5f, RopeTheta: 10000f, ImageTokenIndex: LabVocabulary.ImageTokenId, PadTokenId: LabVocabulary.PadTokenId,
        BosTokenId: LabVocabulary.BosId, EosTokenId: LabVocabulary.EosId, VisionFeatureLayer: -2);

    /// <summary>The llava-hf config of this model (quick_gelu tower, no GQA, untied lm_head).</summary>
    public LlavaConfig ToLlava() => LlavaConfigWriter.Create(
        new ClipVisionConfig(VisionHidden, VisionIntermediate, VisionLayers, VisionHeads, Channels, ImageSize, PatchSize, "quick_gelu", VisionLayerNormEps),
        new LlamaConfig(VocabSize, TextHidden, TextIntermediate, TextLayers, TextHeads, TextHeads, "silu", MaxPositions, RmsNormEps, RopeTheta, BosTokenId, EosTokenId, false),
        ImageTokenIndex, PadTokenId, VisionFeatureLayer);

    public static LabModelConfig FromLlava(LlavaConfig c)
    {
        if (c.Vision.HiddenAct != "quick_gelu") throw new ArgumentException($"vision hidden_act '{c.Vision.HiddenAct}': the lab trainer implements quick_gelu only");
        if (c.Text.NumKeyValueHeads != c.Text.NumAttentionHeads) throw new ArgumentException("the lab trainer does not implement grouped-query attention");
        if (c.KeepClsFeature) throw new ArgumentException("the lab trainer implements vision_feature_select_strategy 'default' only");
        return new(c.Vision.ImageSize, c.Vision.PatchSize, c.Vision.HiddenSize, c.Vision.IntermediateSize, c.Vision.NumHiddenLayers, c.Vision.NumAttentionHeads,
            c.Vision.LayerNormEps, c.Text.HiddenSize, c.Text.IntermediateSize, c.Text.NumHiddenLayers, c.Text.NumAttentionHeads, c.Text.VocabSize,
            c.Text.MaxPositionEmbeddings, c.Text.RmsNormEps, c.Text.RopeTheta, c.ImageTokenIndex, c.PadTokenId ?? -1, c.Text.BosTokenId, c.Text.EosTokenId,
            c.VisionFeatureLayer);
    }
}
