namespace TokenSieve.Checkpoints;

/// <summary>What a tensor is, for initialisers and optimisers: a weight matrix (or conv kernel), a
/// bias, a norm's weight or bias, or an embedding table.</summary>
internal enum TensorKind
{
    Matrix,
    Bias,
    NormWeight,
    NormBias,
    Embedding,
}

/// <summary>One tensor of a checkpoint: its llava-hf name, shape and kind, and the fan-in of a
/// matrix (inputs per output).</summary>
internal sealed record TensorSpec(string Name, int[] Shape, TensorKind Kind, int FanIn = 0)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>The one tensor-name schema of a LLaVA-1.5 checkpoint (CLIP tower, projector, LLaMA
/// decoder): every tensor with its name, shape and kind, in one order. The loader's
/// unexpected-tensor check, the synthetic checkpoints, the lab's parameters and the benchmarks'
/// checkpoints all read it; the model parts load the same names through <see cref="TensorNames"/>.</summary>
internal static class LlavaSchema
{
    /// <summary>Every tensor, in the order the lab's parameter buffer uses: vision (embeddings, pre-norm,
    /// layers, post-norm), projector, decoder (embeddings, layers, final norm, lm_head unless tied).</summary>
    public static IEnumerable<TensorSpec> Tensors(ClipVisionConfig v, LlamaConfig t, bool projectorBias = true) =>
        Vision(v).Concat(Projector(v.HiddenSize, t.HiddenSize, projectorBias)).Concat(Decoder(t));

    /// <summary>Every tensor of a model of any LLaVA variant: LLaVA-NeXT adds <c>image_newline</c>
    /// after the projector; Video-LLaVA has an image tower and a video tower instead of one.</summary>
    public static IEnumerable<TensorSpec> Tensors(LlavaConfig c)
    {
        var towers = c.Variant == LlavaVariant.VideoLlava
            ? Vision(c.Vision, new ClipTowerNames(TensorNames.ImageTower)).Concat(Vision(c.Vision, new ClipTowerNames(TensorNames.VideoTower)))
            : Vision(c.Vision);
        var newline = c.Variant == LlavaVariant.LlavaNext ? [new TensorSpec(TensorNames.ImageNewline, [c.Text.HiddenSize], TensorKind.Embedding, c.Text.HiddenSize)] : Array.Empty<TensorSpec>();
        return towers.Concat(Projector(c.Vision.HiddenSize, c.Text.HiddenSize, c.ProjectorBias)).Concat(newline).Concat(Decoder(c.Text));
    }

    public static IEnumerable<TensorSpec> Vision(ClipVisionConfig v) => Vision(v, TensorNames.Clip);

    public static IEnumerable<TensorSpec> Vision(ClipVisionConfig v, ClipTowerNames names)
    {
        int c = v.HiddenSize;
        yield return new(names.ClassEmbedding, [c], TensorKind.Embedding, c);
        yield return new(names.PatchEmbedding, [c, v.NumChannels, v.PatchSize, v.PatchSize], TensorKind.Matrix, v.NumChannels * v.PatchSize * v.PatchSize);
        yield return new(names.PositionEmbedding, [v.SequenceLength, c], TensorKind.Embedding, c);
        foreach (var ln in LayerNorm(names.PreLayerNorm, c)) yield return ln;
        for (int i = 0; i < v.NumHiddenLayers; i++)
        {
            var n = names.LayerNames(i);
            foreach (var p in new[] { n.Q, n.K, n.V, n.Out })
                foreach (var x in Linear(p, c, c, bias: true)) yield return x;
            foreach (var ln in LayerNorm(n.LayerNorm1, c)) yield return ln;
            foreach (var x in Linear(n.Fc1, v.IntermediateSize, c, bias: true)) yield return x;
            foreach (var x in Linear(n.Fc2, c, v.IntermediateSize, bias: true)) yield return x;
            foreach (var ln in LayerNorm(n.LayerNorm2, c)) yield return ln;
        }
        // post_layernorm is stored in every CLIP checkpoint but unused by LLaVA.
        foreach (var ln in LayerNorm(names.PostLayerNorm, c)) yield return ln;
    }

    public static IEnumerable<TensorSpec> Projector(int visionHidden, int textHidden, bool bias) =>
        Linear(TensorNames.ProjectorLinear1, textHidden, visionHidden, bias).Concat(Linear(TensorNames.ProjectorLinear2, textHidden, textHidden, bias));

    public static IEnumerable<TensorSpec> Decoder(LlamaConfig t) => DecoderSchema.Tensors(t, DecoderTensorNames.Llava);

    internal static IEnumerable<TensorSpec> Linear(string prefix, int outputs, int inputs, bool bias)
    {
        yield return new(prefix + "weight", [outputs, inputs], TensorKind.Matrix, inputs);
        if (bias) yield return new(prefix + "bias", [outputs], TensorKind.Bias, inputs);
    }

    internal static IEnumerable<TensorSpec> LayerNorm(string prefix, int dim)
    {
        yield return new(prefix + "weight", [dim], TensorKind.NormWeight);
        yield return new(prefix + "bias", [dim], TensorKind.NormBias);
    }
}
