using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>The vision hook of one image's reduction: it observes the tower layers a reducer's
/// <see cref="VisionNeeds"/> name, keeps the taps (the feature layer's per-head [CLS] rows and
/// keys; the next layer's q/k), forwards everything else to the reducer's own in-tower hook (ToMe),
/// and afterwards assembles the <see cref="ReductionInput"/>. One instance per image.</summary>
internal sealed class VisionTapCollector : IVisionHook
{
    readonly VisionTowerInfo _tower;
    readonly VisionNeeds _needs;
    readonly IVisionHook? _inner;
    float[]? _clsAttention, _featureKeys, _nextQ, _nextK;

    public VisionTapCollector(IVisualReducer reducer, VisionTowerInfo tower)
    {
        _tower = tower;
        _needs = reducer.Needs;
        const VisionNeeds clsNeeds = VisionNeeds.LastLayerQK | VisionNeeds.FeatureLayerClsAttention | VisionNeeds.ClsHiddenState;
        if ((_needs & clsNeeds) != 0 && !tower.HasClassToken)
            throw new MethodSpecException(reducer.Name, "this method ranks patches by a [CLS] token, and this model's vision tower has none");
        if ((_needs & VisionNeeds.LastLayerQK) != 0 && tower.FeatureIndex >= tower.Layers)
            throw new InvalidInputException($"the feature layer is the tower's last layer ({tower.Layers}); there is no next layer to take q/k from");
        if ((_needs & (VisionNeeds.FeatureLayerClsAttention | VisionNeeds.FeatureLayerKeys)) != 0 && tower.FeatureIndex < 1)
            throw new InvalidInputException($"{reducer.Name}: the features are the embeddings (feature index 0); there is no feature-layer attention to tap");
        _inner = reducer.CreateTowerHook(tower);
    }

    int FeatureLayer => _tower.FeatureIndex - 1;

    bool Needs(VisionNeeds n) => (_needs & n) != 0;

    public bool Observes(int layer) =>
        (layer == FeatureLayer && Needs(VisionNeeds.FeatureLayerClsAttention | VisionNeeds.FeatureLayerKeys))
        || (layer == _tower.FeatureIndex && Needs(VisionNeeds.LastLayerQK))
        || _inner?.Observes(layer) == true;

    public void OnAttention(in VisionAttentionView view)
    {
        if (view.Layer == FeatureLayer)
        {
            if (Needs(VisionNeeds.FeatureLayerClsAttention))
            {
                _clsAttention = Reuse(_clsAttention, view.Heads * view.Tokens);
                view.RowProbabilities([0], _clsAttention);
            }
            if (Needs(VisionNeeds.FeatureLayerKeys)) _featureKeys = view.Keys.ToArray();
        }
        if (view.Layer == _tower.FeatureIndex && Needs(VisionNeeds.LastLayerQK))
        {
            _nextQ = view.Queries.ToArray();
            _nextK = view.Keys.ToArray();
        }
        if (_inner?.Observes(view.Layer) == true) _inner.OnAttention(view);
    }

    public float[]? KeyBias(int layer) => _inner?.KeyBias(layer);

    public int Merge(in VisionMergeView view) => _inner?.Merge(view) ?? view.Tokens;

    static float[] Reuse(float[]? a, int length) => a is not null && a.Length == length ? a : new float[length];

    /// <summary>The reducer's input from the tower's outputs and the taps collected during its forward.</summary>
    public ReductionInput Input(VisionOutputs vision, Func<float[], int, float[]>? project, ulong seed)
    {
        int c = vision.Channels;
        return new ReductionInput
        {
            Features = vision.PatchFeatures.ToArray(),
            GridHeight = _tower.GridHeight, GridWidth = _tower.GridWidth, Channels = c, Heads = _tower.Heads,
            LastLayerQueries = _nextQ, LastLayerKeys = _nextK,
            FeatureLayerClsAttention = _clsAttention, FeatureLayerKeys = _featureKeys,
            ClsHiddenState = vision.FeatureHidden.AsSpan(0, c).ToArray(),
            MergedTokenSources = (_inner as ITokenSourceTracker)?.PatchProvenance(),
            Project = project,
            Seed = seed,
        };
    }
}

/// <summary>An in-tower hook that merges tokens and can say where each remaining token came from.</summary>
internal interface ITokenSourceTracker
{
    /// <summary>The sources of every remaining token except [CLS], as patch indices with weights.</summary>
    TokenProvenance[] PatchProvenance();
}
