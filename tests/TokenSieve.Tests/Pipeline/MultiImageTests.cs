using TokenSieve.Evaluation;
using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Pruning;
using TokenSieve.Tests.Support;
using TokenSieve.Text;

namespace TokenSieve.Tests.Pipeline;

/// <summary>Several images in one prompt: each fills its placeholder in order, reductions run per
/// image, decoder pruners keep their budget per image unless the spec says scope=total.</summary>
public sealed class MultiImageTests
{
    static readonly string Image0 = Path.Combine(TestData.LlavaTiny, "image.png"), Image1 = Path.Combine(TestData.LlavaTiny, "image_extra0.png");

    static (LlavaModel Model, LlavaPipeline Pipeline, PromptIds Prompt, List<RgbImage> Images) Setup(string question = "What differs?")
    {
        var model = LlavaModel.Load(TestData.LlavaTiny);
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        var prompt = LlavaPrompt.Build(tokenizer, ChatTemplate.LlavaHf, question, model.Config.ImageTokenIndex, images: 2);
        return (model, new LlavaPipeline(model, ComputeContext.SingleThread), prompt, [ImageDecoder.Load(Image0), ImageDecoder.Load(Image1)]);
    }

    [Fact]
    public void Prompts_place_one_slot_per_image_in_the_first_turn()
    {
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        var p = LlavaPrompt.Build(tokenizer, ChatTemplate.VicunaV1, "Which is red?", 250, images: 2);
        Assert.Equal(2, p.ImageSlots.Length);
        Assert.Equal(p.ImageSlots[0], p.ImageSlot);
        Assert.Contains("USER: <image>\n<image>\nWhich is red? ASSISTANT:", p.Text);
        Assert.Equal(2, LlavaPrompt.Build(tokenizer, ChatTemplate.VicunaV1, "Compare <image> with <image>", 250, images: 2).ImageSlots.Length);
        Assert.Throws<InvalidInputException>(() => LlavaPrompt.Build(tokenizer, ChatTemplate.VicunaV1, "Only <image>", 250, images: 2));
    }

    [Fact]
    public void A_two_image_run_equals_splicing_both_encodings_by_hand()
    {
        var (model, pipeline, prompt, images) = Setup();
        using var _ = model;
        var result = pipeline.Run(images, prompt.Ids, prompt.ImageSlots, new RunOptions { Generation = new GenerationOptions { MaxNewTokens = 4, EosTokenId = -1 } });
        Assert.Equal(2, result.Report.Images);
        Assert.Equal(32, result.Report.VisualTokens);

        var session = new InferenceSession(model, ComputeContext.SingleThread);
        var v0 = pipeline.EncodeImage(pipeline.Preprocess(images[0], AspectMode.Pad), null, 0);
        var v1 = pipeline.EncodeImage(pipeline.Preprocess(images[1], AspectMode.Pad), null, 1);
        var seq = session.Splice(prompt.Ids, [new SplicedImage(prompt.ImageSlots[0], v0.Tokens, 16), new SplicedImage(prompt.ImageSlots[1], v1.Tokens, 16)]);
        Assert.Equal(2, seq.Images.Count);
        Assert.Equal(seq.Images[0].End + prompt.ImageSlots[1] - prompt.ImageSlots[0] - 1, seq.Images[1].Start);
        Assert.Equal(1, seq.ImageOf(seq.Images[1].Start));
        Assert.Equal(-1, seq.ImageOf(0));
        Assert.Equal(2, seq.Layout.Grids.Count);
        Assert.Equal(new GridCell(1, 0, 0), seq.Layout.Tokens[16]);
        var direct = session.Generate(seq, new GenerationOptions { MaxNewTokens = 4, EosTokenId = -1 });
        Assert.Equal(direct.Tokens, result.Tokens);
    }

    [Theory]
    [InlineData("fastv:k=1,keep=4", 8)]
    [InlineData("fastv:k=1,keep=4,scope=total", 4)]
    [InlineData("fastv:k=1,keep=4,window=2", 8)]
    [InlineData("fastv:k=1,keep=4,query=last-visual", 8)]
    [InlineData("alpha:a=0.5,k=1,keep=3", 6)]
    [InlineData("alpha:a=0.5,k=1,keep=3,scope=total,unique=mean", 3)]
    [InlineData("pdrop:layers=1,ratios=0.5", 16)]
    public void Decoder_budgets_apply_per_image_unless_the_spec_says_total(string spec, int keptVisual)
    {
        var (model, pipeline, prompt, images) = Setup();
        using var _ = model;
        var plan = MethodPlan.Parse(spec);
        var result = pipeline.Run(images, prompt.Ids, prompt.ImageSlots, new RunOptions { Pruner = plan.Pruner, Generation = new GenerationOptions { MaxNewTokens = 1 } });
        var r = result.Report;
        var kept = r.KeptPositions.Where(p => r.ImageSpans.Any(s => p >= s.Start && p < s.Start + s.Count)).ToList();
        Assert.Equal(keptVisual, kept.Count);
        if (!spec.Contains("total"))
            foreach (var (start, count) in r.ImageSpans) Assert.Equal(keptVisual / 2, kept.Count(p => p >= start && p < start + count));
        Assert.Equal(keptVisual, KeptSources.From(r).Tokens.Count); // both images' tokens, pooled on the one grid
    }

    [Theory]
    [InlineData("dart:k=1,keep=8,pt=2", "one image")]
    [InlineData("sparsevlm:layers=0,budgets=6", "one image")]
    [InlineData("fastv:k=1,keep=17", "of image 1")]
    public void Methods_written_for_one_image_refuse_several(string spec, string message)
    {
        var (model, pipeline, prompt, images) = Setup();
        using var _ = model;
        var e = Assert.Throws<MethodSpecException>(() => pipeline.Run(images, prompt.Ids, prompt.ImageSlots,
            new RunOptions { Pruner = MethodPlan.Parse(spec).Pruner, Generation = new GenerationOptions { MaxNewTokens = 1 } }));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Vision_side_reduction_runs_per_image()
    {
        var (model, pipeline, prompt, images) = Setup();
        using var _ = model;
        var result = pipeline.Run(images, prompt.Ids, prompt.ImageSlots, new RunOptions { Reducer = MethodCatalog.ParseVision("pool:4"), Generation = new GenerationOptions { MaxNewTokens = 1 } });
        Assert.Equal(8, result.Report.VisualTokens);
        Assert.Equal([(prompt.ImageSlots[0], 4), (prompt.ImageSlots[1] + 3, 4)], result.Report.ImageSpans);
        Assert.Throws<InvalidInputException>(() => pipeline.Run([images[0]], prompt.Ids, prompt.ImageSlots, new RunOptions()));
    }
}
