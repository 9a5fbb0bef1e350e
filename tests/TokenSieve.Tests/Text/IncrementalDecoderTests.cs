using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

public class IncrementalDecoderTests
{
    static SentencePieceBpeTokenizer Tok => TokenizerFixture.Tokenizer;

    public static IEnumerable<object[]> DecodeCases => TokenizerFixture.Names("decode_cases");

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void Streamed_text_joins_to_the_full_decode(string name)
    {
        int[] ids = TokenizerFixture.Ints(TokenizerFixture.Case("decode_cases", name).GetProperty("ids"));
        var decoder = new IncrementalDecoder(Tok);
        var pieces = ids.Select(decoder.Add).ToList();
        Assert.Equal(Tok.Decode(ids), string.Concat(pieces) + decoder.Flush());
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
    }

    [Fact]
    public void Incomplete_emoji_is_held_back()
    {
        var decoder = new IncrementalDecoder(Tok);
        Assert.Equal("I", decoder.Add(306));
        Assert.Equal(" ", decoder.Add(29871));
        Assert.Equal("", decoder.Add(243));
        Assert.Equal("", decoder.Add(162));
        Assert.Equal("", decoder.Add(169));
        Assert.Equal("\U0001F999", decoder.Add(156));
        Assert.Equal("", decoder.Flush());
        decoder.Add(243);
        Assert.Equal("\uFFFD", decoder.Flush());
    }

    [Fact]
    public void Expanding_the_image_slot_repeats_the_image_id()
    {
        var built = LlavaPrompt.Build(Tok, ChatTemplate.LlavaHf, "Hi", 32000);
        int[] expanded = built.ExpandImage(576);
        Assert.Equal(built.Ids.Length + 575, expanded.Length);
        Assert.Equal(576, expanded.Count(id => id == 32000));
        Assert.Equal(built.Ids[..built.ImageSlot], expanded[..built.ImageSlot]);
        Assert.Equal(built.Ids[(built.ImageSlot + 1)..], expanded[(built.ImageSlot + 576)..]);
    }
}
