using TokenSieve.Checkpoints;

namespace TokenSieve.Lab.Training;

/// <summary>One named tensor inside the flat parameter buffer.</summary>
public sealed record ParameterInfo(string Name, int[] Shape, int Offset, int Length, bool Decay, bool Exported);

/// <summary>All trainable tensors in one flat float buffer, named with the exact llava-hf tensor
/// names (so saving is a loop), plus the stage-1 [CLS] head, which is not exported.</summary>
public sealed class LabParameters
{
    readonly List<ParameterInfo> _list = new();
    readonly Dictionary<string, ParameterInfo> _byName = new(StringComparer.Ordinal);

    public LabModelConfig Config { get; }
    public IReadOnlyList<ParameterInfo> List => _list;
    public float[] Data { get; }
    /// <summary>Floats in <see cref="Data"/>, padding included.</summary>
    public int Count { get; private set; }

    /// <summary>Output width of the stage-1 [CLS] head (see <see cref="ClsTargets"/>).</summary>
    public int ClsHeadOutputs { get; }

    public const string ClsHeadWeight = "lab.cls_head.weight", ClsHeadBias = "lab.cls_head.bias";
    public const string PatchHeadWeight = "lab.patch_head.weight", PatchHeadBias = "lab.patch_head.bias";

    public LabParameters(LabModelConfig c, int clsHeadOutputs)
    {
        Config = c;
        ClsHeadOutputs = clsHeadOutputs;
        int dv = c.VisionHidden;
        // The llava-hf tensors in the schema's order (the flat buffer's layout); weight decay on matrices only.
        var llava = c.ToLlava();
        foreach (var t in LlavaSchema.Tensors(llava.Vision, llava.Text, llava.ProjectorBias))
            Add(t.Name, t.Shape, decay: t.Kind == TensorKind.Matrix);
        Add(ClsHeadWeight, [clsHeadOutputs, dv], true, exported: false);
        Add(ClsHeadBias, [clsHeadOutputs], false, exported: false);
        Add(PatchHeadWeight, [PatchObjective.Outputs, dv], true, exported: false);
        Add(PatchHeadBias, [PatchObjective.Outputs], false, exported: false);
        Data = new float[Count];
    }

    void Add(string name, int[] shape, bool decay, bool exported = true)
    {
        int len = 1;
        foreach (int d in shape) len *= d;
        var info = new ParameterInfo(name, shape, Count, len, decay, exported);
        _list.Add(info);
        _byName.Add(name, info);
        // keep every tensor 16-float aligned so vector loads never straddle two tensors' padding
        Count += (len + 15) / 16 * 16;
    }

    public ParameterInfo this[string name] => _byName.TryGetValue(name, out var p) ? p : throw new KeyNotFoundException($"no parameter '{name}'");

    public bool Contains(string name) => _byName.ContainsKey(name);

    public Span<float> Span(string name) { var p = this[name]; return Data.AsSpan(p.Offset, p.Length); }

    /// <summary>GPT-2/CLIP-style initialisation: N(0, 0.02) for matrices and embeddings, the
    /// residual output projections scaled by 1/√(2·layers), norms at weight 1 and bias 0.</summary>
    public void Initialise(ulong seed)
    {
        var rng = new LabRandom(seed);
        Array.Clear(Data);
        foreach (var p in _list)
        {
            var span = Data.AsSpan(p.Offset, p.Length);
            bool norm = p.Name.Contains("norm") || p.Name.Contains("layrnorm");
            if (norm && p.Name.EndsWith("weight")) { span.Fill(1f); continue; }
            if (p.Shape.Length == 1 && p.Name != TensorNames.ClassEmbedding) continue; // biases
            double std = 0.02;
            bool residualOut = p.Name.EndsWith("out_proj.weight") || p.Name.EndsWith("fc2.weight") || p.Name.EndsWith("o_proj.weight") || p.Name.EndsWith("down_proj.weight");
            if (residualOut) std /= Math.Sqrt(2.0 * (p.Name.StartsWith("vision") ? Config.VisionLayers : Config.TextLayers));
            for (int i = 0; i < span.Length; i++) span[i] = (float)(rng.NextGaussian() * std);
        }
    }
}
