using System.Numerics.Tensors;
using TokenSieve.Checkpoints;

namespace TokenSieve.Lab.Training;

/// <summary>A training sequence: token ids with <see cref="LabModelConfig.ImageTokenIndex"/> at the
/// image positions (one per patch), and the positions whose next token is supervised.</summary>
public sealed record LabSequence(int[] Tokens, int[] TargetPositions, int[] Targets);

/// <summary>The lab LLaVA for training: parameters plus the explicit forward and backward passes of
/// the three parts, written as calls to <see cref="Layers"/> in the order of HF's modeling code
/// (modeling_clip.py, modeling_llava.py, modeling_llama.py).</summary>
public sealed class LabModel
{
    public LabModelConfig Config { get; }
    public LabParameters Parameters { get; }
    /// <summary>Transposed copies of the matrices ([in, out]) for the forward matmuls; refreshed
    /// after every optimiser step by <see cref="RefreshTransposed"/>.</summary>
    internal float[] Transposed { get; }
    internal readonly float[] RopeCos, RopeSin;

    internal sealed record VisionLayerRefs(ParameterInfo Q, ParameterInfo Qb, ParameterInfo K, ParameterInfo Kb, ParameterInfo V, ParameterInfo Vb,
        ParameterInfo O, ParameterInfo Ob, ParameterInfo Ln1, ParameterInfo Ln1b, ParameterInfo Fc1, ParameterInfo Fc1b, ParameterInfo Fc2, ParameterInfo Fc2b,
        ParameterInfo Ln2, ParameterInfo Ln2b);
    internal sealed record TextLayerRefs(ParameterInfo Q, ParameterInfo K, ParameterInfo V, ParameterInfo O, ParameterInfo Gate, ParameterInfo Up, ParameterInfo Down,
        ParameterInfo InputNorm, ParameterInfo PostNorm);

    internal readonly ParameterInfo ClassEmb, PatchEmb, PosEmb, PreLn, PreLnB, PostLn, PostLnB, Proj1, Proj1b, Proj2, Proj2b, Embed, FinalNorm, LmHead, ClsHead, ClsHeadB, PatchHead, PatchHeadB;
    internal readonly VisionLayerRefs[] VisionLayers;
    internal readonly TextLayerRefs[] TextLayers;

    public LabModel(LabModelConfig config, int clsHeadOutputs = -1)
    {
        Config = config;
        Parameters = new LabParameters(config, clsHeadOutputs < 0 ? ClsObjective.Outputs : clsHeadOutputs);
        Transposed = new float[Parameters.Count];
        (RopeCos, RopeSin) = Layers.RopeTables(config.MaxPositions, config.TextHeadDim, config.RopeTheta);
        var p = Parameters;
        ClassEmb = p[TensorNames.ClassEmbedding]; PatchEmb = p[TensorNames.PatchEmbedding]; PosEmb = p[TensorNames.PositionEmbedding];
        PreLn = p[TensorNames.PreLayerNorm + "weight"]; PreLnB = p[TensorNames.PreLayerNorm + "bias"];
        PostLn = p[TensorNames.PostLayerNorm + "weight"]; PostLnB = p[TensorNames.PostLayerNorm + "bias"];
        Proj1 = p[TensorNames.ProjectorLinear1 + "weight"]; Proj1b = p[TensorNames.ProjectorLinear1 + "bias"];
        Proj2 = p[TensorNames.ProjectorLinear2 + "weight"]; Proj2b = p[TensorNames.ProjectorLinear2 + "bias"];
        Embed = p[TensorNames.EmbedTokens]; FinalNorm = p[TensorNames.FinalNorm]; LmHead = p[TensorNames.LmHead];
        ClsHead = p[LabParameters.ClsHeadWeight]; ClsHeadB = p[LabParameters.ClsHeadBias];
        PatchHead = p[LabParameters.PatchHeadWeight]; PatchHeadB = p[LabParameters.PatchHeadBias];
        VisionLayers = Enumerable.Range(0, config.VisionLayers).Select(l =>
        {
            string n = TensorNames.VisionLayer(l);
            ParameterInfo G(string s) => p[n + s];
            return new VisionLayerRefs(G("self_attn.q_proj.weight"), G("self_attn.q_proj.bias"), G("self_attn.k_proj.weight"), G("self_attn.k_proj.bias"),
                G("self_attn.v_proj.weight"), G("self_attn.v_proj.bias"), G("self_attn.out_proj.weight"), G("self_attn.out_proj.bias"),
                G("layer_norm1.weight"), G("layer_norm1.bias"), G("mlp.fc1.weight"), G("mlp.fc1.bias"), G("mlp.fc2.weight"), G("mlp.fc2.bias"),
                G("layer_norm2.weight"), G("layer_norm2.bias"));
        }).ToArray();
        TextLayers = Enumerable.Range(0, config.TextLayers).Select(l =>
        {
            string n = TensorNames.LlmLayer(l);
            ParameterInfo G(string s) => p[n + s];
            return new TextLayerRefs(G("self_attn.q_proj.weight"), G("self_attn.k_proj.weight"), G("self_attn.v_proj.weight"), G("self_attn.o_proj.weight"),
                G("mlp.gate_proj.weight"), G("mlp.up_proj.weight"), G("mlp.down_proj.weight"), G("input_layernorm.weight"), G("post_attention_layernorm.weight"));
        }).ToArray();
    }

