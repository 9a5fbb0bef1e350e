using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;
using TokenSieve.Text;

namespace TokenSieve.Tests.Pipeline;

/// <summary>The pipelines' async and streaming forms against the synchronous run they wrap.</summary>
public sealed class AsyncRunTests
{
    [Fact]
    public async Task RunAsync_and_StreamAsync_give_the_synchronous_run_and_stream_its_ids_in_order()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        var prompt = LlavaPrompt.Build(tokenizer, ChatTemplate.LlavaHf, "What is in the image?", model.Config.ImageTokenIndex);
        var pipeline = new LlavaPipeline(model, ComputeContext.SingleThread);
        var visual = pipeline.Prepare(ImageDecoder.Load(Path.Combine(TestData.LlavaTiny, "image.png")), AspectMode.Pad);
        // Random weights never say EOS: 8 tokens are generated.
        var options = new RunOptions { Generation = new GenerationOptions { MaxNewTokens = 8, EosTokenId = -1 } };
        string Decode(int[] ids) => AnswerText.Decode(tokenizer, ids);

        var sync = pipeline.Run([visual], prompt.Ids, prompt.ImageSlots, options, Decode);
        var async = await pipeline.RunAsync([visual], prompt.Ids, prompt.ImageSlots, options, Decode);
        Assert.Equal(sync.Tokens, async.Tokens);
        Assert.Equal(sync.Text, async.Text);

        var streamed = new List<int>();
        RunResult? final = null;
        await foreach (var update in pipeline.StreamAsync([visual], prompt.Ids, prompt.ImageSlots, options, Decode))
        {
            Assert.Null(final);   // the result comes last
            if (update.IsFinal) final = update.Result;
            else streamed.Add(update.TokenId!.Value);
        }
        Assert.NotNull(final);
        Assert.Equal(8, streamed.Count);
        Assert.Equal(sync.Tokens, streamed);
        Assert.Equal(sync.Text, final.Text);

        // Leaving the loop after two ids stops the run; the pipeline is free for the next one.
        int seen = 0;
        await foreach (var update in pipeline.StreamAsync([visual], prompt.Ids, prompt.ImageSlots, options, Decode))
            if (++seen == 2) break;
        Assert.Equal(sync.Tokens, (await pipeline.RunAsync([visual], prompt.Ids, prompt.ImageSlots, options, Decode)).Tokens);

        // Cancelling after the first id ends the stream with OperationCanceledException.
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in pipeline.StreamAsync([visual], prompt.Ids, prompt.ImageSlots, options, Decode, cts.Token))
                cts.Cancel();
        });
    }
}
