using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Pruning;
using TokenSieve.Tests.Pruning;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Methods;

/// <summary>A configured method keeps no per-run state: one instance runs many items, also on several
/// threads at once, with the results of fresh instances run one after another.</summary>
public sealed class StatelessMethodTests(PruningModels models) : IClassFixture<PruningModels>
{
    [Theory]
    [InlineData("fastv:k=3,keep=20")]
    [InlineData("pdrop:layers=2/4/6,lambda=0.5")]
    [InlineData("sparsevlm:layers=1/3/5,budgets=30/16/8")]
    [InlineData("dart:k=2,keep=24")]
    public void One_decoder_pruner_serves_concurrent_prefills(string spec)
    {
        const int items = 4;
        var prompts = Enumerable.Range(0, items).Select(i =>
        {
            using var m = models.Random.Load();
            return RandomLlava.Prompt(m, before: 5, visual: 64 - 4 * i, after: 10, seed: 11 + i);
        }).ToArray();

        (int[] Kept, float[] Logits) Run(IDecoderPruner pruner, int i)
        {
            using var model = models.Random.Load();
            var session = new InferenceSession(model, ComputeContext.SingleThread);
            var (ids, visual) = prompts[i];
            var seq = session.Splice(ids, InferenceSession.FindImageSlot(ids, model.Config.ImageTokenIndex), visual, visual.Length / model.Config.Text.HiddenSize);
            var r = session.Prefill(seq, 0, null, pruner);
            return (r.KeptOriginalIndices, r.LastLogits);
        }

        var expected = Enumerable.Range(0, items).Select(i => Run(MethodCatalog.ParseDecoder(spec), i)).ToArray();
        var shared = MethodCatalog.ParseDecoder(spec);
        var actual = new (int[] Kept, float[] Logits)[items];
        Parallel.For(0, items, new ParallelOptions { MaxDegreeOfParallelism = items }, i => actual[i] = Run(shared, i));
        for (int i = 0; i < items; i++)
        {
            Assert.Equal(expected[i].Kept, actual[i].Kept);
            Assert.Equal(expected[i].Logits, actual[i].Logits); // same arithmetic on one thread: bit-identical
        }
    }

    [Theory]
    [InlineData("tome:keep=6")]
    [InlineData("prumerge+")]
    [InlineData("visionzip:4+2")]
    public void One_vision_method_serves_concurrent_images(string spec)
    {
        var images = Enumerable.Range(0, 3).Select(i => TestData.Random(3 * 56 * 56, seed: 40 + i)).ToArray();
        int[] Run(global::TokenSieve.Reduction.IVisualReducer reducer, int i)
        {
            using var model = LlavaModel.Load(TestData.LlavaTiny);
            var pipeline = new LlavaPipeline(model, ComputeContext.SingleThread);
            var visual = pipeline.EncodeImage(images[i], reducer, seed: 1);
            return visual.Reduction!.Provenance.SelectMany(p => p.Patches).ToArray();
        }
        var expected = Enumerable.Range(0, images.Length).Select(i => Run(MethodCatalog.ParseVision(spec), i)).ToArray();
        var shared = MethodCatalog.ParseVision(spec);
        var actual = new int[images.Length][];
        Parallel.For(0, images.Length, new ParallelOptions { MaxDegreeOfParallelism = images.Length }, i => actual[i] = Run(shared, i));
        for (int i = 0; i < images.Length; i++) Assert.Equal(expected[i], actual[i]);
    }
}
