namespace TokenSieve.Checkpoints;

/// <summary>The one tensor-name table of a Qwen2-VL checkpoint, in transformers 4.45's spelling:
/// <c>visual.patch_embed.proj.weight</c> [E, C, T, P, P]; <c>visual.blocks.N.{norm1, attn.qkv, attn.proj,
/// norm2, mlp.fc1, mlp.fc2}</c>; <c>visual.merger.{ln_q, mlp.0, mlp.2}</c>; the Qwen2 decoder under
/// <c>model.</c> (q/k/v with biases) and <c>lm_head.weight</c> unless tied. Checkpoints re-saved by later
/// transformers (<c>model.visual.*</c>, <c>model.language_model.*</c>) are read through
/// <see cref="Canonical"/>.</summary>
internal static class Qwen2VlSchema
{
    public const string Visual = "visual.";
    public const string PatchEmbed = Visual + "patch_embed.proj.weight";
    public const string MergerNorm = Visual + "merger.ln_q.";
    public const string MergerFc1 = Visual + "merger.mlp.0.";
    public const string MergerFc2 = Visual + "merger.mlp.2.";

    public static DecoderTensorNames Decoder { get; } = new("model.", "lm_head.weight");

    /// <summary>Prefixes (each followed by "weight" / "bias") of vision block i.</summary>
    public static Qwen2VlBlockNames Block(int i)
    {
        string p = $"{Visual}blocks.{i}.";
        return new Qwen2VlBlockNames(p + "norm1.", p + "attn.qkv.", p + "attn.proj.", p + "norm2.", p + "mlp.fc1.", p + "mlp.fc2.");
    }

    /// <summary>(newer prefix, 4.45 prefix): transformers ≥ 4.52 nests the tower and the decoder under <c>model.</c>.</summary>
    static readonly (string From, string To)[] Renames = [("model.language_model.", "model."), ("model.visual.", Visual)];

    public static string Canonical(string name)
    {
        foreach (var (from, to) in Renames)
            if (name.StartsWith(from, StringComparison.Ordinal)) return to + name[from.Length..];
        return name;
    }

    /// <summary>Every tensor: the tower (patch embedding, blocks, merger), then the decoder.</summary>
    public static IEnumerable<TensorSpec> Tensors(Qwen2VlConfig c) => Vision(c.Vision).Concat(DecoderSchema.Tensors(c.Text, Decoder));

    public static IEnumerable<TensorSpec> Vision(Qwen2VlVisionConfig v)
    {
        int e = v.EmbedDim, m = v.MlpHiddenSize, merged = v.MergedDim;
        yield return new(PatchEmbed, [e, v.InChannels, v.TemporalPatchSize, v.PatchSize, v.PatchSize], TensorKind.Matrix, v.PatchLength);
        for (int i = 0; i < v.Depth; i++)
        {
            var n = Block(i);
            foreach (var x in LlavaSchema.LayerNorm(n.Norm1, e)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.Qkv, 3 * e, e, bias: true)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.Proj, e, e, bias: true)) yield return x;
            foreach (var x in LlavaSchema.LayerNorm(n.Norm2, e)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.Fc1, m, e, bias: true)) yield return x;
            foreach (var x in LlavaSchema.Linear(n.Fc2, e, m, bias: true)) yield return x;
        }
        foreach (var x in LlavaSchema.LayerNorm(MergerNorm, e)) yield return x;
        foreach (var x in LlavaSchema.Linear(MergerFc1, merged, merged, bias: true)) yield return x;
        foreach (var x in LlavaSchema.Linear(MergerFc2, v.HiddenSize, merged, bias: true)) yield return x;
    }
}

/// <summary>Prefixes of one Qwen2-VL vision block's tensors.</summary>
internal sealed record Qwen2VlBlockNames(string Norm1, string Qkv, string Proj, string Norm2, string Fc1, string Fc2);