    public void Initialise(ulong seed)
    {
        Parameters.Initialise(seed);
        RefreshTransposed();
    }

    /// <summary>Rebuilds the transposed matrices from <see cref="LabParameters.Data"/>; call after
    /// changing the parameters.</summary>
    public void RefreshTransposed()
    {
        foreach (var p in Parameters.List)
        {
            if (p.Shape.Length < 2) continue;
            int rows = p.Shape[0], cols = p.Length / rows;
            MatMul.Transpose(Parameters.Data.AsSpan(p.Offset, p.Length), Transposed.AsSpan(p.Offset, p.Length), rows, cols);
        }
    }

    internal Span<float> W(ParameterInfo p) => Parameters.Data.AsSpan(p.Offset, p.Length);
    internal Span<float> WT(ParameterInfo p) => Transposed.AsSpan(p.Offset, p.Length);
    internal static Span<float> G(float[] grads, ParameterInfo p) => grads.AsSpan(p.Offset, p.Length);

    // ================================================================= vision tower
    /// <summary>CLIP forward on CHW pixels [3, S, S] through <paramref name="layers"/> encoder
    /// layers; acts.Hidden[i] = hidden_states[i] (0 = after pre_layrnorm).</summary>
    public void VisionForward(ReadOnlySpan<float> pixels, VisionActivations a, int layers)
    {
        var c = Config;
        int n = c.VisionTokens, d = c.VisionHidden, f = c.VisionIntermediate, np = c.NumPatches;
        Layers.Im2Col(pixels, a.Patches, LabModelConfig.Channels, c.ImageSize, c.PatchSize);
        Layers.LinearForward(a.Patches, WT(PatchEmb), default, a.PatchOut, np, c.PatchInputs, d);
        Layers.EmbeddingsForward(a.PatchOut, W(ClassEmb), W(PosEmb), a.Embeddings, np, d);
        Layers.LayerNormForward(a.Embeddings, W(PreLn), W(PreLnB), a.Hidden[0], a.PreMean, a.PreRstd, n, d, c.VisionLayerNormEps);
        for (int l = 0; l < layers; l++)
        {
            var r = VisionLayers[l];
            var s = a.Layer[l];
            Layers.LayerNormForward(a.Hidden[l], W(r.Ln1), W(r.Ln1b), s.Ln1, s.Mean1, s.Rstd1, n, d, c.VisionLayerNormEps);
            Layers.LinearForward(s.Ln1, WT(r.Q), W(r.Qb), s.Q, n, d, d);
            Layers.LinearForward(s.Ln1, WT(r.K), W(r.Kb), s.K, n, d, d);
            Layers.LinearForward(s.Ln1, WT(r.V), W(r.Vb), s.V, n, d, d);
            Layers.AttentionForward(s.Q, s.K, s.V, s.Attn, s.Probs, n, c.VisionHeads, c.VisionHeadDim, causal: false);
            Layers.LinearForward(s.Attn, WT(r.O), W(r.Ob), s.Mid, n, d, d);
            TensorPrimitives.Add(s.Mid, a.Hidden[l], s.Mid);
            Layers.LayerNormForward(s.Mid, W(r.Ln2), W(r.Ln2b), s.Ln2, s.Mean2, s.Rstd2, n, d, c.VisionLayerNormEps);
            Layers.LinearForward(s.Ln2, WT(r.Fc1), W(r.Fc1b), s.Fc1, n, d, f);
            Layers.QuickGeluForward(s.Fc1, s.Act);
            Layers.LinearForward(s.Act, WT(r.Fc2), W(r.Fc2b), a.Hidden[l + 1], n, f, d);
            TensorPrimitives.Add(a.Hidden[l + 1], s.Mid, a.Hidden[l + 1]);
        }
    }

