using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Models;

/// <summary>A later turn on Qwen2-VL's KV cache (METHODS.md §15.5): the follow-up text continues at cache
/// index + rope_deltas, which is where get_rope_index puts text after the last image, so a continued turn
/// equals prefilling the whole conversation (float32 chunking only: 1e-5 of the logits' scale).</summary>
public sealed class Qwen2VlMultiTurnTests
{
    [Fact]
    public void A_continued_turn_equals_prefilling_the_whole_conversation()
    {
        using var model = Qwen2VlModel.Load(Qwen2VlTiny.Fixture);
        var pipeline = new Qwen2VlPipeline(model, ComputeContext.SingleThread);
        var image = pipeline.Prepare(ImageDecoder.Load(Path.Combine(Qwen2VlTiny.Fixture, "image_a.png")));
        var grid = image.Grid;
        var tokens = model.Vision.Forward(ComputeContext.SingleThread, image.PixelValues, [grid]);
        int n = image.MergedTokenCount;
        int[] ids = [301, 17, 309, .. Enumerable.Repeat(312, n), 310, 42, 99, 7];
        var options = new GenerationOptions { MaxNewTokens = 3, EosTokenId = -1 };

        var session = new InferenceSession(model.Decoder, ComputeContext.SingleThread);
        var turn1 = session.Generate(model.Splice(ids, [new Qwen2VlImageTokens(tokens, n, grid)]), options);
        int[] follow = [302, 5, 301, 64, 5];
        var turn2 = session.Continue([turn1.UnfedToken!.Value, .. follow], options with { KeepStepLogits = true });

        int[] whole = [.. ids, .. turn1.Tokens, .. follow];
        var fresh = new InferenceSession(model.Decoder, ComputeContext.SingleThread);
        var reference = fresh.Generate(model.Splice(whole, [new Qwen2VlImageTokens(tokens, n, grid)]), options with { KeepStepLogits = true });
        Assert.Equal(reference.Tokens, turn2.Tokens);
        Compare.Relative(reference.StepLogits!.SelectMany(x => x).ToArray(), turn2.StepLogits!.SelectMany(x => x).ToArray(), 1e-5, "turn 2 logits");
    }
}
