using TokenSieve.Lab;
using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;
using TokenSieve.Lab.Training;

namespace TokenSieve.Tests.Lab;

/// <summary>Finite-difference checks of whole-model backward passes on a tiny configuration: the
/// stage-1 path (tower + [CLS] head + objective) and the stage-2 path (tower features → projector
/// → decoder → logits at the answer positions), for a sample of parameters of every tensor. The
/// loss is a fixed random linear functional of the logits accumulated in float64, so the finite
/// differences are not swamped by float32 rounding of a large loss; the objectives themselves are
/// checked on their own (<see cref="ClsObjectiveGradient"/>, LayerGradientTests.Losses).</summary>
public class ModelGradientTests
{
    internal static LabModelConfig Tiny => LabModelConfig.Default with
    {
        VisionHidden = 8, VisionIntermediate = 16, VisionLayers = 2, VisionHeads = 2,
        TextHidden = 8, TextIntermediate = 12, TextLayers = 2, TextHeads = 2,
    };

    static LabModel TinyModel(int seed)
    {
        var m = new LabModel(Tiny);
        m.Parameters.Initialise((ulong)seed);
        // larger weights than the 0.02 init, so every path carries gradient well above fp32 noise,
        // but scaled by 1/√fan-in so activations stay O(1) (a 588-input patch embedding with O(1)
        // weights would give embeddings of ~15 and starve the position embedding's gradient)
        var rng = new LabRandom((ulong)seed + 1);
        var data = m.Parameters.Data;
        foreach (var p in m.Parameters.List)
        {
            double std = p.Shape.Length >= 2 ? 1.0 / Math.Sqrt(p.Length / p.Shape[0]) : 0.3;
            for (int i = p.Offset; i < p.Offset + p.Length; i++) data[i] += (float)(rng.NextGaussian() * std);
        }
        m.RefreshTransposed();
        return m;
    }

    /// <summary>Checks up to <paramref name="perTensor"/> elements of each tensor the loss depends on.</summary>
    static void Check(LabModel m, float[] grads, Func<double> loss, Func<ParameterInfo, bool> include, int perTensor = 3)
    {
        var data = m.Parameters.Data;
        int checkedTensors = 0;
        foreach (var p in m.Parameters.List)
        {
            if (!include(p)) continue;
            var rng = new LabRandom((ulong)p.Offset + 7);
            var idx = Enumerable.Range(0, perTensor).Select(_ => p.Offset + rng.Next(p.Length)).Distinct().ToArray();
            var probe = idx.Select(i => data[i]).ToArray();
            // h = 5e-2: whole-model outputs are float32 sums over many layers, so their rounding
            // noise (~1e-6 absolute) divided by 2h must stay well below gradients of ~1e-3;
            // the O(h²) truncation error of these smooth functions stays ~1e-4 relative.
            var numeric = GradientCheck.Numeric(probe, () =>
            {
                var keep = idx.Select(i => data[i]).ToArray();
                for (int j = 0; j < idx.Length; j++) data[idx[j]] = probe[j];
                m.RefreshTransposed();
                double l = loss();
                for (int j = 0; j < idx.Length; j++) data[idx[j]] = keep[j];
                m.RefreshTransposed();
                return l;
            }, h: 5e-2f);
            var analytic = idx.Select(i => grads[i]).ToArray();
            // k_proj's bias adds q·b to a whole row of scores, which softmax ignores: its true
            // gradient is zero. Other tensors whose sampled entries carry no gradient (an unused
            // embedding row) are skipped too.
            if (p.Name.EndsWith("k_proj.bias")) continue;
            if (numeric.All(x => Math.Abs(x) < 1e-5) && analytic.All(x => Math.Abs(x) < 1e-5)) continue;
            GradientCheck.AssertClose(analytic, numeric, p.Name);
            checkedTensors++;
        }
        Assert.True(checkedTensors > 10, $"only {checkedTensors} tensors checked");
    }

    [Fact]
    public void VisionStage()
    {
        var m = TinyModel(1);
        var c = m.Config;
        var scene = SceneGenerator.Generate(42, SceneKind.Standard, withCard: true);
        var pixels = LabImage.ToPixelValues(scene.Render(), c.ImageSize);
        var va = new VisionActivations(c);
        var logits = new float[ClsObjective.Outputs];
        var dlogits = GradientCheck.Random(ClsObjective.Outputs, 3);
        var patchLogits = new float[c.NumPatches * PatchObjective.Outputs];
        var dPatch = GradientCheck.Random(patchLogits.Length, 4, 0.1f);
        double Loss()
        {
            m.VisionForward(pixels, va, c.VisionLayers);
            m.ClsHeadForward(va, logits);
            m.PatchHeadForward(va, patchLogits);
            return GradientCheck.Weighted(logits, dlogits) + GradientCheck.Weighted(patchLogits, dPatch);
        }
        Loss();
        var grads = new float[m.Parameters.Count];
        var dTop = new float[c.VisionTokens * c.VisionHidden];
        var dFeature = new float[c.VisionTokens * c.VisionHidden];
        m.ClsHeadBackward(dlogits, va, dTop, grads);
        m.PatchHeadBackward(dPatch, va, dFeature, grads);
        m.VisionBackward(dTop, va, c.VisionLayers, grads, dFeature, c.FeatureLayers);
        Check(m, grads, Loss, p => p.Name.StartsWith("vision_tower.") || p.Name.StartsWith("lab."));
    }

