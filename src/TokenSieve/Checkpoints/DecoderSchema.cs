namespace TokenSieve.Checkpoints;

/// <summary>Where a checkpoint keeps its LLaMA-family decoder: the prefix of embed_tokens, layers and
/// the final norm, and the lm_head's full name (canonical spellings, <see cref="CheckpointReader"/>).</summary>
internal sealed record DecoderTensorNames(string Prefix, string LmHead)
{
    /// <summary>LLaVA's <c>language_model.model.*</c> and <c>language_model.lm_head.weight</c>.</summary>
    public static DecoderTensorNames Llava { get; } = new(TensorNames.Llm, TensorNames.LmHead);

    public string EmbedTokens => Prefix + "embed_tokens.weight";

    public string FinalNorm => Prefix + "norm.weight";

    /// <summary>Decoder layer i: full names of the two RMSNorm weights, prefixes of the projections.</summary>
    public LlamaLayerNames Layer(int i)
    {
        string p = $"{Prefix}layers.{i}.";
        return new LlamaLayerNames(p + "input_layernorm.weight", p + "self_attn.q_proj.", p + "self_attn.k_proj.", p + "self_attn.v_proj.", p + "self_attn.o_proj.",
            p + "post_attention_layernorm.weight", p + "mlp.gate_proj.", p + "mlp.up_proj.", p + "mlp.down_proj.");
    }
}

/// <summary>The tensors of a LLaMA-family decoder (LLaMA; Qwen2 adds q/k/v biases), in the order the
/// lab's parameter buffer uses: embeddings, layers, final norm, lm_head unless tied.</summary>
internal static class DecoderSchema
{
    public static IEnumerable<TensorSpec> Tensors(LlamaConfig t, DecoderTensorNames names)
    {
        int d = t.HiddenSize, kv = t.KvDim, m = t.IntermediateSize;
        yield return new(names.EmbedTokens, [t.VocabSize, d], TensorKind.Embedding, 1);
        for (int i = 0; i < t.NumHiddenLayers; i++)
        {
            var n = names.Layer(i);
            foreach (var x in LlavaSchema.Linear(n.Q, d, d, t.AttentionBias)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.K, kv, d, t.AttentionBias)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.V, kv, d, t.AttentionBias)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.O, d, d, false)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.Gate, m, d, false)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.Up, m, d, false)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.Down, d, m, false)) yield return x;
            yield return new(n.InputNorm, [d], TensorKind.NormWeight);
            yield return new(n.PostNorm, [d], TensorKind.NormWeight);
        }
        yield return new(names.FinalNorm, [d], TensorKind.NormWeight);
        if (!t.TieWordEmbeddings) yield return new(names.LmHead, [t.VocabSize, d], TensorKind.Matrix, d);
    }
}