    /// <summary>Backward of <see cref="VisionForward"/>: dTop [N,D] is the gradient of
    /// hidden_states[layers]; <paramref name="dExtra"/> (optional) is added to the gradient of
    /// hidden_states[<paramref name="extraIndex"/>] on the way down. Accumulates parameter gradients
    /// into <paramref name="grads"/>; dTop is used as scratch.</summary>
    public void VisionBackward(Span<float> dTop, VisionActivations a, int layers, float[] grads, ReadOnlySpan<float> dExtra = default, int extraIndex = -1)
    {
        var c = Config;
        int n = c.VisionTokens, d = c.VisionHidden, f = c.VisionIntermediate, np = c.NumPatches;
        var dCur = dTop;
        var dPrev = a.DPrev.AsSpan();
        for (int l = layers - 1; l >= 0; l--)
        {
            var r = VisionLayers[l];
            var s = a.Layer[l];
            if (l + 1 == extraIndex) TensorPrimitives.Add(dCur[..(n * d)], dExtra[..(n * d)], dCur);
            // h_{l+1} = mid + fc2(quick_gelu(fc1(ln2(mid))))
            dCur.CopyTo(a.DMid);
            a.DAct.AsSpan().Clear();
            Layers.LinearBackward(dCur, s.Act, W(r.Fc2), a.DAct, G(grads, r.Fc2), G(grads, r.Fc2b), n, f, d);
            a.DFc1.AsSpan().Clear();
            Layers.QuickGeluBackward(a.DAct, s.Fc1, a.DFc1);
            a.DLn.AsSpan().Clear();
            Layers.LinearBackward(a.DFc1, s.Ln2, W(r.Fc1), a.DLn, G(grads, r.Fc1), G(grads, r.Fc1b), n, d, f);
            Layers.LayerNormBackward(a.DLn, s.Mid, W(r.Ln2), s.Mean2, s.Rstd2, a.DMid, G(grads, r.Ln2), G(grads, r.Ln2b), n, d);
            // mid = h_l + out_proj(attention(q, k, v)(ln1(h_l)))
            a.DAttn.AsSpan().Clear();
            Layers.LinearBackward(a.DMid, s.Attn, W(r.O), a.DAttn, G(grads, r.O), G(grads, r.Ob), n, d, d);
            a.DQ.AsSpan().Clear(); a.DK.AsSpan().Clear(); a.DV.AsSpan().Clear();
            Layers.AttentionBackward(a.DAttn, s.Q, s.K, s.V, s.Probs, a.DQ, a.DK, a.DV, a.Scratch, n, c.VisionHeads, c.VisionHeadDim, causal: false);
            a.DLn.AsSpan().Clear();
            Layers.LinearBackward(a.DQ, s.Ln1, W(r.Q), a.DLn, G(grads, r.Q), G(grads, r.Qb), n, d, d);
            Layers.LinearBackward(a.DK, s.Ln1, W(r.K), a.DLn, G(grads, r.K), G(grads, r.Kb), n, d, d);
            Layers.LinearBackward(a.DV, s.Ln1, W(r.V), a.DLn, G(grads, r.V), G(grads, r.Vb), n, d, d);
            a.DMid.AsSpan().CopyTo(dPrev);
            Layers.LayerNormBackward(a.DLn, a.Hidden[l], W(r.Ln1), s.Mean1, s.Rstd1, dPrev, G(grads, r.Ln1), G(grads, r.Ln1b), n, d);
            var t = dCur; dCur = dPrev; dPrev = t;
        }
        var dEmb = a.DEmb.AsSpan();
        dEmb.Clear();
        Layers.LayerNormBackward(dCur, a.Embeddings, W(PreLn), a.PreMean, a.PreRstd, dEmb, G(grads, PreLn), G(grads, PreLnB), n, d);
        a.DPatchOut.AsSpan().Clear();
        Layers.EmbeddingsBackward(dEmb, a.DPatchOut, G(grads, ClassEmb), G(grads, PosEmb), np, d);
        Layers.LinearBackward(a.DPatchOut, a.Patches, W(PatchEmb), default, G(grads, PatchEmb), default, np, c.PatchInputs, d);
    }

