using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Models;

/// <summary>Golden parity against Hugging Face transformers 4.40.2 (fixtures/llava-tiny).
/// Tolerance 1e-4 of each tensor's max magnitude: the fixture's own float64 recomputation agrees
/// with every golden tensor to 2.2e-5, and fp32 summation order differs between engines.</summary>
public sealed class LlavaTinyParityTests : IDisposable
{
    const double Tol = 1e-4;
    readonly Golden _golden = new(TestData.LlavaTiny);

    public void Dispose() => _golden.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Vision_tower_matches_every_hidden_state_and_attention_map(int threads)
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var ctx = new ComputeContext(threads);
        var recorder = new VisionRecorder(attentions: true);
        var o = model.Vision.Forward(ctx, _golden.Tensor("preprocess.image.pixel_values"), recorder);
        Compare.Relative(_golden.Tensor("vision.embeddings"), recorder.Embeddings!, Tol, "vision.embeddings");
        int layers = model.Config.Vision.NumHiddenLayers;
        Assert.Equal(layers + 1, recorder.HiddenStates.Count);
        for (int i = 0; i <= layers; i++)
            Compare.Relative(_golden.Tensor($"vision.hidden_states.{i}"), recorder.HiddenStates[i], Tol, $"vision.hidden_states.{i}");
        for (int i = 0; i < layers; i++)
            Compare.Relative(_golden.Tensor($"vision.attentions.{i}"), recorder.Attentions[i], Tol, $"vision.attentions.{i}");
        Compare.Relative(_golden.Tensor("image_features.selected"), o.PatchFeatures.ToArray(), Tol, "image_features.selected");
    }

    [Fact]
    public void Vision_tower_stops_at_the_feature_layer_with_the_same_features()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var o = model.Vision.Forward(ComputeContext.SingleThread, _golden.Tensor("preprocess.image.pixel_values"));
        Assert.Equal(model.Vision.FeatureIndex, o.LayersRun.Count); // stopped at the feature layer
        Compare.Relative(_golden.Tensor("image_features.selected"), o.PatchFeatures.ToArray(), Tol, "image_features.selected");
    }

    [Fact]
    public void Projector_matches_each_stage()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var features = _golden.Tensor("image_features.selected");
        int rows = features.Length / model.Config.Vision.HiddenSize;
        int d = model.Config.Text.HiddenSize;
        float[] l1 = new float[rows * d], gelu = new float[rows * d], output = new float[rows * d];
        model.Projector.Forward(ComputeContext.Default, features, rows, output, l1, gelu);
        Compare.Relative(_golden.Tensor("projector.linear_1"), l1, Tol, "projector.linear_1");
        Compare.Relative(_golden.Tensor("projector.gelu"), gelu, Tol, "projector.gelu");
        Compare.Relative(_golden.Tensor("projector.output"), output, Tol, "projector.output");
    }

    [Fact]
    public void Decoder_matches_hidden_states_logits_and_greedy_generation()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var session = new InferenceSession(model, new ComputeContext(2));
        int[] ids = _golden.Ints("input_ids");
        int slot = InferenceSession.FindImageSlot(ids, model.Config.ImageTokenIndex);
        Assert.Equal(_golden.Json.GetProperty("image_token_position").GetInt32(), slot);
        var visual = _golden.Tensor("projector.output");
        int count = visual.Length / model.Config.Text.HiddenSize;
        var seq = session.Splice(ids, slot, visual, count);
        Compare.Relative(_golden.Tensor("llm.inputs_embeds"), seq.Embeddings, Tol, "llm.inputs_embeds");
        Assert.Equal(_golden.Tensor("llm.position_ids").Select(p => (int)p).ToArray(), seq.Positions);

        var prefill = session.Prefill(seq, 0, new PrefillOptions { HiddenStates = true, AllLogits = true });
        var hidden = prefill.HiddenStates!;
        var logits = prefill.AllLogits!;
        for (int i = 0; i < hidden.Count; i++)
            Compare.Relative(_golden.Tensor($"llm.hidden_states.{i}"), hidden[i], Tol, $"llm.hidden_states.{i}");
        Compare.Relative(_golden.Tensor("llm.logits"), logits, Tol, "llm.logits");

        var gen = session.Generate(seq, new GenerationOptions { MaxNewTokens = 8, KeepStepLogits = true });
        Assert.Equal(_golden.Ints("generated_ids"), gen.Tokens);
        var steps = _golden.Tensor("generate.step_logits");
        int v = model.Config.Text.VocabSize;
        for (int s = 0; s < 8; s++)
            Compare.Relative(steps.AsSpan(s * v, v), gen.StepLogits![s], Tol, $"generate.step_logits[{s}]");
    }

    [Theory]
    [InlineData("model.f16.safetensors", "f16w.llm.logits")]
    [InlineData("model.bf16.safetensors", "bf16w.llm.logits")]
    public void Half_precision_weights_reproduce_their_goldens(string weights, string golden)
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny, new ModelLoadOptions { WeightsFile = weights });
        var ctx = new ComputeContext(2);
        var session = new InferenceSession(model, ctx);
        var vision = model.Vision.Forward(ctx, _golden.Tensor("preprocess.image.pixel_values"));
        int rows = model.Config.Vision.NumPatches;
        var visual = session.Project(vision.PatchFeatures, rows);
        int[] ids = _golden.Ints("input_ids");
        var seq = session.Splice(ids, InferenceSession.FindImageSlot(ids, model.Config.ImageTokenIndex), visual, rows);
        var logits = session.Prefill(seq, 0, new PrefillOptions { AllLogits = true }).AllLogits!;
        Compare.Relative(_golden.Tensor(golden), logits, Tol, golden);
    }
}
