using TokenSieve.Checkpoints;
using TokenSieve.Numerics;
using TokenSieve.Reduction;

namespace TokenSieve.Models;

/// <summary>What a caller wants from a vision forward besides the features.</summary>
[Flags]
public enum VisionTaps
{
    None = 0,
    /// <summary>Every hidden state 0..L (runs all layers; for parity dumps).</summary>
    AllHiddenStates = 1,
    /// <summary>Full softmax maps of every layer that runs, [heads, T, T] (small models and dumps only).</summary>
    AllAttentions = 2,
    /// <summary>Per-head [CLS] softmax rows of the feature layer (the layer whose output is the features), [heads, T].</summary>
    FeatureLayerClsAttention = 4,
    /// <summary>The feature layer's raw k_proj output (with bias), [T, C].</summary>
    FeatureLayerKeys = 8,
    /// <summary>The next layer's raw q_proj/k_proj outputs on LN1(features), [T, C] each (PruMerge's "last layer" q/k).</summary>
    NextLayerQK = 16,
}

/// <summary>ToMe inside the tower: merge Schedule[l] tokens in layer l (between attention and MLP),
/// with proportional attention (log-size key bias) when asked.</summary>
public sealed record VisionMerging(ToMeTracker Tracker, int[] Schedule, bool ProportionalAttention);

/// <summary>Results of one vision forward. Arrays are owned by the tower and overwritten by its next forward.</summary>
public sealed class VisionOutputs
{
    /// <summary>Tokens in the sequence: [CLS] + patches.</summary>
    public int Tokens { get; internal set; }
    public int Channels { get; internal set; }
    public int Heads { get; internal set; }
    public int GridSize { get; internal set; }
    /// <summary>hidden_states[feature index], [CLS] first: [Tokens, Channels].</summary>
    public float[] FeatureHidden { get; internal set; } = [];
    /// <summary>Patch embeddings + class + position embeddings before pre_layrnorm.</summary>
    public float[]? Embeddings { get; internal set; }
    public List<float[]>? HiddenStates { get; internal set; }
    public List<float[]>? Attentions { get; internal set; }
    public float[]? FeatureLayerClsAttention { get; internal set; }
    public float[]? FeatureLayerKeys { get; internal set; }
    public float[]? NextLayerQ { get; internal set; }
    public float[]? NextLayerK { get; internal set; }

    /// <summary>The features LLaVA selects: the feature hidden state without [CLS] ("default") or with it ("full").</summary>
    public ReadOnlySpan<float> PatchFeatures => FeatureHidden.AsSpan(Channels, (Tokens - 1) * Channels);
}

/// <summary>CLIP ViT vision tower (CLIPVisionModel as LLaVA uses it): patch conv, class and position
/// embeddings, pre_layrnorm, pre-LN encoder layers; stops at the feature layer unless a tap needs more.</summary>
public sealed class ClipVisionTower
{
    sealed record Layer(NormWeights Ln1, Linear Q, Linear K, Linear V, Linear Out, NormWeights Ln2, Linear Fc1, Linear Fc2);

    public ClipVisionConfig Config { get; }
    /// <summary>Index into hidden_states of the features (LLaVA: L−1 for vision_feature_layer −2).</summary>
    public int FeatureIndex { get; }

    readonly Linear _patch;
    readonly float[] _classEmbedding;
    readonly float[] _positionEmbedding;
    readonly NormWeights _preLayerNorm;
    readonly Layer[] _layers;

    // Workspace reused across forwards (first-touch page faults are expensive).
    float[] _x = [], _xn = [], _q = [], _k = [], _v = [], _att = [], _mlp = [], _patches = [];
    readonly VisionOutputs _outputs = new();

