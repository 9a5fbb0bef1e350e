using TokenSieve.Checkpoints;
using TokenSieve.Numerics;

namespace TokenSieve.Models;

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

    /// <summary>Depth, width, heads, patch grid and [CLS] of this tower, for methods.</summary>
    public VisionTowerInfo Info { get; }

    internal ClipVisionTower(ITensorSource source, ClipVisionConfig config, int featureIndex) : this(source, config, featureIndex, TensorNames.Clip) { }

    /// <summary>A tower whose tensors are named under <paramref name="names"/> (Video-LLaVA has two).</summary>
    internal ClipVisionTower(ITensorSource source, ClipVisionConfig config, int featureIndex, ClipTowerNames names)
    {
        Config = config;
        FeatureIndex = featureIndex;
        int c = config.HiddenSize, p = config.PatchSize, ch = config.NumChannels;
        _patch = new Linear(source.Get(names.PatchEmbedding).ExpectShape(c, ch, p, p).AsMatrix(), null);
        _classEmbedding = source.Get(names.ClassEmbedding).ExpectShape(c).ToFloats();
        _positionEmbedding = source.Get(names.PositionEmbedding).ExpectShape(config.SequenceLength, c).ToFloats();
        _preLayerNorm = NormWeights.LoadLayerNorm(source, names.PreLayerNorm, c, config.LayerNormEps);
        // post_layernorm is stored but unused by LLaVA; check its shape so a corrupt file is still caught.
        if (source.Contains(names.PostLayerNorm + "weight")) source.Get(names.PostLayerNorm + "weight").ExpectShape(c);
        Info = new VisionTowerInfo
        {
            Layers = config.NumHiddenLayers, FeatureIndex = featureIndex, Channels = c, Heads = config.NumAttentionHeads, HasClassToken = true,
            GridHeight = config.GridSize, GridWidth = config.GridSize,
        };
        _layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
        {
            var n = names.LayerNames(i);
            _layers[i] = new Layer(
                NormWeights.LoadLayerNorm(source, n.LayerNorm1, c, config.LayerNormEps),
                Linear.Load(source, n.Q, c, c, true),
                Linear.Load(source, n.K, c, c, true),
                Linear.Load(source, n.V, c, c, true),
                Linear.Load(source, n.Out, c, c, true),
                NormWeights.LoadLayerNorm(source, n.LayerNorm2, c, config.LayerNormEps),
                Linear.Load(source, n.Fc1, config.IntermediateSize, c, true),
                Linear.Load(source, n.Fc2, c, config.IntermediateSize, true));
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

    /// <summary>Runs the tower on pixel values [channels, S, S] (CLIP-normalised) up to the feature
    /// layer. A <paramref name="hook"/> may observe layers (the tower then runs as far as the last
    /// observed one, projections only past the features), bias keys, merge tokens, or watch every
    /// hidden state (the tower then runs all its layers, as transformers reports them).</summary>
    public VisionOutputs Forward(ComputeContext ctx, ReadOnlySpan<float> pixelValues, IVisionHook? hook = null, CancellationToken cancel = default)
    {
        var cfg = Config;
        int s = cfg.ImageSize, p = cfg.PatchSize, ch = cfg.NumChannels, g = cfg.GridSize, c = cfg.HiddenSize;
        int tokens = cfg.SequenceLength;
        if (pixelValues.Length != ch * s * s)
            throw new InvalidInputException($"pixel values have {pixelValues.Length} elements, the vision tower expects [{ch},{s},{s}] = {ch * s * s}");
        EnsureWorkspace(tokens);
        var o = _outputs;
        o.Channels = c;
        bool hiddenStates = hook?.ObservesHiddenStates == true;
        var run = new List<VisionLayerRun>(_layers.Length);

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
        if (hiddenStates) hook!.OnHiddenState(-1, x, tokens);
        _preLayerNorm.LayerNorm(x, tokens, x);
        if (hiddenStates) hook!.OnHiddenState(0, x, tokens);
        if (FeatureIndex == 0) CopyFeatures(x, tokens);

        // Layers past the features run only when asked: all of them for hidden states, or up to
        // the last one a hook observes, whose projections alone are computed.
        int fullLayers = hiddenStates ? _layers.Length : FeatureIndex, projectionsOnly = -1;
        if (!hiddenStates && hook is not null)
            for (int l = _layers.Length - 1; l >= FeatureIndex; l--)
                if (hook.Observes(l)) { projectionsOnly = l; fullLayers = l; break; }
        for (int l = 0; l < fullLayers; l++)
        {
            cancel.ThrowIfCancellationRequested();
            int before = tokens;
            tokens = RunLayer(ctx, l, tokens, hook);
            run.Add(new VisionLayerRun(l, before, tokens, false));
            x = _x.AsSpan(0, tokens * c);
            if (l == FeatureIndex - 1) CopyFeatures(x, tokens);
            if (hiddenStates) hook!.OnHiddenState(l + 1, x, tokens);
        }
        if (projectionsOnly >= 0)
        {
            RunProjections(ctx, projectionsOnly, tokens, hook!);
            run.Add(new VisionLayerRun(projectionsOnly, tokens, 0, true));
        }
        o.LayersRun = run;
        return o;
    }

    void CopyFeatures(ReadOnlySpan<float> x, int tokens)
    {
        x.CopyTo(_outputs.FeatureHidden);
        _outputs.Tokens = tokens;
    }

    AttentionShape Shape(int tokens) =>
        new(tokens, tokens, Config.NumAttentionHeads, Config.NumAttentionHeads, Config.HeadDim, 1f / MathF.Sqrt(Config.HeadDim), Causal: false);

    VisionAttentionView View(ComputeContext ctx, int l, int tokens, bool projectionsOnly) => new()
    {
        Layer = l, Tokens = tokens, Channels = Config.HiddenSize, Heads = Config.NumAttentionHeads, ProjectionsOnly = projectionsOnly,
        Queries = _q.AsSpan(0, tokens * Config.HiddenSize), Keys = _k.AsSpan(0, tokens * Config.HiddenSize), Shape = Shape(tokens), Compute = ctx,
    };

    /// <summary>Layer <paramref name="l"/>'s pre-norm and q/k projections only, shown to the hook.</summary>
    void RunProjections(ComputeContext ctx, int l, int tokens, IVisionHook hook)
    {
        int c = Config.HiddenSize;
        var layer = _layers[l];
        var xn = _xn.AsSpan(0, tokens * c);
        layer.Ln1.LayerNorm(_x.AsSpan(0, tokens * c), tokens, xn);
        layer.Q.Forward(ctx, xn, tokens, _q);
        layer.K.Forward(ctx, xn, tokens, _k);
        hook.OnAttention(View(ctx, l, tokens, true));
    }

    /// <summary>One pre-LN encoder layer in place on _x; returns the token count after it (a hook may merge).</summary>
    int RunLayer(ComputeContext ctx, int l, int tokens, IVisionHook? hook)
    {
        int c = Config.HiddenSize, heads = Config.NumAttentionHeads, hd = Config.HeadDim;
        var layer = _layers[l];
        var x = _x.AsSpan(0, tokens * c);
        var xn = _xn.AsSpan(0, tokens * c);
        layer.Ln1.LayerNorm(x, tokens, xn);
        layer.Q.Forward(ctx, xn, tokens, _q);
        layer.K.Forward(ctx, xn, tokens, _k);
        layer.V.Forward(ctx, xn, tokens, _v);
        var shape = Shape(tokens);
        if (hook is not null && hook.Observes(l)) hook.OnAttention(View(ctx, l, tokens, false));
        if (hook?.KeyBias(l) is { } bias) AttendWithKeyBias(ctx, tokens, bias, shape);
        else Attention.Forward(ctx, _q, c, _k, _v, c, _att, c, shape);
        layer.Out.Forward(ctx, _att, tokens, xn);
        System.Numerics.Tensors.TensorPrimitives.Add(x, xn, x);

        if (hook is not null)
        {
            int merged = hook.Merge(new VisionMergeView
            {
                Layer = l, Tokens = tokens, Channels = c, Heads = heads, Hidden = x, Keys = _k.AsSpan(0, tokens * c), Compute = ctx,
            });
            if (merged < 1 || merged > tokens) throw new InvalidOperationException($"vision hook merged layer {l} to {merged} tokens (had {tokens})");
            tokens = merged;
        }

        x = _x.AsSpan(0, tokens * c);
        xn = _xn.AsSpan(0, tokens * c);
        layer.Ln2.LayerNorm(x, tokens, xn);
        var mlp = _mlp.AsSpan(0, tokens * Config.IntermediateSize);
        layer.Fc1.Forward(ctx, xn, tokens, mlp);
        if (Config.HiddenAct == "quick_gelu") Activations.QuickGelu(mlp);
        else Activations.GeluErf(mlp);
        layer.Fc2.Forward(ctx, mlp, tokens, xn);
        System.Numerics.Tensors.TensorPrimitives.Add(x, xn, x);
        return tokens;
    }

    /// <summary>softmax(s·q·k + b_j): the per-key bias is folded into one extra dimension per head,
    /// softmax(s·[q,1]·[k, b_j / s]), so the fused kernel needs no bias input.</summary>
    void AttendWithKeyBias(ComputeContext ctx, int tokens, float[] bias, AttentionShape shape)
    {
        int c = Config.HiddenSize, heads = Config.NumAttentionHeads, hd = Config.HeadDim;
        if (bias.Length != tokens) throw new InvalidOperationException($"vision hook key bias has {bias.Length} values for {tokens} tokens");
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
}
