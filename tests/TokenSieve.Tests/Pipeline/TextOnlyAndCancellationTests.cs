using Microsoft.Extensions.AI;
using TokenSieve.AI;
using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;
using TokenSieve.Text;

namespace TokenSieve.Tests.Pipeline;

/// <summary>Prompts without an image (the decoder alone; reduction and pruning are skipped and the report
/// says so) and cancellation in the middle of prefill (between decoder layers).</summary>
public sealed class TextOnlyAndCancellationTests
{
    static readonly GenerationOptions Greedy4 = new() { MaxNewTokens = 4 };

    [Fact]
    public void A_text_only_prompt_runs_the_decoder_alone_and_skips_methods_with_a_note()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        var prompt = LlavaPrompt.Build(tokenizer, ChatTemplate.LlavaHf, [new ChatTurn("Say something.")], model.Config.ImageTokenIndex, withImage: false);
        Assert.Empty(prompt.ImageSlots);
        var pipeline = new LlavaPipeline(model, ComputeContext.SingleThread);
        var plain = pipeline.Run(Array.Empty<PreparedVisual>(), prompt.Ids, [], new RunOptions { Generation = Greedy4 });
        Assert.Equal(0, plain.Report.Images);
        Assert.Equal(0, plain.Report.VisualTokens);
        Assert.Equal(prompt.Ids.Length, plain.Report.PromptTokens);
        Assert.Equal(0, plain.Report.VisionFlops);
        Assert.Empty(plain.Report.Notes);

        // The same ids through the decoder directly (token embeddings, positions 0..n−1).
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        var direct = session.Generate(session.Splice(prompt.Ids, []), Greedy4);
        Assert.Equal(direct.Tokens, plain.Tokens);

        var method = MethodPlan.Parse("pool:4|fastv:k=1,keep=2");
        var withMethods = pipeline.Run(Array.Empty<PreparedVisual>(), prompt.Ids, [], new RunOptions { Reducer = method.Reducer, Pruner = method.Pruner, Generation = Greedy4 });
        Assert.Equal(plain.Tokens, withMethods.Tokens);
        Assert.Contains(withMethods.Report.Notes, n => n.Contains("text-only", StringComparison.Ordinal));
        Assert.All(withMethods.Report.TokensPerLayer, t => Assert.Equal(prompt.Ids.Length, t));
    }

    [Fact]
    public async Task Chat_clients_answer_text_only_conversations_for_both_families()
    {
        using (var llava = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 }))
        {
            var r = await llava.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { MaxOutputTokens = 3 });
            var report = Assert.IsType<TokenSieveChatReport>(r.AdditionalProperties![TokenSieveChatClient.ReportKey]);
            Assert.Equal(0, report.VisualTokens);
            Assert.InRange(r.Usage!.OutputTokenCount!.Value, 1, 3);
        }
        using var dir = new TempDir();
        using var qwen = new TokenSieveChatClient(Qwen2VlTiny.RunnableCopy(dir), new TokenSieveChatClientOptions { Threads = 1 });
        var options = new ChatOptions { MaxOutputTokens = 3, AdditionalProperties = new() { [TokenSieveChatClient.ReduceKey] = "pool:4" } };
        var q = await qwen.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], options);
        var qr = Assert.IsType<TokenSieveChatReport>(q.AdditionalProperties![TokenSieveChatClient.ReportKey]);
        Assert.Equal(0, qr.VisualTokens);
        var streamed = await qwen.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hi")], options).ToChatResponseAsync();
        Assert.Equal(q.Text, streamed.Text);
    }

    /// <summary>Cancels the token from inside prefill, once layer <see cref="CancelAt"/> has been asked
    /// for its taps, and records every layer the session reached.</summary>
    sealed class CancellingHook(CancellationTokenSource cts, int cancelAt) : IDecoderHook
    {
        public int CancelAt => cancelAt;
        public List<int> Layers { get; } = [];

        public DecoderTapRequest? Taps(int layer, int length)
        {
            Layers.Add(layer);
            if (layer == cancelAt) cts.Cancel();
            return null;
        }

        public KeepDecision? AfterLayer(DecoderLayerView view) => null;
    }

    [Fact]
    public void Cancelling_mid_prefill_stops_before_the_next_decoder_layer_and_leaves_the_session_usable()
    {
        // The lab model: four decoder layers, so layers 0..2 are asked for taps and a cut after layer 1
        // is visible (without a check between layers, layer 2 would be asked too).
        string folder = global::TokenSieve.Cli.BuiltInModel.Find() ?? throw new InvalidOperationException("models/lab is missing");
        using var model = LlavaModel.Load(folder);
        Assert.True(model.Config.Text.NumHiddenLayers >= 4, "the model needs four decoder layers for this test");
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(folder);
        var prompt = LlavaPrompt.Build(tokenizer, ChatTemplate.LlavaHf, "What is in the image?", model.Config.ImageTokenIndex);
        var pipeline = new LlavaPipeline(model, ComputeContext.SingleThread);
        var visual = pipeline.Encode(pipeline.Prepare(ImageDecoder.Load(Path.Combine(TestData.LlavaTiny, "image.png")), AspectMode.Pad), null, 0);
        var seq = pipeline.Session.Splice(prompt.Ids, [new SplicedImage(prompt.ImageSlot, visual.Tokens, visual.Count, visual.Layout)]);
        var expected = pipeline.Session.Generate(seq, Greedy4);

        var all = new CancellingHook(new CancellationTokenSource(), cancelAt: -1);
        pipeline.Session.Generate(seq, Greedy4, all);
        Assert.Equal(Enumerable.Range(0, model.Config.Text.NumHiddenLayers - 1), all.Layers);

        using var cts = new CancellationTokenSource();
        var hook = new CancellingHook(cts, cancelAt: 1);
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Session.Generate(seq, Greedy4, hook, cts.Token));
        // Layers 0 and 1 ran (layer 1 asked for taps, where the token was cancelled); layer 2 never started.
        Assert.Equal([0, 1], hook.Layers);

        // The cancelled prefill leaves nothing behind: the next run gives the same answer as before it.
        Assert.Equal(expected.Tokens, pipeline.Session.Generate(seq, Greedy4).Tokens);
    }
}
