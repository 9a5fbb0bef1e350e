namespace TokenSieve.Lab.Training;

/// <summary>Saved forward state of the vision tower for one image, plus backward scratch.</summary>
public sealed class VisionActivations
{
    internal sealed class LayerState(int n, int d, int f, int h)
    {
        public readonly float[] Ln1 = new float[n * d], Mean1 = new float[n], Rstd1 = new float[n];
        public readonly float[] Q = new float[n * d], K = new float[n * d], V = new float[n * d], Probs = new float[h * n * n], Attn = new float[n * d];
        public readonly float[] Mid = new float[n * d], Ln2 = new float[n * d], Mean2 = new float[n], Rstd2 = new float[n];
        public readonly float[] Fc1 = new float[n * f], Act = new float[n * f];
    }

    internal readonly float[] Patches, PatchOut, Embeddings, PreMean, PreRstd, PostLn, PostMean, PostRstd;
    /// <summary>hidden_states[i], i = 0..layers, each [N, D].</summary>
    public readonly float[][] Hidden;
    internal readonly LayerState[] Layer;
    internal readonly float[] DPrev, DMid, DAct, DFc1, DLn, DAttn, DQ, DK, DV, DEmb, DPatchOut, DPost, Scratch;

    public VisionActivations(LabModelConfig c)
    {
        int n = c.VisionTokens, d = c.VisionHidden, f = c.VisionIntermediate;
        Patches = new float[c.NumPatches * c.PatchInputs];
        PatchOut = new float[c.NumPatches * d];
        Embeddings = new float[n * d];
        PreMean = new float[n]; PreRstd = new float[n];
        PostLn = new float[d]; PostMean = new float[1]; PostRstd = new float[1];
        Hidden = Enumerable.Range(0, c.VisionLayers + 1).Select(_ => new float[n * d]).ToArray();
        Layer = Enumerable.Range(0, c.VisionLayers).Select(_ => new LayerState(n, d, f, c.VisionHeads)).ToArray();
        DPrev = new float[n * d]; DMid = new float[n * d]; DAct = new float[n * f]; DFc1 = new float[n * f]; DLn = new float[n * d];
        DAttn = new float[n * d]; DQ = new float[n * d]; DK = new float[n * d]; DV = new float[n * d]; DEmb = new float[n * d];
        DPatchOut = new float[c.NumPatches * d]; DPost = new float[d]; Scratch = new float[n];
    }

    /// <summary>Raw q_proj / k_proj outputs of a layer [N, D] (PruMerge's inputs).</summary>
    public (float[] Q, float[] K) QueryKey(int layer) => (Layer[layer].Q, Layer[layer].K);
}

/// <summary>Saved forward state of the projector for P rows.</summary>
public sealed class ProjectorActivations(LabModelConfig c)
{
    internal readonly float[] Features = new float[c.NumPatches * c.VisionHidden];
    internal readonly float[] Linear1 = new float[c.NumPatches * c.TextHidden], Gelu = new float[c.NumPatches * c.TextHidden];
    public readonly float[] Output = new float[c.NumPatches * c.TextHidden];
    internal readonly float[] DGelu = new float[c.NumPatches * c.TextHidden], DLinear1 = new float[c.NumPatches * c.TextHidden];
    internal readonly float[] DOutput = new float[c.NumPatches * c.TextHidden], DFeatures = new float[c.NumPatches * c.VisionHidden];
}

/// <summary>Saved forward state of the decoder for sequences up to max_position_embeddings.</summary>
public sealed class DecoderActivations
{
    internal sealed class LayerState(int s, int d, int f, int h)
    {
        public readonly float[] Ln1 = new float[s * d], Rstd1 = new float[s];
        public readonly float[] Q = new float[s * d], K = new float[s * d], V = new float[s * d], Probs = new float[h * s * s], Attn = new float[s * d];
        public readonly float[] Mid = new float[s * d], Ln2 = new float[s * d], Rstd2 = new float[s];
        public readonly float[] Gate = new float[s * f], Up = new float[s * f], Swi = new float[s * f];
    }

    /// <summary>inputs_embeds [S, D].</summary>
    public readonly float[] Input;
    /// <summary>hidden_states[i], i = 0..layers (the last before the final norm).</summary>
    public readonly float[][] Hidden;
    internal readonly LayerState[] Layer;
    internal readonly float[] Final, FinalRstd, Gathered;
    /// <summary>Logits [T, V] for the requested rows.</summary>
    public readonly float[] Logits;
    public int Length { get; internal set; }
    public int LogitRows { get; internal set; }
    internal readonly float[] DGathered, DFinal, DCur, DPrev, DMid, DSwi, DGate, DUp, DLn, DAttn, DQ, DK, DV, DInput, Scratch;

    /// <param name="maxLength">Longest sequence this workspace serves (probabilities take H·S² floats per layer).</param>
    public DecoderActivations(LabModelConfig c, int maxLength)
    {
        int s = maxLength, d = c.TextHidden, f = c.TextIntermediate;
        Input = new float[s * d];
        Hidden = Enumerable.Range(0, c.TextLayers + 1).Select(_ => new float[s * d]).ToArray();
        Layer = Enumerable.Range(0, c.TextLayers).Select(_ => new LayerState(s, d, f, c.TextHeads)).ToArray();
        Final = new float[s * d]; FinalRstd = new float[s]; Gathered = new float[s * d];
        Logits = new float[s * c.VocabSize];
        DGathered = new float[s * d]; DFinal = new float[s * d]; DCur = new float[s * d]; DPrev = new float[s * d]; DMid = new float[s * d];
        DSwi = new float[s * f]; DGate = new float[s * f]; DUp = new float[s * f]; DLn = new float[s * d]; DAttn = new float[s * d];
        DQ = new float[s * d]; DK = new float[s * d]; DV = new float[s * d]; DInput = new float[s * d]; Scratch = new float[s];
    }
}