    /// <summary>Stage-1 head on the final [CLS] state: post_layernorm, then a linear map to the
    /// <see cref="ClsObjective"/> outputs. Writes logits [K].</summary>
    public void ClsHeadForward(VisionActivations a, Span<float> logits)
    {
        int d = Config.VisionHidden, k = Parameters.ClsHeadOutputs;
        var cls = a.Hidden[Config.VisionLayers].AsSpan(0, d);
        Layers.LayerNormForward(cls, W(PostLn), W(PostLnB), a.PostLn, a.PostMean, a.PostRstd, 1, d, Config.VisionLayerNormEps);
        Layers.LinearForward(a.PostLn, WT(ClsHead), W(ClsHeadB), logits, 1, d, k);
    }

    /// <summary>Backward of <see cref="ClsHeadForward"/>; writes the gradient of the last hidden
    /// state into dTop [N,D] (zero except the [CLS] row).</summary>
    public void ClsHeadBackward(ReadOnlySpan<float> dlogits, VisionActivations a, Span<float> dTop, float[] grads)
    {
        int d = Config.VisionHidden, k = Parameters.ClsHeadOutputs;
        var dPost = a.DPost.AsSpan();
        dPost.Clear();
        Layers.LinearBackward(dlogits, a.PostLn, W(ClsHead), dPost, G(grads, ClsHead), G(grads, ClsHeadB), 1, d, k);
        dTop[..(Config.VisionTokens * d)].Clear();
        Layers.LayerNormBackward(dPost, a.Hidden[Config.VisionLayers].AsSpan(0, d), W(PostLn), a.PostMean, a.PostRstd, dTop[..d], G(grads, PostLn), G(grads, PostLnB), 1, d);
    }

    /// <summary>Stage-1 dense head: a linear map from every patch row of hidden_states[feature layer]
    /// to <see cref="PatchObjective"/>'s outputs. Writes logits [P, K].</summary>
    public void PatchHeadForward(VisionActivations a, Span<float> logits)
    {
        int d = Config.VisionHidden;
        Layers.LinearForward(a.Hidden[Config.FeatureLayers].AsSpan(d), WT(PatchHead), W(PatchHeadB), logits, Config.NumPatches, d, PatchObjective.Outputs);
    }