    public ClipVisionTower(ITensorSource source, ClipVisionConfig config, int featureIndex)
    {
        Config = config;
        FeatureIndex = featureIndex;
        int c = config.HiddenSize, p = config.PatchSize, ch = config.NumChannels;
        _patch = new Linear(source.Get(TensorNames.PatchEmbedding).ExpectShape(c, ch, p, p).AsMatrix(), null);
        _classEmbedding = source.Get(TensorNames.ClassEmbedding).ExpectShape(c).ToFloats();
        _positionEmbedding = source.Get(TensorNames.PositionEmbedding).ExpectShape(config.SequenceLength, c).ToFloats();
        _preLayerNorm = NormWeights.LoadLayerNorm(source, TensorNames.PreLayerNorm, c, config.LayerNormEps);
        // post_layernorm is stored but unused by LLaVA; check its shape so a corrupt file is still caught.
        if (source.Contains(TensorNames.PostLayerNorm + "weight")) source.Get(TensorNames.PostLayerNorm + "weight").ExpectShape(c);
        _layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
        {
            string pre = TensorNames.VisionLayer(i);
            _layers[i] = new Layer(
                NormWeights.LoadLayerNorm(source, pre + "layer_norm1.", c, config.LayerNormEps),
                Linear.Load(source, pre + "self_attn.q_proj.", c, c, true),
                Linear.Load(source, pre + "self_attn.k_proj.", c, c, true),
                Linear.Load(source, pre + "self_attn.v_proj.", c, c, true),
                Linear.Load(source, pre + "self_attn.out_proj.", c, c, true),
                NormWeights.LoadLayerNorm(source, pre + "layer_norm2.", c, config.LayerNormEps),
                Linear.Load(source, pre + "mlp.fc1.", config.IntermediateSize, c, true),
                Linear.Load(source, pre + "mlp.fc2.", c, config.IntermediateSize, true));
        }
    }

