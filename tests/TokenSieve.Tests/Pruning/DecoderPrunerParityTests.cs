using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Tests.Support;
using Xunit.Abstractions;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Pruning;

/// <summary>Shared models for the parity tests: the llava-tiny fixture (2 layers, 16 image tokens)
/// and a random 8-layer GQA model (64 image tokens) for multi-stage pruning.</summary>
public sealed class PruningModels : IDisposable
{
    public RandomLlava Random { get; } = new(layers: 8, kvHeads: 2);
    public NaiveLlama TinyNaive { get; } = new(TestData.LlavaTiny);
    public NaiveLlama RandomNaive { get; }

    public PruningModels() => RandomNaive = new NaiveLlama(Random.Path);

    public void Dispose() => Random.Dispose();
}

/// <summary>Each pruner against a naive reference written here from METHODS.md: plain loops, double
/// precision, materialised softmax attention over the whole sequence, no cache. Kept positions must
/// be identical; logits agree to 1e-4 of their max magnitude (the engine runs in float32 with a
/// different summation order; the unpruned engine meets the same bound against transformers).</summary>
public sealed class DecoderPrunerParityTests(PruningModels models, ITestOutputHelper output) : IClassFixture<PruningModels>
{
    const double Tol = 1e-4;

    public static TheoryData<string, string> Cases => new()
    {
        { "tiny", "fastv:k=1,keep=6" },
        { "tiny", "pdrop:layers=1,ratios=0.5" },
        { "tiny", "sparsevlm:layers=0,budgets=6" },
        { "tiny", "dart:k=1,keep=8" },
        { "random", "fastv:k=3,keep=20" },
        { "random", "pdrop:layers=2/4/6,lambda=0.5" },
        { "random", "sparsevlm:layers=1/3/5,budgets=30/16/8" },
        { "random", "dart:k=2,keep=24" },
    };

    static NaiveMethod NaiveFor(string spec) => spec switch
    {
        "fastv:k=1,keep=6" => new NaiveFastV(1, 6),
        "pdrop:layers=1,ratios=0.5" => new NaivePyramidDrop([1], [0.5]),
        "sparsevlm:layers=0,budgets=6" => new NaiveSparseVlm([0], [6]),
        "dart:k=1,keep=8" => new NaiveDart(1, 8),
        "fastv:k=3,keep=20" => new NaiveFastV(3, 20),
        "pdrop:layers=2/4/6,lambda=0.5" => new NaivePyramidDrop([2, 4, 6], [0.5, 0.25, 0.125]),
        "sparsevlm:layers=1/3/5,budgets=30/16/8" => new NaiveSparseVlm([1, 3, 5], [30, 16, 8]),
        "dart:k=2,keep=24" => new NaiveDart(2, 24),
        _ => throw new ArgumentException(spec),
    };

    (LlavaModel Model, NaiveLlama Naive, int[] Ids, float[] Visual) Setup(string which)
    {
        if (which == "tiny")
        {
            using var golden = new Golden(TestData.LlavaTiny);
            return (LlavaModel.Load(TestData.LlavaTiny), models.TinyNaive, golden.Ints("input_ids"), golden.Tensor("projector.output"));
        }
        var model = models.Random.Load();
        var (ids, visual) = RandomLlava.Prompt(model, before: 5, visual: 64, after: 10, seed: 7);
        return (model, models.RandomNaive, ids, visual);
    }

    static SplicedSequence Splice(InferenceSession session, int[] ids, float[] visual)
    {
        int d = session.Model.Config.Text.HiddenSize;
        return session.Splice(ids, InferenceSession.FindImageSlot(ids, session.Model.Config.ImageTokenIndex), visual, visual.Length / d);
    }

    static double[][] Rows(SplicedSequence seq, int d) =>
        Enumerable.Range(0, seq.Length).Select(i => seq.Embeddings.AsSpan(i * d, d).ToArray().Select(x => (double)x).ToArray()).ToArray();

    static float[] Flat(IEnumerable<double[]> rows) => rows.SelectMany(r => r.Select(x => (float)x)).ToArray();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prefill_keeps_the_same_positions_and_logits_as_the_naive_reference(string which, string spec)
    {
        var (model, naive, ids, visual) = Setup(which);
        using var _ = model;
        var session = new InferenceSession(model, new ComputeContext(2));
        var seq = Splice(session, ids, visual);
        var result = session.Prefill(seq, 0, new PrefillOptions { AllLogits = true }, MethodCatalog.ParseDecoder(spec));
        var reference = NaivePipeline.Run(naive, Rows(seq, model.Config.Text.HiddenSize), seq.ImageStart, seq.ImageTokens, [], NaiveFor(spec));

        Assert.True(result.FinalLength < seq.Length, $"{spec} pruned nothing");
        Assert.Equal(reference.OriginalIndices, result.KeptOriginalIndices);
        Assert.Equal(reference.TokensPerLayer, result.TokensPerLayer);
        var expected = Flat(reference.Logits);
        Compare.Relative(expected, result.AllLogits!, Tol, $"{spec} logits of every kept row");
        double maxDiff = expected.Zip(result.AllLogits!, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"{which} {spec}: kept original rows [{string.Join(' ', result.KeptOriginalIndices)}], tokens per layer [{string.Join(' ', result.TokensPerLayer)}], max |logit diff| {maxDiff:g3} (max |logit| {expected.Max(Math.Abs):g3})");
        foreach (var note in result.Notes) output.WriteLine("  " + note);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Cached_generation_equals_recomputing_the_pruned_sequence_from_scratch(string which, string spec)
    {
        var (model, naive, ids, visual) = Setup(which);
        using var _ = model;
        var session = new InferenceSession(model, new ComputeContext(2));
        var seq = Splice(session, ids, visual);
        const int steps = 5;
        var gen = session.Generate(seq, new GenerationOptions { MaxNewTokens = steps, EosTokenId = -1, KeepStepLogits = true }, MethodCatalog.ParseDecoder(spec));
        Assert.Equal(steps, gen.Tokens.Length);
        var prompt = Rows(seq, model.Config.Text.HiddenSize);
        for (int t = 0; t < steps; t++)
        {
            var run = NaivePipeline.Run(naive, prompt, seq.ImageStart, seq.ImageTokens, gen.Tokens[..t], NaiveFor(spec));
            var last = run.Logits[^1];
            Compare.Relative(last.Select(x => (float)x).ToArray(), gen.StepLogits![t], Tol, $"{spec} step {t} logits");
            int argmax = Array.IndexOf(last, last.Max());
            output.WriteLine($"{which} {spec} step {t}: token {gen.Tokens[t]}, max |logit diff| {last.Zip(gen.StepLogits![t], (a, b) => Math.Abs(a - b)).Max():g3}");
            Assert.True(argmax == gen.Tokens[t], $"{spec} step {t}: cached decoding chose {gen.Tokens[t]}, recompute chose {argmax}");
        }
    }

    [Fact]
    public void SparseVlm_raters_match_the_naive_selection()
    {
        using var model = models.Random.Load();
        var (ids, visual) = RandomLlava.Prompt(model, 5, 64, 10, seed: 7);
        var session = new InferenceSession(model);
        var seq = Splice(session, ids, visual);
        var naive = new NaiveSparseVlm([1], [8]);
        naive.Begin(Rows(seq, model.Config.Text.HiddenSize), seq.ImageStart, seq.ImageTokens);
        var raters = SparseVlm.SelectRaters(seq, model.Config.Text.HiddenSize);
        Assert.Equal(naive.Raters, raters);
        Assert.InRange(raters.Length, 1, 9);
    }
}