    /// <summary>Writes the gradient of hidden_states[feature layer] into dHidden [N, D] ([CLS] row zero).</summary>
    public void PatchHeadBackward(ReadOnlySpan<float> dlogits, VisionActivations a, Span<float> dHidden, float[] grads)
    {
        int d = Config.VisionHidden;
        dHidden[..(Config.VisionTokens * d)].Clear();
        Layers.LinearBackward(dlogits, a.Hidden[Config.FeatureLayers].AsSpan(d), W(PatchHead), dHidden[d..], G(grads, PatchHead), G(grads, PatchHeadB), Config.NumPatches, d, PatchObjective.Outputs);
    }

    // ================================================================= projector
    /// <summary>features [P, Dv] (hidden_states[feature layer] without [CLS]) → linear_1 → GELU → linear_2 → [P, Dt].</summary>
    public void ProjectorForward(ReadOnlySpan<float> features, ProjectorActivations a, int rows)
    {
        int dv = Config.VisionHidden, dt = Config.TextHidden;
        features[..(rows * dv)].CopyTo(a.Features);
        Layers.LinearForward(a.Features, WT(Proj1), W(Proj1b), a.Linear1, rows, dv, dt);
        Layers.GeluForward(a.Linear1.AsSpan(0, rows * dt), a.Gelu);
        Layers.LinearForward(a.Gelu, WT(Proj2), W(Proj2b), a.Output, rows, dt, dt);
    }

    /// <summary>dOut [P, Dt] → parameter gradients, and dFeatures [P, Dv] (+=) unless empty.</summary>
    public void ProjectorBackward(ReadOnlySpan<float> dOut, ProjectorActivations a, int rows, Span<float> dFeatures, float[] grads)
    {
        int dv = Config.VisionHidden, dt = Config.TextHidden;
        var dG = a.DGelu.AsSpan(0, rows * dt);
        dG.Clear();
        Layers.LinearBackward(dOut, a.Gelu, W(Proj2), dG, G(grads, Proj2), G(grads, Proj2b), rows, dt, dt);
        var dL1 = a.DLinear1.AsSpan(0, rows * dt);
        dL1.Clear();
        Layers.GeluBackward(dG, a.Linear1.AsSpan(0, rows * dt), dL1);
        Layers.LinearBackward(dL1, a.Features, W(Proj1), dFeatures, G(grads, Proj1), G(grads, Proj1b), rows, dv, dt);
    }

