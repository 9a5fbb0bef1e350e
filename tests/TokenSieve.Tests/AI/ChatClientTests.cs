using Microsoft.Extensions.AI;
using TokenSieve.AI;
using TokenSieve.Checkpoints;
using TokenSieve.Cli;
using TokenSieve.Lab.Evaluation;
using TokenSieve.Lab.Scenes;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.AI;

/// <summary>The IChatClient over the built-in lab model (real answers), the random-weight llava-tiny
/// fixture (long, meaningless answers: streaming, stop sequences, several images and turns) and the
/// qwen2-vl-tiny fixture (the other family).</summary>
public sealed class ChatClientTests
{
    static string LabModel => BuiltInModel.Find() ?? throw new InvalidOperationException("models/lab is missing from the repository");

    static ChatMessage Ask(string question, params byte[][] images) =>
        new(ChatRole.User, [.. images.Select(i => (AIContent)new DataContent(i, "image/png")), new TextContent(question)]);

    static byte[] TinyImage => File.ReadAllBytes(TestData.Path("llava-tiny", "image.png"));

    static TokenSieveChatReport Report(ChatResponse r) => Assert.IsType<TokenSieveChatReport>(r.AdditionalProperties![TokenSieveChatClient.ReportKey]);

    [Fact]
    public async Task Lab_model_answers_lab_questions_with_usage_and_report()
    {
        using var client = new TokenSieveChatClient(LabModel, new TokenSieveChatClientOptions { Threads = 1 });
        Assert.Equal(ModelKind.Llava, client.Family);
        var items = LabEvalDatasets.Load(LabSplit.Test, 4).First(d => d.Task == "lab-reading").Items;
        int right = 0;
        foreach (var item in items)
        {
            var response = await client.GetResponseAsync([Ask(item.Prompt, item.ImageBytes!.Value.ToArray())], new ChatOptions { MaxOutputTokens = 6 });
            if (string.Equals(response.Text, item.Answers[0], StringComparison.OrdinalIgnoreCase)) right++;
            var report = Report(response);
            Assert.Equal(64, report.VisualTokens);
            Assert.Equal(response.Usage!.InputTokenCount, report.PromptTokens);
            Assert.Equal(response.Usage.OutputTokenCount, report.GeneratedTokens);
            Assert.Equal(64, response.Usage.AdditionalCounts!["tokensieve.visual_tokens"]);
            Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
            Assert.Equal("lab", response.ModelId);
        }
        // The model reads 99 % of digits with all tokens (README); the chat client must not lose that.
        Assert.True(right >= 3, $"{right}/4 reading answers right");
    }

