using TokenSieve.Text;
using MlLlamaTokenizer = Microsoft.ML.Tokenizers.LlamaTokenizer;

namespace TokenSieve.Tests.Text;

public class LlavaPromptTests
{
    static SentencePieceBpeTokenizer Tok => TokenizerFixture.Tokenizer;

    public static IEnumerable<object[]> ImagePromptCases => TokenizerFixture.Names("image_prompt_cases");

    [Theory]
    [MemberData(nameof(ImagePromptCases))]
    public void Chunk_wise_encoding_reproduces_the_trace(string name)
    {
        var c = TokenizerFixture.Case("image_prompt_cases", name);
        string prompt = c.GetProperty("prompt").GetString()!;
        var template = ChatTemplate.Get(c.GetProperty("conv_template").GetString()!);
        int imageIndex = c.GetProperty("image_token_index").GetInt32();
        int[] expected = TokenizerFixture.Ints(c.GetProperty("ids"));

        // The question is what follows "<image>\n" up to " ASSISTANT:".
        string afterImage = prompt[(prompt.IndexOf("<image>\n", StringComparison.Ordinal) + "<image>\n".Length)..];
        string question = afterImage[..afterImage.LastIndexOf(" ASSISTANT:", StringComparison.Ordinal)];

        var built = LlavaPrompt.Build(Tok, template, question, imageIndex);
        Assert.Equal(prompt, built.Text);
        Assert.Equal(expected, built.Ids);
        Assert.Equal(Array.IndexOf(expected, imageIndex), built.ImageSlot);
        Assert.Equal(29871, built.Ids[built.ImageSlot - 1]);
        Assert.Equal(29871, built.Ids[built.ImageSlot + 1]);
    }

    [Fact]
    public void Published_trace_has_fifty_ids_and_image_at_35()
    {
        var built = LlavaPrompt.Build(Tok, ChatTemplate.LlavaV1, "Please describe this image in detail.", -200);
        Assert.Equal(50, built.Ids.Length);
        Assert.Equal(35, built.ImageSlot);
        Assert.Equal(-200, built.Ids[35]);
    }

    [Fact]
    public void Llava_hf_template_renders_the_model_card_prompt_and_drops_the_post_image_space()
    {
        var built = LlavaPrompt.Build(Tok, ChatTemplate.LlavaHf, "What is shown?", 32000);
        Assert.Equal("USER: <image>\nWhat is shown? ASSISTANT:", built.Text);
        var special = SentencePieceBpeTokenizer.Load(TokenizerFixture.ModelPath, new Dictionary<string, int> { ["<image>"] = 32000, ["<pad>"] = 32001 });
        Assert.Equal(special.EncodeWithSpecialTokens(built.Text), built.Ids);
        using var stream = File.OpenRead(TokenizerFixture.ModelPath);
        var library = MlLlamaTokenizer.Create(stream, true, false, new Dictionary<string, int> { ["<image>"] = 32000, ["<pad>"] = 32001 });
        Assert.Equal(library.EncodeToIds(built.Text).ToArray(), built.Ids);
        Assert.Equal([29871, 32000, 13], built.Ids[(built.ImageSlot - 1)..(built.ImageSlot + 2)]);
        // One ▁ fewer than the chunk-wise encoding of the same text.
        var chunkWise = LlavaPrompt.Build(Tok, ChatTemplate.LlavaHf with { Encoding = PromptEncoding.ChunkWise }, "What is shown?", 32000);
        Assert.Equal(built.Ids.Length + 1, chunkWise.Ids.Length);
    }

    [Fact]
    public void Llava_hf_template_takes_a_system_text_without_role()
    {
        string text = LlavaPrompt.Render(ChatTemplate.LlavaHf with { SystemPrompt = "Be brief." }, [new ChatTurn("Hi")]);
        Assert.Equal("Be brief. USER: <image>\nHi ASSISTANT:", text);
    }

    [Fact]
    public void Multi_turn_vicuna_uses_eos_between_turns()
    {
        var turns = new[] { new ChatTurn("What animal is this?", "A llama."), new ChatTurn("What colour is it?") };
        var built = LlavaPrompt.Build(Tok, ChatTemplate.VicunaV1, turns, -200);
        Assert.Equal(ChatTemplate.VicunaSystem + " USER: <image>\nWhat animal is this? ASSISTANT: A llama.</s>USER: What colour is it? ASSISTANT:", built.Text);
        int eos = Array.IndexOf(built.Ids, 2);
        Assert.True(eos > built.ImageSlot);
        // After </s> the text continues without a dummy prefix: "USER" not "▁USER".
        var expectedAfter = new List<int>();
        Tok.EncodeText("USER: What colour is it? ASSISTANT:", addDummyPrefix: false, expectedAfter);
        Assert.Equal(expectedAfter, built.Ids[(eos + 1)..]);
        Assert.Equal(1, built.Ids.Count(id => id == -200));
    }

    [Fact]
    public void Placeholder_in_the_question_positions_the_image()
    {
        var built = LlavaPrompt.Build(Tok, ChatTemplate.VicunaV1, "Look: <image> what is it?", -200);
        Assert.EndsWith("USER: Look: <image> what is it? ASSISTANT:", built.Text);
        Assert.Equal(1, built.Ids.Count(id => id == -200));
    }

    [Fact]
    public void Text_only_prompt_has_no_slot()
    {
        var built = LlavaPrompt.Build(Tok, ChatTemplate.VicunaV1, [new ChatTurn("Hello")], -200, withImage: false);
        Assert.Equal(-1, built.ImageSlot);
        Assert.DoesNotContain(-200, built.Ids);
        Assert.Equal(Tok.Encode(ChatTemplate.VicunaSystem + " USER: Hello ASSISTANT:"), built.Ids);
    }

    [Fact]
    public void Bad_conversations_are_rejected()
    {
        Assert.Throws<InvalidInputException>(() => LlavaPrompt.Build(Tok, ChatTemplate.VicunaV1, "<image> and <image>", -200));
        Assert.Throws<InvalidInputException>(() => LlavaPrompt.Build(Tok, ChatTemplate.VicunaV1, [new ChatTurn("a"), new ChatTurn("b")], -200));
        Assert.Throws<InvalidInputException>(() => LlavaPrompt.Build(Tok, ChatTemplate.VicunaV1, [], -200));
        Assert.Throws<InvalidInputException>(() => ChatTemplate.Get("chatml"));
        Assert.Same(ChatTemplate.LlavaHf, ChatTemplate.Get("llava-hf"));
    }
}