    // ================================================================= decoder
    /// <summary>LLaMA forward over the merged sequence. inputsEmbeds [S, D] is in a.Input (built by
    /// <see cref="BuildInputs"/>); positions are 0..S−1. Computes logits [T, V] at the T rows in
    /// <paramref name="logitRows"/> (all rows when null) into a.Logits.</summary>
    public void DecoderForward(DecoderActivations a, int s, ReadOnlySpan<int> logitRows)
    {
        var c = Config;
        int d = c.TextHidden, f = c.TextIntermediate;
        if (s > c.MaxPositions) throw new ArgumentException($"sequence of {s} tokens exceeds max_position_embeddings {c.MaxPositions}");
        a.Length = s;
        a.Input.AsSpan(0, s * d).CopyTo(a.Hidden[0]);
        for (int l = 0; l < c.TextLayers; l++)
        {
            var r = TextLayers[l];
            var st = a.Layer[l];
            Layers.RmsNormForward(a.Hidden[l], W(r.InputNorm), st.Ln1, st.Rstd1, s, d, c.RmsNormEps);
            Layers.LinearForward(st.Ln1, WT(r.Q), default, st.Q, s, d, d);
            Layers.LinearForward(st.Ln1, WT(r.K), default, st.K, s, d, d);
            Layers.LinearForward(st.Ln1, WT(r.V), default, st.V, s, d, d);
            Layers.RopeForward(st.Q, RopeCos, RopeSin, s, c.TextHeads, c.TextHeadDim);
            Layers.RopeForward(st.K, RopeCos, RopeSin, s, c.TextHeads, c.TextHeadDim);
            Layers.AttentionForward(st.Q, st.K, st.V, st.Attn, st.Probs, s, c.TextHeads, c.TextHeadDim, causal: true);
            Layers.LinearForward(st.Attn, WT(r.O), default, st.Mid, s, d, d);
            TensorPrimitives.Add(st.Mid.AsSpan(0, s * d), a.Hidden[l].AsSpan(0, s * d), st.Mid);
            Layers.RmsNormForward(st.Mid, W(r.PostNorm), st.Ln2, st.Rstd2, s, d, c.RmsNormEps);
            Layers.LinearForward(st.Ln2, WT(r.Gate), default, st.Gate, s, d, f);
            Layers.LinearForward(st.Ln2, WT(r.Up), default, st.Up, s, d, f);
            Layers.SwiGluForward(st.Gate.AsSpan(0, s * f), st.Up, st.Swi);
            Layers.LinearForward(st.Swi, WT(r.Down), default, a.Hidden[l + 1], s, f, d);
            TensorPrimitives.Add(a.Hidden[l + 1].AsSpan(0, s * d), st.Mid.AsSpan(0, s * d), a.Hidden[l + 1]);
        }
        Layers.RmsNormForward(a.Hidden[c.TextLayers], W(FinalNorm), a.Final, a.FinalRstd, s, d, c.RmsNormEps);
        int t = logitRows.IsEmpty ? s : logitRows.Length;
        for (int i = 0; i < t; i++)
            a.Final.AsSpan((logitRows.IsEmpty ? i : logitRows[i]) * d, d).CopyTo(a.Gathered.AsSpan(i * d, d));
        a.LogitRows = t;
        Layers.LinearForward(a.Gathered, WT(LmHead), default, a.Logits, t, d, c.VocabSize);
    }

    /// <summary>inputs_embeds: embed_tokens rows for text tokens, the projector's rows (in order) at
    /// the image-token positions, as LlavaForConditionalGeneration merges them.</summary>
    public void BuildInputs(ReadOnlySpan<int> tokens, ReadOnlySpan<float> imageRows, DecoderActivations a)
    {
        int d = Config.TextHidden, img = 0;
        var embed = W(Embed);
        for (int t = 0; t < tokens.Length; t++)
        {
            var dst = a.Input.AsSpan(t * d, d);
            if (tokens[t] == Config.ImageTokenIndex) imageRows.Slice(img++ * d, d).CopyTo(dst);
            else embed.Slice(tokens[t] * d, d).CopyTo(dst);
        }
        if (img * d != imageRows.Length && !imageRows.IsEmpty)
            throw new ArgumentException($"sequence has {img} image tokens but {imageRows.Length / d} image rows were given");
    }

