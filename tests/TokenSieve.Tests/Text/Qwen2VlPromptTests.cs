using System.Text.Json;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>The Qwen2-VL chat template and pad expansion against golden.json's chat_template_cases (transformers
/// 4.45.1 apply_chat_template with Qwen2-VL-Instruct's template, then the processor's expansion). Text and ids
/// are compared exactly.</summary>
public class Qwen2VlPromptTests
{
    static Qwen2Tokenizer Tok => Qwen2TokenizerFixture.Tokenizer;

    public static IEnumerable<object[]> ChatCases => Qwen2TokenizerFixture.Names("chat_template_cases");

    static List<Qwen2VlMessage> Messages(JsonElement c)
    {
        var messages = new List<Qwen2VlMessage>();
        foreach (var m in c.GetProperty("messages").EnumerateArray())
        {
            string role = m.GetProperty("role").GetString()!;
            var content = m.GetProperty("content");
            if (content.ValueKind == JsonValueKind.String)
            {
                messages.Add(new Qwen2VlMessage(role, [Qwen2VlPart.FromText(content.GetString()!)]));
                continue;
            }
            var parts = content.EnumerateArray().Select(p => p.GetProperty("type").GetString() switch
            {
                "image" => Qwen2VlPart.Image,
                "video" => Qwen2VlPart.Video,
                "text" => Qwen2VlPart.FromText(p.GetProperty("text").GetString()!),
                var t => throw new InvalidOperationException($"unknown part type {t}"),
            }).ToList();
            messages.Add(new Qwen2VlMessage(role, parts));
        }
        return messages;
    }

    static bool Kwarg(JsonElement c, string name)
        => c.GetProperty("template_kwargs").TryGetProperty(name, out var v) && v.GetBoolean();

    [Theory]
    [MemberData(nameof(ChatCases))]
    public void Renders_and_encodes_case_exactly(string name)
    {
        var c = Qwen2TokenizerFixture.Case("chat_template_cases", name);
        var messages = Messages(c);
        bool generation = Kwarg(c, "add_generation_prompt"), visionId = Kwarg(c, "add_vision_id");
        Assert.Equal(c.GetProperty("text").GetString(), Qwen2VlPrompt.Render(messages, generation, visionId));

        var plain = Qwen2VlPrompt.Build(Tok, messages, addGenerationPrompt: generation, addVisionId: visionId);
        Assert.Equal(Qwen2TokenizerFixture.Ints(c.GetProperty("ids")), plain.Ids);
        Assert.Equal(c.GetProperty("text").GetString(), plain.Text);

        if (!c.TryGetProperty("expanded_image_pad_counts", out var countsElement))
        {
            Assert.Empty(plain.ImagePadRuns);
            return;
        }
        int[] counts = Qwen2TokenizerFixture.Ints(countsElement);
        int[] expectedIds = Qwen2TokenizerFixture.Ints(c.GetProperty("expanded_ids"));
        string expectedText = c.GetProperty("expanded_text").GetString()!;
        var built = Qwen2VlPrompt.Build(Tok, messages, counts, addGenerationPrompt: generation, addVisionId: visionId);
        Assert.Equal(expectedIds, built.Ids);
        Assert.Equal(expectedText, Qwen2VlPrompt.ExpandText(built.Text, counts));
        Assert.Equal(expectedIds, Tok.Encode(expectedText));

        // One run per image, of its count, each right after a <|vision_start|> and before <|vision_end|>.
        Assert.Equal(counts.Length, built.ImagePadRuns.Count);
        for (int k = 0; k < counts.Length; k++)
        {
            var run = built.ImagePadRuns[k];
            Assert.Equal(counts[k], run.Length);
            Assert.Equal(151652, built.Ids[run.Start - 1]);
            Assert.All(built.Ids.AsSpan(run.Start, run.Length).ToArray(), id => Assert.Equal(151655, id));
            Assert.Equal(151653, built.Ids[run.Start + run.Length]);
        }
        Assert.Equal(expectedIds.Count(i => i == 151655), counts.Sum());
    }

    [Fact]
    public void Videos_get_their_own_pads_and_numbering()
    {
        var messages = new List<Qwen2VlMessage>
        {
            Qwen2VlMessage.User(Qwen2VlPart.Video, Qwen2VlPart.Image, Qwen2VlPart.Video, Qwen2VlPart.FromText("?")),
        };
        string text = Qwen2VlPrompt.Render(messages, addVisionId: true);
        Assert.Contains("user\nVideo 1: <|vision_start|><|video_pad|><|vision_end|>Picture 1: <|vision_start|><|image_pad|><|vision_end|>" +
                        "Video 2: <|vision_start|><|video_pad|><|vision_end|>?<|im_end|>\n", text);
        var built = Qwen2VlPrompt.Build(Tok, messages, [3], [2, 5], addVisionId: true);
        Assert.Equal([2, 5], built.VideoPadRuns.Select(r => r.Length));
        Assert.Equal(3, built.ImagePadRuns.Single().Length);
        Assert.True(built.VideoPadRuns[0].Start < built.ImagePadRuns[0].Start && built.ImagePadRuns[0].Start < built.VideoPadRuns[1].Start);
        Assert.Equal(10, built.Ids.Count(i => i is 151655 or 151656));
    }

    [Fact]
    public void Without_a_generation_prompt_the_text_ends_after_the_last_message()
    {
        string text = Qwen2VlPrompt.Render([Qwen2VlMessage.User("hi"), Qwen2VlMessage.Assistant("hello")], addGenerationPrompt: false);
        Assert.Equal("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n", text);
    }

    [Fact]
    public void Count_mismatches_are_invalid_input()
    {
        var messages = new List<Qwen2VlMessage> { Qwen2VlMessage.User(Qwen2VlPart.Image, Qwen2VlPart.FromText("x")) };
        Assert.Throws<InvalidInputException>(() => Qwen2VlPrompt.Build(Tok, messages, [4, 4]));
        Assert.Throws<InvalidInputException>(() => Qwen2VlPrompt.Build(Tok, messages, []));
        Assert.Throws<InvalidInputException>(() => Qwen2VlPrompt.Build(Tok, messages, [0]));
        // A literal <|image_pad|> in the text is an image placeholder too, as in the reference processor.
        var literal = new List<Qwen2VlMessage> { Qwen2VlMessage.User(Qwen2VlPart.Image, Qwen2VlPart.FromText("<|image_pad|>")) };
        Assert.Equal(2, Qwen2VlPrompt.Build(Tok, literal, [1, 2]).ImagePadRuns.Count);
        Assert.Throws<InvalidInputException>(() => Qwen2VlPrompt.Build(Tok, [new Qwen2VlMessage("", [])]));
    }

    [Fact]
    public void A_tokenizer_without_the_vision_tokens_is_refused()
    {
        var bare = Qwen2Tokenizer.Create(Path.Combine(Qwen2TokenizerFixture.Dir, "vocab.json"), Path.Combine(Qwen2TokenizerFixture.Dir, "merges.txt"));
        var e = Assert.Throws<TokenizerException>(() => Qwen2VlPrompt.Build(bare, [Qwen2VlMessage.User("x")]));
        Assert.Contains("<|image_pad|>", e.Message);
    }
}