    [Fact]
    public void AnsweringStage()
    {
        var m = TinyModel(2);
        var c = m.Config;
        var conv = LabDataset.TrainingConversation(7, 3, 2);
        var seq = LabPrompt.Conversation(conv.Turns, c.NumPatches, LabPrompt.ImageSplitStyle.OriginalLlava);
        var pixels = LabImage.ToPixelValues(conv.Scene.Render(), c.ImageSize);
        var va = new VisionActivations(c);
        var pa = new ProjectorActivations(c);
        var da = new DecoderActivations(c, seq.Tokens.Length);
        int v = c.VocabSize, f = c.FeatureLayers;
        var dlogits = GradientCheck.Random(seq.Targets.Length * v, 4);
        double Loss()
        {
            m.VisionForward(pixels, va, f);
            m.ProjectorForward(va.Hidden[f].AsSpan(c.VisionHidden), pa, c.NumPatches);
            m.BuildInputs(seq.Tokens, pa.Output, da);
            m.DecoderForward(da, seq.Tokens.Length, seq.TargetPositions);
            return GradientCheck.Weighted(da.Logits.AsSpan(0, seq.Targets.Length * v), dlogits);
        }
        Loss();
        var grads = new float[m.Parameters.Count];
        m.DecoderBackward(dlogits, seq.TargetPositions, da, grads);
        var dImage = new float[c.NumPatches * c.TextHidden];
        m.InputsBackward(seq.Tokens, da, dImage, grads);
        var dFeat = new float[c.NumPatches * c.VisionHidden];
        m.ProjectorBackward(dImage, pa, c.NumPatches, dFeat, grads);
        var dTop = new float[c.VisionTokens * c.VisionHidden];
        dFeat.CopyTo(dTop.AsSpan(c.VisionHidden));
        m.VisionBackward(dTop, va, f, grads);
        Check(m, grads, Loss, p => p.Exported && !p.Name.Contains("post_layernorm") && !p.Name.Contains($"layers.{c.VisionLayers - 1}.") || p.Name.StartsWith("language_model"));
    }

    [Fact]
    public void ClsObjectiveGradient()
    {
        var scene = SceneGenerator.Generate(5, SceneKind.Standard, withCard: true);
        var logits = GradientCheck.Random(ClsObjective.Outputs, 6, 2f);
        var d = new float[ClsObjective.Outputs];
        ClsObjective.LossAndGradient(logits, scene, 1f, d);
        var numeric = GradientCheck.Numeric(logits, () => ClsObjective.LossAndGradient(logits, scene, 1f, new float[ClsObjective.Outputs]));
        GradientCheck.AssertClose(d, numeric, "cls objective");
    }

    [Fact]
    public void PatchObjectiveGradientAndTargets()
    {
        var scene = SceneGenerator.Generate(9, SceneKind.Standard, withCard: true);
        var targets = PatchObjective.Targets(scene, Scene.ImageSize, 14);
        Assert.Equal(64, targets.Length);
        // every object centre lies in a patch labelled with that object (cells never overlap)
        foreach (var o in scene.Objects)
        {
            var t = targets[o.CentreY / 14 * 8 + o.CentreX / 14];
            Assert.Equal(((int)o.Colour, (int)o.Shape), (t.Colour, t.Shape));
        }
        // the card's digits appear in its patches
        var digits = targets.Where(t => t.Digit < 10).Select(t => (char)('0' + t.Digit)).ToHashSet();
        Assert.Superset(digits, scene.Card!.Digits.ToHashSet());
        var logits = GradientCheck.Random(64 * PatchObjective.Outputs, 8, 2f);
        var d = new float[logits.Length];
        PatchObjective.LossAndGradient(logits, targets, 1f, d);
        var numeric = GradientCheck.Numeric(logits, () => PatchObjective.LossAndGradient(logits, targets, 1f, new float[logits.Length]), maxElements: 3 * PatchObjective.Outputs);
        GradientCheck.AssertClose(d.AsSpan(0, numeric.Length), numeric, "patch objective");
    }
}
