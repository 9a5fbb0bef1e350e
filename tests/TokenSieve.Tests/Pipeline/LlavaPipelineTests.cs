using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;
using TokenSieve.Text;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Pipeline;

public sealed class LlavaPipelineTests
{
    static (LlavaPipeline Pipeline, LlavaModel Model, PromptIds Prompt, RgbImage Image) Setup()
    {
        var model = LlavaModel.Load(TestData.LlavaTiny);
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        var prompt = LlavaPrompt.Build(tokenizer, ChatTemplate.LlavaHf, "What is in the image?", model.Config.ImageTokenIndex);
        return (new LlavaPipeline(model, ComputeContext.SingleThread), model, prompt, ImageDecoder.Load(Path.Combine(TestData.LlavaTiny, "image.png")));
    }

    [Fact]
    public void Vision_reduction_and_decoder_pruning_compose_and_the_report_counts_tokens_per_layer()
    {
        var (pipeline, model, prompt, image) = Setup();
        using var _ = model;
        var method = MethodPlan.Parse("pool:4|fastv:k=1,keep=2");
        var result = pipeline.Run(image, prompt.Ids, prompt.ImageSlot, new RunOptions
        {
            Reducer = method.Reducer, Pruner = method.Pruner, Generation = new GenerationOptions { MaxNewTokens = 3 },
        });
        var r = result.Report;
        int textTokens = prompt.Ids.Length - 1;
        Assert.Equal(4, r.VisualTokens);
        Assert.Equal(textTokens + 4, r.PromptTokens);
        // Layer 0 sees all 4 pooled tokens; FastV at k=1 keeps 2 of them for layer 1.
        Assert.Equal([textTokens + 4, textTokens + 2], r.TokensPerLayer);
        Assert.Equal(textTokens + 2, r.KeptPositions.Length);
        Assert.Equal("pool:4", r.Reduction);
        Assert.StartsWith("fastv", r.Pruning);
        Assert.True(r.PrefillFlops < global::TokenSieve.Cost.CostModel.PrefillFlops(model.Config.Text, textTokens + 4));
        // time to first token counts everything from the image on, not the prefill alone
        Assert.True(r.TimeToFirstTokenMs >= r.PreprocessMs + r.VisionMs + r.ReductionMs + r.ProjectorMs + r.PrefillMs);
    }

    [Fact]
    public void Unreduced_pipeline_equals_the_session_run_on_the_same_pixels()
    {
        var (pipeline, model, prompt, image) = Setup();
        using var _ = model;
        var pixels = pipeline.Preprocess(image, AspectMode.Pad);
        var viaPipeline = pipeline.Run(pixels, prompt.Ids, prompt.ImageSlot, new RunOptions { Generation = new GenerationOptions { MaxNewTokens = 4 } });
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        var vision = model.Vision.Forward(session.Compute, pixels);
        var visual = session.Project(vision.PatchFeatures, model.Config.Vision.NumPatches);
        var seq = session.Splice(prompt.Ids, prompt.ImageSlot, visual, model.Config.Vision.NumPatches);
        var direct = session.Generate(seq, new GenerationOptions { MaxNewTokens = 4 });
        Assert.Equal(direct.Tokens, viaPipeline.Tokens);
    }

    [Theory]
    [InlineData("prumerge|prumerge+")]
    [InlineData("fastv:k=1,keep=2|dart:k=1,keep=4")]
    [InlineData("a|b|c")]
    public void Bad_combinations_are_spec_errors(string spec) =>
        Assert.Throws<MethodSpecException>(() => MethodPlan.Parse(spec));
}

public sealed class EagerAttentionRunTests
{
    /// <summary>§15.4: eager attention is a speed counterfactual, not a different model: every method
    /// gives the same answer and the same kept tokens as with fused attention, with logits equal to
    /// float32 rounding (1e-4 of their max, the bound the engine meets against transformers).</summary>
    [Theory]
    [InlineData("none")]
    [InlineData("prumerge+")]
    [InlineData("tome:keep=8")]
    [InlineData("fastv:k=1,keep=6")]
    [InlineData("alpha:a=0.5,k=1,keep=6")]
    public void Eager_and_fused_attention_give_the_same_run(string spec)
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        var prompt = LlavaPrompt.Build(tokenizer, ChatTemplate.LlavaHf, "What is in the image?", model.Config.ImageTokenIndex);
        var image = ImageDecoder.Load(Path.Combine(TestData.LlavaTiny, "image.png"));
        var plan = MethodPlan.Parse(spec);
        RunResult Run(AttentionMode mode) => new LlavaPipeline(model, new ComputeContext(1, mode)).Run(image, prompt.Ids, prompt.ImageSlot, new RunOptions
        {
            Reducer = plan.Reducer, Pruner = plan.Pruner, Generation = new GenerationOptions { MaxNewTokens = 6, KeepStepLogits = true, EosTokenId = -1 },
        });
        var fused = Run(AttentionMode.Fused);
        var eager = Run(AttentionMode.Eager);
        Assert.Equal(fused.Tokens, eager.Tokens);
        Assert.Equal(fused.Report.KeptPositions, eager.Report.KeptPositions);
        Assert.Equal(fused.Report.VisualTokens, eager.Report.VisualTokens);
        Compare.Relative(fused.Generation.StepLogits!.SelectMany(x => x).ToArray(), eager.Generation.StepLogits!.SelectMany(x => x).ToArray(), 1e-4, $"{spec} step logits");
    }
}
