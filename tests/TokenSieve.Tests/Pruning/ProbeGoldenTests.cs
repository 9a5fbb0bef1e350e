using System.Text.Json;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Tests.Support;
using Xunit.Abstractions;

namespace TokenSieve.Tests.Pruning;

/// <summary>The rethinking paper's probes (METHODS.md §15.1–15.3: window FastV, FastV_VIS, the α
/// score) against tests/data/probes, made from the text of METHODS.md on transformers 4.40.2 with the
/// llava-tiny fixture. Kept positions must be identical (every cut's margin is ≥ 4e-4 of the score
/// scale, far above fp32 noise of ~1e-6); logits of every remaining row and the 4 greedy steps with
/// the pruned cache agree to 1e-4 of their max magnitude (the unpruned engine meets that bound against
/// transformers); the ranking scores to 1e-5 absolute (attention probabilities and min-max normalised
/// scores in [0, 1], float32 here vs float64 arithmetic there).</summary>
public sealed class ProbeGoldenTests(ITestOutputHelper output) : IDisposable
{
    const double Tol = 1e-4;
    static string Dir => TestData.Path("probes");
    readonly Golden _probes = new(Dir);
    readonly Golden _tiny = new(TestData.LlavaTiny);

    public void Dispose()
    {
        _probes.Dispose();
        _tiny.Dispose();
    }

