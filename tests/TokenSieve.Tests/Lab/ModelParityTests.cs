using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Lab.Training;

namespace TokenSieve.Tests.Lab;

/// <summary>The trainer's forward pass against transformers' own numbers: the llava-tiny fixture
/// (random weights, HF 4.40.2, fp32) is loaded into a <see cref="LabModel"/> and every
/// intermediate tensor is compared. Tolerance 1e-4 absolute (the fixture README: an independent
/// float64 recomputation agrees to 2.2e-5; fp32 summation-order noise is of that size).</summary>
public class ModelParityTests
{
    const float Tol = 1e-4f;
    static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "data", "llava-tiny");

    static void AssertClose(float[] expected, ReadOnlySpan<float> actual, string what)
    {
        float worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst < Tol, $"{what}: max |Δ| = {worst:E2} ≥ {Tol:E0}");
    }

    [Fact]
    public void ForwardMatchesTransformersLayerByLayer()
    {
        var model = LabCheckpoint.Load(Dir);
        var c = model.Config;
        using var golden = SafetensorsFile.Open(Path.Combine(Dir, "golden.safetensors"));
        float[] G(string name) => golden.Get(name).ToFloats();

        var va = new VisionActivations(c);
        model.VisionForward(G("preprocess.image.pixel_values"), va, c.VisionLayers);
        AssertClose(G("vision.embeddings"), va.Embeddings, "vision.embeddings");
        for (int i = 0; i <= c.VisionLayers; i++) AssertClose(G($"vision.hidden_states.{i}"), va.Hidden[i], $"vision.hidden_states.{i}");
        for (int l = 0; l < c.VisionLayers; l++) AssertClose(G($"vision.attentions.{l}"), va.Layer[l].Probs, $"vision.attentions.{l}");

        var pa = new ProjectorActivations(c);
        model.ProjectorForward(va.Hidden[c.FeatureLayers].AsSpan(c.VisionHidden), pa, c.NumPatches);
        AssertClose(G("projector.output"), pa.Output, "projector.output");

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "golden.json")));
        var ids = doc.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToList();
        var tokens = new List<int>();
        foreach (int id in ids)
            if (id == c.ImageTokenIndex) tokens.AddRange(Enumerable.Repeat(id, c.NumPatches));
            else tokens.Add(id);
        var da = new DecoderActivations(c, tokens.Count);
        model.BuildInputs(tokens.ToArray(), pa.Output, da);
        AssertClose(G("llm.inputs_embeds"), da.Input, "llm.inputs_embeds");
        model.DecoderForward(da, tokens.Count, default);
        for (int i = 0; i < c.TextLayers; i++) AssertClose(G($"llm.hidden_states.{i}"), da.Hidden[i], $"llm.hidden_states.{i}");
        AssertClose(G("llm.logits"), da.Logits, "llm.logits");
    }
}