    /// <summary>Backward of <see cref="DecoderForward"/> from dlogits [T, V] (for the same rows);
    /// leaves d inputs_embeds [S, D] in a.DInput.</summary>
    public void DecoderBackward(ReadOnlySpan<float> dlogits, ReadOnlySpan<int> logitRows, DecoderActivations a, float[] grads)
    {
        var c = Config;
        int s = a.Length, d = c.TextHidden, f = c.TextIntermediate, t = a.LogitRows;
        var dGathered = a.DGathered.AsSpan(0, t * d);
        dGathered.Clear();
        Layers.LinearBackward(dlogits, a.Gathered, W(LmHead), dGathered, G(grads, LmHead), default, t, d, c.VocabSize);
        var dFinal = a.DFinal.AsSpan(0, s * d);
        dFinal.Clear();
        for (int i = 0; i < t; i++)
        {
            var row = dFinal.Slice((logitRows.IsEmpty ? i : logitRows[i]) * d, d);
            TensorPrimitives.Add(row, dGathered.Slice(i * d, d), row);
        }
        var dCur = a.DCur.AsSpan(0, s * d);
        var dPrev = a.DPrev.AsSpan(0, s * d);
        dCur.Clear();
        Layers.RmsNormBackward(dFinal, a.Hidden[c.TextLayers], W(FinalNorm), a.FinalRstd, dCur, G(grads, FinalNorm), s, d);
        for (int l = c.TextLayers - 1; l >= 0; l--)
        {
            var r = TextLayers[l];
            var st = a.Layer[l];
            var dMid = a.DMid.AsSpan(0, s * d);
            dCur.CopyTo(dMid);
            var dSwi = a.DSwi.AsSpan(0, s * f);
            dSwi.Clear();
            Layers.LinearBackward(dCur, st.Swi, W(r.Down), dSwi, G(grads, r.Down), default, s, f, d);
            var dGate = a.DGate.AsSpan(0, s * f);
            var dUp = a.DUp.AsSpan(0, s * f);
            dGate.Clear(); dUp.Clear();
            Layers.SwiGluBackward(dSwi, st.Gate.AsSpan(0, s * f), st.Up, dGate, dUp);
            var dLn = a.DLn.AsSpan(0, s * d);
            dLn.Clear();
            Layers.LinearBackward(dGate, st.Ln2, W(r.Gate), dLn, G(grads, r.Gate), default, s, d, f);
            Layers.LinearBackward(dUp, st.Ln2, W(r.Up), dLn, G(grads, r.Up), default, s, d, f);
            Layers.RmsNormBackward(dLn, st.Mid, W(r.PostNorm), st.Rstd2, dMid, G(grads, r.PostNorm), s, d);
            var dAttn = a.DAttn.AsSpan(0, s * d);
            dAttn.Clear();
            Layers.LinearBackward(dMid, st.Attn, W(r.O), dAttn, G(grads, r.O), default, s, d, d);
            var dQ = a.DQ.AsSpan(0, s * d); var dK = a.DK.AsSpan(0, s * d); var dV = a.DV.AsSpan(0, s * d);
            dQ.Clear(); dK.Clear(); dV.Clear();
            Layers.AttentionBackward(dAttn, st.Q, st.K, st.V, st.Probs, dQ, dK, dV, a.Scratch, s, c.TextHeads, c.TextHeadDim, causal: true);
            Layers.RopeBackward(dQ, RopeCos, RopeSin, s, c.TextHeads, c.TextHeadDim);
            Layers.RopeBackward(dK, RopeCos, RopeSin, s, c.TextHeads, c.TextHeadDim);
            dLn.Clear();
            Layers.LinearBackward(dQ, st.Ln1, W(r.Q), dLn, G(grads, r.Q), default, s, d, d);
            Layers.LinearBackward(dK, st.Ln1, W(r.K), dLn, G(grads, r.K), default, s, d, d);
            Layers.LinearBackward(dV, st.Ln1, W(r.V), dLn, G(grads, r.V), default, s, d, d);
            dMid.CopyTo(dPrev);
            Layers.RmsNormBackward(dLn, a.Hidden[l], W(r.InputNorm), st.Rstd1, dPrev, G(grads, r.InputNorm), s, d);
            var tmp = dCur; dCur = dPrev; dPrev = tmp;
        }
        dCur.CopyTo(a.DInput);
    }

    /// <summary>Scatters d inputs_embeds: text rows into embed_tokens' gradient, image rows (in
    /// order) into dImageRows [P, D].</summary>
    public void InputsBackward(ReadOnlySpan<int> tokens, DecoderActivations a, Span<float> dImageRows, float[] grads)
    {
        int d = Config.TextHidden, img = 0;
        var dEmbed = G(grads, Embed);
        for (int t = 0; t < tokens.Length; t++)
        {
            var src = a.DInput.AsSpan(t * d, d);
            if (tokens[t] == Config.ImageTokenIndex) src.CopyTo(dImageRows.Slice(img++ * d, d));
            else
            {
                var row = dEmbed.Slice(tokens[t] * d, d);
                TensorPrimitives.Add(row, src, row);
            }
        }
    }
}