    public static TheoryData<string> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "golden.json")));
        var data = new TheoryData<string>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateObject()) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Probe_keeps_the_reference_positions_and_logits(string name)
    {
        var c = _probes.Json.GetProperty("cases").GetProperty(name);
        string spec = c.GetProperty("spec").GetString()!;
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        int[] ids = _probes.Ints("input_ids");
        var seq = session.Splice(ids, InferenceSession.FindImageSlot(ids, model.Config.ImageTokenIndex), _tiny.Tensor("projector.output"), _probes.Json.GetProperty("num_image_patches").GetInt32());
        var pruner = MethodCatalog.ParseDecoder(spec);

        var hook = PrefillPruning.Begin(pruner, seq, model.Decoder.Info);
        var prefill = session.Prefill(seq, 0, new PrefillOptions { AllLogits = true }, hook);
        var expectedKept = _probes.Tensor($"{name}.kept_positions").Select(x => (int)x).ToArray();
        Assert.Equal(expectedKept, prefill.KeptOriginalIndices);
        Compare.Relative(_probes.Tensor($"{name}.logits"), prefill.AllLogits!, Tol, $"{name} logits");
        var ranking = Assert.Single(hook.Rankings);
        TestData.AssertClose(_probes.Tensor($"{name}.scores"), ranking.Scores, 1e-5, 0, $"{name} scores");

        var gen = session.Generate(seq, new GenerationOptions { MaxNewTokens = 4, KeepStepLogits = true, EosTokenId = -1 }, pruner);
        Assert.Equal(c.GetProperty("generated_ids").EnumerateArray().Select(x => x.GetInt32()), gen.Tokens);
        Compare.Relative(_probes.Tensor($"{name}.step_logits"), gen.StepLogits!.SelectMany(x => x).ToArray(), Tol, $"{name} step logits");
        output.WriteLine($"{spec}: kept image {string.Join(' ', expectedKept.Where(p => p >= seq.ImageStart && p < seq.ImageStart + seq.ImageTokens))}");
    }

    [Fact]
    public void Alpha_parts_match_the_reference_importance_and_uniqueness()
    {
        foreach (var name in new[] { "alpha05_k1_keep6_last", "alpha03_k1_keep6_mean" })
        {
            var spec = _probes.Json.GetProperty("cases").GetProperty(name).GetProperty("spec").GetString()!;
            using var model = LlavaModel.Load(TestData.LlavaTiny);
            var session = new InferenceSession(model, ComputeContext.SingleThread);
            int[] ids = _probes.Ints("input_ids");
            var seq = session.Splice(ids, 3, _tiny.Tensor("projector.output"), 16);
            var capture = new CapturingAlpha((AlphaScore)MethodCatalog.ParseDecoder(spec));
            session.Prefill(seq, 0, null, capture);
            TestData.AssertClose(_probes.Tensor($"{name}.importance"), capture.Importance!, 1e-6, 1e-5, $"{name} importance");
            TestData.AssertClose(_probes.Tensor($"{name}.uniqueness"), capture.Uniqueness!, 1e-6, 1e-5, $"{name} uniqueness");
        }
    }

    /// <summary>Records the α score's raw parts at its boundary, then prunes as the method does.</summary>
    sealed class CapturingAlpha(AlphaScore inner) : IDecoderPruner
    {
        public float[]? Importance, Uniqueness;
        public AlphaUniqueness Kind => inner.Uniqueness;
        public string Spec => inner.Spec;
        public PositionPolicy Positions => inner.Positions;
        public IReadOnlyList<int> Boundaries => inner.Boundaries;

        public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder) => new Run(this, inner.Begin(sequence, decoder));

        sealed class Run(CapturingAlpha owner, IPrunerRun run) : IPrunerRun
        {
            public DecoderTapRequest Request(int boundary, PruneLayout layout) => run.Request(boundary, layout);

            public PruneDecision Prune(PruneState state)
            {
                owner.Importance = state.HeadMeanRow(0).AsSpan(state.ImageStart, state.ImageCount).ToArray();
                owner.Uniqueness = AlphaScore.UniquenessScores(state, owner.Kind);
                return run.Prune(state);
            }
        }
    }

    [Theory]
    [InlineData(6)]
    [InlineData(1)]
    [InlineData(16)]
    public void Sanity_rules_of_section_15(int keep)
    {
        // a = 1 and window = the grid size select plain FastV's set; window = 1 does too (quota 0).
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        int[] ids = _probes.Ints("input_ids");
        var seq = session.Splice(ids, 3, _tiny.Tensor("projector.output"), 16);
        int[] Kept(string spec) => session.Prefill(seq, 0, null, MethodCatalog.ParseDecoder(spec)).KeptOriginalIndices;
        var fastv = Kept($"fastv:k=1,keep={keep}");
        Assert.Equal(fastv, Kept($"fastv:k=1,keep={keep},window=4"));
        Assert.Equal(fastv, Kept($"fastv:k=1,keep={keep},window=1"));
        Assert.Equal(fastv, Kept($"alpha:a=1,k=1,keep={keep}"));
        Assert.Equal(fastv, Kept($"alpha:a=1,k=1,keep={keep},unique=mean"));
    }

    [Theory]
    [InlineData("fastv:k=1,keep=6,window=3", "does not tile the 4x4 patch grid")]
    [InlineData("alpha:a=0.5,k=1,keep=17", "more than the 16 visual tokens")]
    public void Probe_budgets_and_windows_are_checked_against_the_model(string spec, string message)
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        int[] ids = _probes.Ints("input_ids");
        var seq = session.Splice(ids, 3, _tiny.Tensor("projector.output"), 16);
        Assert.Contains(message, Assert.Throws<MethodSpecException>(() => session.Prefill(seq, 0, null, MethodCatalog.ParseDecoder(spec))).Message);
    }

    [Theory]
    [InlineData("alpha:k=2,keep=8", "alpha needs a=A")]
    [InlineData("alpha:a=0.5,keep=8", "needs k=K")]
    [InlineData("alpha:a=1.5,k=2,keep=8", "out of range")]
    [InlineData("alpha:a=0.5,k=2,keep=8,window=2", "is a FastV option")]
    [InlineData("alpha:a=0.5,k=2,keep=8,unique=max", "not one of last, mean")]
    [InlineData("fastv:k=2,keep=8,query=first", "not one of last, last-visual")]
    [InlineData("fastv:k=2,keep=8,window=0", "out of range")]
    [InlineData("fastv:k=2,keep=8,window=2,start=36", "does not combine")]
    public void Probe_specs_are_validated(string spec, string message) =>
        Assert.Contains(message, Assert.Throws<MethodSpecException>(() => MethodCatalog.ParseDecoder(spec)).Message);
}