    [Fact]
    public async Task Reduce_and_prune_ride_in_additional_properties()
    {
        using var client = new TokenSieveChatClient(LabModel, new TokenSieveChatClientOptions { Threads = 1, Reduce = "pool:16" });
        var item = LabEvalDatasets.Load(LabSplit.Test, 1)[0].Items[0];
        var image = item.ImageBytes!.Value.ToArray();
        var byDefault = await client.GetResponseAsync([Ask(item.Prompt, image)], new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(16, Report(byDefault).VisualTokens);
        var options = new ChatOptions
        {
            MaxOutputTokens = 4,
            AdditionalProperties = new() { [TokenSieveChatClient.ReduceKey] = "random:8", [TokenSieveChatClient.PruneKey] = "fastv:k=2,keep=4" },
        };
        var report = Report(await client.GetResponseAsync([Ask(item.Prompt, image)], options));
        Assert.Equal("random:8", report.Reduction);
        Assert.Equal(8, report.VisualTokens);
        Assert.Equal(64, report.VisualTokensBefore);
        Assert.StartsWith("fastv", report.Pruning);
        Assert.Equal(report.PromptTokens - 4, report.TokensAtLastLayer);
        options.AdditionalProperties[TokenSieveChatClient.ReduceKey] = "pool:9999";
        await Assert.ThrowsAsync<MethodSpecException>(() => client.GetResponseAsync([Ask(item.Prompt, image)], options));
    }

    [Fact]
    public async Task Streaming_yields_the_answer_piece_by_piece_and_joins_to_the_non_streaming_text()
    {
        using var client = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 });
        var messages = new[] { Ask("what is in the image?", TinyImage) };
        var options = new ChatOptions { MaxOutputTokens = 12 };
        var whole = await client.GetResponseAsync(messages, options);
        Assert.False(string.IsNullOrEmpty(whole.Text));
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(messages, options)) updates.Add(u);
        var texts = updates.Select(u => u.Text).Where(t => t.Length > 0).ToList();
        Assert.True(texts.Count > 1, $"one piece only: '{whole.Text}'");
        Assert.Equal(whole.Text, string.Concat(texts));
        var usage = updates.SelectMany(u => u.Contents).OfType<UsageContent>().Single();
        Assert.Equal(whole.Usage!.OutputTokenCount, usage.Details.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
        Assert.IsType<TokenSieveChatReport>(updates[^1].AdditionalProperties![TokenSieveChatClient.ReportKey]);
        Assert.Equal(whole.Text, (await client.GetStreamingResponseAsync(messages, options).ToChatResponseAsync()).Text);
    }

    [Fact]
    public async Task Stop_sequences_cut_the_answer_in_both_modes()
    {
        using var client = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 });
        var messages = new[] { Ask("what is in the image?", TinyImage) };
        string full = (await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 12 })).Text;
        Assert.True(full.Length >= 4, full);
        string stop = full.Substring(full.Length / 2, 2);
        string expected = full[..full.IndexOf(stop, StringComparison.Ordinal)].TrimEnd();
        var options = new ChatOptions { MaxOutputTokens = 12, StopSequences = [stop] };
        var cut = await client.GetResponseAsync(messages, options);
        Assert.Equal(expected, cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
        Assert.Equal(expected, (await client.GetStreamingResponseAsync(messages, options).ToChatResponseAsync()).Text);
    }

    [Fact]
    public async Task Sampling_follows_the_seed()
    {
        using var client = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 });
        var messages = new[] { Ask("what is in the image?", TinyImage) };
        async Task<string> Sample(long seed) =>
            (await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 10, Temperature = 1.5f, TopP = 0.95f, Seed = seed })).Text;
        Assert.Equal(await Sample(7), await Sample(7));
        var samples = new HashSet<string> { await Sample(1), await Sample(2), await Sample(3) };
        Assert.True(samples.Count > 1, "three seeds gave one answer");
    }

    [Fact]
    public async Task Several_images_over_several_turns_reach_the_model()
    {
        using var client = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 });
        var extra = File.ReadAllBytes(TestData.Path("llava-tiny", "image_extra0.png"));
        ChatMessage[] messages =
        [
            new(ChatRole.System, "You describe images."),
            Ask("what is this?", TinyImage, extra),
            new(ChatRole.Assistant, "a cat"),
            Ask("and this?", TinyImage),
        ];
        var response = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 3 });
        var report = Report(response);
        Assert.Equal(3, report.Images);
        var run = Assert.IsType<RunReport>(response.AdditionalProperties![TokenSieveChatClient.RunReportKey]);
        Assert.Equal(3, run.ImageSpans.Count);
    }

    [Fact]
    public async Task Cancelling_mid_decode_stops_the_run_and_frees_the_engine()
    {
        using var client = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 });
        var messages = new[] { Ask("what is in the image?", TinyImage) };
        using var cts = new CancellationTokenSource();
        int pieces = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var u in client.GetStreamingResponseAsync(messages, new ChatOptions { MaxOutputTokens = 60 }, cts.Token))
                if (u.Text.Length > 0 && ++pieces == 1) cts.Cancel();
        });
        Assert.Equal(1, pieces);
        // A token cancelled before the run starts stops it before the vision tower, and the engine serves the next request.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(messages, null, new CancellationToken(true)));
        Assert.NotNull((await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 2 })).Usage);
    }

    [Fact]
    public async Task Qwen2_vl_runs_through_the_same_client()
    {
        using var dir = TestData.TempDir();
        string folder = Qwen2VlTiny.RunnableCopy(dir);
        using var client = new TokenSieveChatClient(folder, new TokenSieveChatClientOptions { Threads = 1 });
        Assert.Equal(ModelKind.Qwen2Vl, client.Family);
        var image = File.ReadAllBytes(Path.Combine(folder, "image.png"));
        var options = new ChatOptions { MaxOutputTokens = 6, AdditionalProperties = new() { [TokenSieveChatClient.ReduceKey] = "pool:4" } };
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.System, "Be brief."), Ask("what is this?", image)], options);
        var report = Report(response);
        Assert.Equal("qwen2_vl", report.Family);
        Assert.Equal(4, report.VisualTokens);
        Assert.InRange(response.Usage!.OutputTokenCount!.Value, 0, 6);
        var streamed = await client.GetStreamingResponseAsync([new ChatMessage(ChatRole.System, "Be brief."), Ask("what is this?", image)], options).ToChatResponseAsync();
        Assert.Equal(response.Text, streamed.Text);
    }

    [Fact]
    public async Task A_llama_cpp_gguf_pair_chats_as_its_folder_does()
    {
        using var dir = TestData.TempDir();
        var (lm, mmproj) = global::TokenSieve.Models.ModelExport.ExportLlamaCpp(TestData.LlavaTiny, dir.File("gguf"), global::TokenSieve.Numerics.DType.F16, "model.f16.safetensors");
        var options = new ChatOptions { MaxOutputTokens = 6 };
        ChatMessage[] ask = [Ask("what is this?", TinyImage)];
        // The folder with its F16 weights file as the model: the pair holds the same F16 numbers.
        string f16 = dir.File("f16");
        Directory.CreateDirectory(f16);
        foreach (var f in Directory.GetFiles(TestData.LlavaTiny).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
            File.Copy(f, Path.Combine(f16, Path.GetFileName(f)));
        File.Copy(Path.Combine(TestData.LlavaTiny, "model.f16.safetensors"), Path.Combine(f16, "model.safetensors"));
        using var pair = new TokenSieveChatClient(lm, new TokenSieveChatClientOptions { Threads = 1, Mmproj = mmproj });
        using var folder = new TokenSieveChatClient(f16, new TokenSieveChatClientOptions { Threads = 1 });
        var fromPair = await pair.GetResponseAsync(ask, options);
        var fromFolder = await folder.GetResponseAsync(ask, options);
        Assert.Equal(fromFolder.Text, fromPair.Text);
        Assert.Equal(Report(fromFolder).PromptTokens, Report(fromPair).PromptTokens);
        Assert.False(string.IsNullOrEmpty(fromPair.Text));
        Assert.Equal(fromPair.Text, (await pair.GetStreamingResponseAsync(ask, options).ToChatResponseAsync()).Text);
    }

    [Fact]
    public async Task Bad_requests_are_typed_errors()
    {
        Assert.Throws<CheckpointException>(() => new TokenSieveChatClient(Path.Combine(Path.GetTempPath(), "no-such-model-folder")));
        using var client = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 });
        var remote = new ChatMessage(ChatRole.User, [new UriContent("https://example.invalid/cat.png", "image/png"), new TextContent("what?")]);
        Assert.Contains("fetches nothing", (await Assert.ThrowsAsync<InvalidInputException>(() => client.GetResponseAsync([remote]))).Message);
        var garbage = new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3, 4 }, "image/png") { Name = "upload.png" }, new TextContent("what?")]);
        Assert.Equal("upload.png", (await Assert.ThrowsAsync<ImageDecodeException>(() => client.GetResponseAsync([garbage]))).File);
        var tool = new ChatMessage(ChatRole.Tool, "42");
        Assert.Contains("role 'tool'", (await Assert.ThrowsAsync<InvalidInputException>(() => client.GetResponseAsync([Ask("q", TinyImage), tool]))).Message);
        await Assert.ThrowsAsync<InvalidInputException>(() => client.GetResponseAsync([Ask("q", TinyImage)], new ChatOptions { TopP = 0 }));
        await Assert.ThrowsAsync<MethodSpecException>(() => client.GetResponseAsync([Ask("q", TinyImage)],
            new ChatOptions { AdditionalProperties = new() { [TokenSieveChatClient.PruneKey] = "nosuch:1" } }));
    }
}
