using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Tests.Support;
using TokenSieve.Text;

namespace TokenSieve.Tests.Models;

/// <summary>A second conversation turn on the same KV cache (METHODS.md §15.5).</summary>
public sealed class MultiTurnTests : IDisposable
{
    readonly Golden _tiny = new(TestData.LlavaTiny);

    public void Dispose() => _tiny.Dispose();

    [Theory]
    [InlineData("vicuna_v1")]
    [InlineData("llava_hf")]
    public void Follow_up_ids_extend_the_first_turn_to_the_whole_conversation(string templateName)
    {
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        var template = ChatTemplate.Get(templateName);
        var first = LlavaPrompt.Build(tokenizer, template, "What is in the image?", 250);
        var answer = tokenizer.Encode("A red circle.", addBos: false);
        var both = LlavaPrompt.Build(tokenizer, template, [new ChatTurn("What is in the image?", "A red circle."), new ChatTurn("Is it big?")], 250);
        int[] expected = [.. first.Ids, .. answer, .. LlavaPrompt.FollowUp(tokenizer, template, "Is it big?")];
        Assert.Equal(expected, both.Ids);
    }

    [Fact]
    public void Without_pruning_a_continued_turn_equals_prefilling_the_whole_conversation()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        int[] ids = _tiny.Ints("input_ids");
        var visual = _tiny.Tensor("projector.output");
        var options = new GenerationOptions { MaxNewTokens = 3, EosTokenId = -1 };
        var turn1 = session.Generate(session.Splice(ids, 3, visual, 16), options);
        int[] follow = [5, 17, 99, 42, 7];
        var turn2 = session.Continue([turn1.UnfedToken!.Value, .. follow], options with { KeepStepLogits = true });

        int[] whole = [.. ids, .. turn1.Tokens, .. follow];
        var fresh = new InferenceSession(model, ComputeContext.SingleThread);
        var reference = fresh.Generate(fresh.Splice(whole, 3, visual, 16), options with { KeepStepLogits = true });
        Assert.Equal(reference.Tokens, turn2.Tokens);
        // Same arithmetic except the chunking of the rows through the layers: float32 rounding only.
        Compare.Relative(reference.StepLogits!.SelectMany(x => x).ToArray(), turn2.StepLogits!.SelectMany(x => x).ToArray(), 1e-5, "turn 2 logits");
    }

    [Theory]
    [InlineData("fastv:k=1,keep=6")]
    [InlineData("sparsevlm:layers=0,budgets=6")]
    [InlineData("dart:k=1,keep=8,pt=2")]
    public void A_continued_turn_reads_the_pruned_cache_as_token_by_token_decoding_does(string spec)
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        int[] ids = _tiny.Ints("input_ids");
        var visual = _tiny.Tensor("projector.output");
        var options = new GenerationOptions { MaxNewTokens = 2, EosTokenId = -1 };
        int[] follow = [5, 17, 99, 42, 7];

        var chunked = new InferenceSession(model, ComputeContext.SingleThread);
        var t1 = chunked.Generate(chunked.Splice(ids, 3, visual, 16), options, MethodCatalog.ParseDecoder(spec));
        Assert.True(t1.KeptOriginalIndices.Length < ids.Length - 1 + 16);
        var continued = chunked.Continue([t1.UnfedToken!.Value, .. follow], options with { MaxNewTokens = 1, KeepStepLogits = true });

        var stepwise = new InferenceSession(model, ComputeContext.SingleThread);
        stepwise.Generate(stepwise.Splice(ids, 3, visual, 16), options, MethodCatalog.ParseDecoder(spec));
        float[] last = [];
        foreach (int t in new[] { t1.UnfedToken!.Value }.Concat(follow)) last = stepwise.DecodeStep(t);
        Compare.Relative(last, continued.StepLogits![0], 1e-5, $"{spec}: turn-2 first logits, chunk vs token by token");
    }

    [Fact]
    public void Continue_needs_a_first_turn() =>
        Assert.Throws<InvalidOperationException>(() => new InferenceSession(LlavaModel.Load(TestData.LlavaTiny)).Continue([5], new GenerationOptions()));
}
