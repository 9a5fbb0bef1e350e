using TokenSieve.Lab;
using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;
using TokenSieve.Lab.Training;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Tests.Lab;

/// <summary>A lab model saved by <see cref="LabCheckpoint"/> runs through the engine
/// (<see cref="LlavaModel"/> + <see cref="InferenceSession"/>) exactly as the trainer computes it:
/// same patch features, same next-token logits, same greedy answer. Tolerance 1e-4 of the largest
/// logit magnitude: both are fp32 with different summation orders (the fixture README's bound).</summary>
public class EngineParityTests
{
    [Fact]
    public void SavedLabModelRunsThroughTheEngine()
    {
        var m = new LabModel(ModelGradientTests.Tiny);
        m.Parameters.Initialise(11);
        var rng = new LabRandom(12);
        foreach (var p in m.Parameters.List)
        {
            double std = p.Shape.Length >= 2 ? 1.0 / Math.Sqrt(p.Length / p.Shape[0]) : 0.3;
            for (int i = p.Offset; i < p.Offset + p.Length; i++) m.Parameters.Data[i] += (float)(rng.NextGaussian() * std);
        }
        m.RefreshTransposed();
        string dir = Path.Combine(Path.GetTempPath(), "tokensieve-lab-engine-" + Guid.NewGuid().ToString("N"));
        try
        {
            LabCheckpoint.Save(m, dir);
            var c = m.Config;
            var item = LabDataset.Item(LabDataset.DefaultSeed, LabSplit.Validation, LabFamily.Attribute, 0);
            var pixels = LabImage.ToPixelValues(item.Scene.Render(), c.ImageSize);

            // trainer side
            var va = new VisionActivations(c);
            var pa = new ProjectorActivations(c);
            m.VisionForward(pixels, va, c.FeatureLayers);
            m.ProjectorForward(va.Hidden[c.FeatureLayers].AsSpan(c.VisionHidden), pa, c.NumPatches);
            var tokens = LabPrompt.Prompt(item.Question.Text, c.NumPatches);
            var da = new DecoderActivations(c, c.MaxPositions);
            m.BuildInputs(tokens.ToArray(), pa.Output, da);
            m.DecoderForward(da, tokens.Count, [tokens.Count - 1]);
            var labLogits = da.Logits.AsSpan(0, c.VocabSize).ToArray();

            // engine side: one <image> slot in the ids, spliced with the projected patch features
            using var engine = LlavaModel.Load(dir);
            var session = new InferenceSession(engine, ComputeContext.SingleThread);
            var vision = engine.Vision.Forward(ComputeContext.SingleThread, pixels);
            var features = vision.PatchFeatures.ToArray();
            var expectedFeatures = va.Hidden[c.FeatureLayers].AsSpan(c.VisionHidden, c.NumPatches * c.VisionHidden).ToArray();
            AssertClose(expectedFeatures, features, "patch features");
            var visual = session.Project(features, c.NumPatches);
            var ids = LabPrompt.Prompt(item.Question.Text, 1).ToArray();
            var seq = session.Splice(ids, InferenceSession.FindImageSlot(ids, c.ImageTokenIndex), visual, c.NumPatches);
            var engineLogits = session.Prefill(seq, 8).LastLogits;
            AssertClose(labLogits, engineLogits, "next-token logits");

            var va2 = new VisionActivations(c);
            var labAnswer = LabEvaluator.Answer(m, item.Scene, item.Question.Text, va2, new ProjectorActivations(c), new DecoderActivations(c, c.MaxPositions));
            var gen = session.Generate(seq, new GenerationOptions { MaxNewTokens = LabEvaluator.MaxAnswerTokens, EosTokenId = c.EosTokenId });
            Assert.Equal(labAnswer, LabTokenizer.Decode(gen.Tokens.Where(t => t != c.EosTokenId)).Trim());
        }
        finally { Directory.Delete(dir, true); }
    }

    static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= 1e-4f * Math.Max(1f, scale), $"{what}: max |Δ| {worst:E2} vs scale {scale:E2}");
    }
}