    /// <summary>Expected tensor names, for the loader's unexpected-tensor check.</summary>
    public static IEnumerable<string> TensorNamesFor(ClipVisionConfig config)
    {
        yield return TensorNames.PatchEmbedding;
        yield return TensorNames.ClassEmbedding;
        yield return TensorNames.PositionEmbedding;
        foreach (var s in new[] { "weight", "bias" })
        {
            yield return TensorNames.PreLayerNorm + s;
            yield return TensorNames.PostLayerNorm + s;
        }
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string pre = TensorNames.VisionLayer(i);
            foreach (var m in new[] { "self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.", "self_attn.out_proj.", "layer_norm1.", "layer_norm2.", "mlp.fc1.", "mlp.fc2." })
            {
                yield return pre + m + "weight";
                yield return pre + m + "bias";
            }
        }
    }

    void EnsureWorkspace(int tokens)
    {
        int c = Config.HiddenSize;
        if (_x.Length >= tokens * c) return;
        _x = new float[tokens * c];
        _xn = new float[tokens * c];
        _q = new float[tokens * c];
        _k = new float[tokens * c];
        _v = new float[tokens * c];
        _att = new float[tokens * c];
        _mlp = new float[tokens * Config.IntermediateSize];
        _patches = new float[Config.NumPatches * Config.NumChannels * Config.PatchSize * Config.PatchSize];
        _outputs.FeatureHidden = new float[tokens * c];
    }

    /// <summary>Runs the tower on pixel values [channels, S, S] (CLIP-normalised).</summary>
    public VisionOutputs Forward(ComputeContext ctx, ReadOnlySpan<float> pixelValues, VisionTaps taps = VisionTaps.None, CancellationToken cancel = default,
        VisionMerging? merging = null)
    {
        var cfg = Config;
        int s = cfg.ImageSize, p = cfg.PatchSize, ch = cfg.NumChannels, g = cfg.GridSize, c = cfg.HiddenSize;
        int tokens = cfg.SequenceLength;
        if (pixelValues.Length != ch * s * s)
            throw new InvalidInputException($"pixel values have {pixelValues.Length} elements, the vision tower expects [{ch},{s},{s}] = {ch * s * s}");
        EnsureWorkspace(tokens);
        var o = _outputs;
        o.Tokens = tokens;
        o.Channels = c;
        o.Heads = cfg.NumAttentionHeads;
        o.GridSize = g;
        o.HiddenStates = taps.HasFlag(VisionTaps.AllHiddenStates) ? new List<float[]>() : null;
        o.Attentions = taps.HasFlag(VisionTaps.AllAttentions) ? new List<float[]>() : null;
        o.Embeddings = null;

        // Patchify in the conv weight's (channel, kh, kw) order: a stride-P conv is a matmul.
        int pp = ch * p * p;
        for (int row = 0; row < g; row++)
        for (int col = 0; col < g; col++)
        {
            var dst = _patches.AsSpan((row * g + col) * pp, pp);
            int t = 0;
            for (int cc = 0; cc < ch; cc++)
            for (int kh = 0; kh < p; kh++)
            {
                pixelValues.Slice(cc * s * s + (row * p + kh) * s + col * p, p).CopyTo(dst.Slice(t, p));
                t += p;
            }
        }
        var x = _x.AsSpan(0, tokens * c);
        _patch.Forward(ctx, _patches, cfg.NumPatches, x.Slice(c));
        _classEmbedding.CopyTo(x);
        System.Numerics.Tensors.TensorPrimitives.Add(x, _positionEmbedding, x);
        if (taps.HasFlag(VisionTaps.AllHiddenStates)) o.Embeddings = x.ToArray();
        _preLayerNorm.LayerNorm(x, tokens, x);
        o.HiddenStates?.Add(x.ToArray());

        int lastLayer = taps.HasFlag(VisionTaps.AllHiddenStates) ? _layers.Length : FeatureIndex;
        if (merging is not null)
        {
            if (merging.Schedule.Length > FeatureIndex) throw new ArgumentException($"ToMe schedule has {merging.Schedule.Length} layers; the features come after {FeatureIndex}");
            if (taps != VisionTaps.None) throw new InvalidInputException("ToMe merges tokens inside the tower; it cannot be combined with other vision taps");
        }
        for (int l = 0; l < lastLayer; l++)
        {
            cancel.ThrowIfCancellationRequested();
            bool isFeatureLayer = l == FeatureIndex - 1;
            int r = merging is not null && l < merging.Schedule.Length ? merging.Schedule[l] : 0;
            tokens = RunLayer(ctx, _layers[l], tokens, o,
                clsRow: isFeatureLayer && taps.HasFlag(VisionTaps.FeatureLayerClsAttention),
                keepKeys: isFeatureLayer && taps.HasFlag(VisionTaps.FeatureLayerKeys),
                fullMaps: o.Attentions is not null, merging, r);
            x = _x.AsSpan(0, tokens * c);
            if (l == FeatureIndex - 1) x.CopyTo(o.FeatureHidden);
            o.HiddenStates?.Add(x.ToArray());
        }
        if (FeatureIndex == 0) x.CopyTo(o.FeatureHidden);
        o.Tokens = tokens;

        if (taps.HasFlag(VisionTaps.NextLayerQK))
        {
            if (FeatureIndex >= _layers.Length)
                throw new InvalidInputException($"the feature layer is the tower's last layer ({_layers.Length}); there is no next layer to take q/k from");
            var next = _layers[FeatureIndex];
            var feat = o.FeatureHidden.AsSpan(0, tokens * c);
            var xn = _xn.AsSpan(0, tokens * c);
            next.Ln1.LayerNorm(feat, tokens, xn);
            o.NextLayerQ = EnsureArray(o.NextLayerQ, tokens * c);
            o.NextLayerK = EnsureArray(o.NextLayerK, tokens * c);
            next.Q.Forward(ctx, xn, tokens, o.NextLayerQ);
            next.K.Forward(ctx, xn, tokens, o.NextLayerK);
        }
        return o;
    }

    static float[] EnsureArray(float[]? a, int length) => a is not null && a.Length == length ? a : new float[length];

    /// <summary>One pre-LN encoder layer in place on _x; returns the token count after it (ToMe may merge).</summary>
    int RunLayer(ComputeContext ctx, Layer layer, int tokens, VisionOutputs o, bool clsRow, bool keepKeys, bool fullMaps, VisionMerging? merging = null, int mergeCount = 0)
    {
        int c = Config.HiddenSize, heads = Config.NumAttentionHeads, hd = Config.HeadDim;
        var x = _x.AsSpan(0, tokens * c);
        var xn = _xn.AsSpan(0, tokens * c);
        layer.Ln1.LayerNorm(x, tokens, xn);
        layer.Q.Forward(ctx, xn, tokens, _q);
        layer.K.Forward(ctx, xn, tokens, _k);
        layer.V.Forward(ctx, xn, tokens, _v);
        var shape = new AttentionShape(tokens, tokens, heads, heads, hd, 1f / MathF.Sqrt(hd), Causal: false);
        if (merging is not null)
            return RunMergingLayer(ctx, layer, tokens, merging, mergeCount, shape);
        if (clsRow)
        {
            o.FeatureLayerClsAttention = EnsureArray(o.FeatureLayerClsAttention, heads * tokens);
            Attention.RowProbabilities(ctx, _q, c, _k, c, [0], shape, o.FeatureLayerClsAttention);
        }
        if (keepKeys)
        {
            o.FeatureLayerKeys = EnsureArray(o.FeatureLayerKeys, tokens * c);
            _k.AsSpan(0, tokens * c).CopyTo(o.FeatureLayerKeys);
        }
        if (fullMaps)
        {
            var rows = Enumerable.Range(0, tokens).ToArray();
            var maps = new float[tokens * heads * tokens];
            Attention.RowProbabilities(ctx, _q, c, _k, c, rows, shape, maps);
            // [row, head, key] → [head, row, key] as transformers stores attentions.
            var byHead = new float[heads * tokens * tokens];
            for (int r = 0; r < tokens; r++)
            for (int h = 0; h < heads; h++)
                maps.AsSpan((r * heads + h) * tokens, tokens).CopyTo(byHead.AsSpan((h * tokens + r) * tokens, tokens));
            o.Attentions!.Add(byHead);
        }
        Attention.Forward(ctx, _q, c, _k, _v, c, _att, c, shape);
        layer.Out.Forward(ctx, _att, tokens, xn);
        System.Numerics.Tensors.TensorPrimitives.Add(x, xn, x);

        RunMlp(ctx, layer, tokens);
        return tokens;
    }

    /// <summary>x += fc2(act(fc1(LN2(x)))) on the first <paramref name="tokens"/> rows of _x.</summary>
    void RunMlp(ComputeContext ctx, Layer layer, int tokens)
    {
        int c = Config.HiddenSize;
        var x = _x.AsSpan(0, tokens * c);
        var xn = _xn.AsSpan(0, tokens * c);
        layer.Ln2.LayerNorm(x, tokens, xn);
        var mlp = _mlp.AsSpan(0, tokens * Config.IntermediateSize);
        layer.Fc1.Forward(ctx, xn, tokens, mlp);
        if (Config.HiddenAct == "quick_gelu") Activations.QuickGelu(mlp);
        else Activations.GeluErf(mlp);
        layer.Fc2.Forward(ctx, mlp, tokens, xn);
        System.Numerics.Tensors.TensorPrimitives.Add(x, xn, x);
    }

    /// <summary>The ToMe layer (METHODS.md §12): attention (with log-size key bias when proportional),
    /// residual, bipartite merge on head-mean keys, then the MLP on the merged tokens.</summary>
    int RunMergingLayer(ComputeContext ctx, Layer layer, int tokens, VisionMerging merging, int r, AttentionShape shape)
    {
        int c = Config.HiddenSize, heads = Config.NumAttentionHeads, hd = Config.HeadDim;
        if (merging.ProportionalAttention)
        {
            // softmax(s·q·k + log σ_j) = softmax(s·[q,1]·[k, log σ_j / s]): fold the per-key bias into
            // one extra dimension per head so the fused kernel needs no bias input.
            var bias = merging.Tracker.AttentionBias();
            int hd1 = hd + 1;
            var qa = new float[tokens * heads * hd1];
            var ka = new float[tokens * heads * hd1];
            var va = new float[tokens * heads * hd1];
            for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
            {
                int src = t * c + h * hd, dst = (t * heads + h) * hd1;
                _q.AsSpan(src, hd).CopyTo(qa.AsSpan(dst, hd));
                _k.AsSpan(src, hd).CopyTo(ka.AsSpan(dst, hd));
                _v.AsSpan(src, hd).CopyTo(va.AsSpan(dst, hd));
                qa[dst + hd] = 1f;
                ka[dst + hd] = bias[t] / shape.Scale;
            }
            var outAug = new float[tokens * heads * hd1];
            Attention.Forward(ctx, qa, heads * hd1, ka, va, heads * hd1, outAug, heads * hd1, shape with { HeadDim = hd1 });
            for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
                outAug.AsSpan((t * heads + h) * hd1, hd).CopyTo(_att.AsSpan(t * c + h * hd, hd));
        }
        else
        {
            Attention.Forward(ctx, _q, c, _k, _v, c, _att, c, shape);
        }
        var x = _x.AsSpan(0, tokens * c);
        var xn = _xn.AsSpan(0, tokens * c);
        layer.Out.Forward(ctx, _att, tokens, xn);
        System.Numerics.Tensors.TensorPrimitives.Add(x, xn, x);

        if (r > 0)
        {
            // ToMe's metric: keys averaged over heads, [tokens, head dim].
            var metric = new float[tokens * hd];
            for (int t = 0; t < tokens; t++)
            {
                var m = metric.AsSpan(t * hd, hd);
                for (int h = 0; h < heads; h++) System.Numerics.Tensors.TensorPrimitives.Add(m, _k.AsSpan(t * c + h * hd, hd), m);
                System.Numerics.Tensors.TensorPrimitives.Multiply(m, 1f / heads, m);
            }
            var merged = merging.Tracker.Merge(x, c, metric, hd, r, ctx);
            tokens = merging.Tracker.Tokens;
            merged.AsSpan(0, tokens * c).CopyTo(_x);
        }

        RunMlp(ctx, layer, tokens);
        return tokens;
    }
}
