using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>Streaming decode: the pieces joined must equal one <see cref="Qwen2Tokenizer.Decode"/> of all ids, and a
/// character split over ids appears only once it is complete.</summary>
public class Qwen2IncrementalDecoderTests
{
    static Qwen2Tokenizer Tok => Qwen2TokenizerFixture.Tokenizer;

    static string Stream(int[] ids, bool skip, List<string>? pieces = null)
    {
        var decoder = new Qwen2IncrementalDecoder(Tok, skip);
        var text = new System.Text.StringBuilder();
        foreach (int id in ids)
        {
            string piece = decoder.Add(id);
            pieces?.Add(piece);
            text.Append(piece);
        }
        return text.Append(decoder.Flush()).ToString();
    }

    [Fact]
    public void Holds_back_a_partial_character_until_it_completes()
    {
        var pieces = new List<string>();
        Assert.Equal(" 🦙", Stream([11162, 99, 247], skip: true, pieces));  // emoji-02's llama: " F0" | 9F | A6 99
        Assert.Equal([" ", "", "🦙"], pieces);  // the space is complete at once; the emoji waits for its last byte
        pieces.Clear();
        Assert.Equal("𠀀", Stream([172, 63219, 222], skip: true, pieces));
        Assert.Equal(["", "", "𠀀"], pieces);
    }

    [Fact]
    public void Flush_gives_an_unfinished_character_as_a_replacement()
    {
        var decoder = new Qwen2IncrementalDecoder(Tok, skipSpecialTokens: true);
        Assert.Equal("", decoder.Add(172));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("", decoder.Flush());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Joined_pieces_equal_decode_for_every_golden_case(bool skip)
    {
        foreach (var name in Qwen2TokenizerFixture.Names("cases").Select(n => (string)n[0]))
        {
            int[] ids = Qwen2TokenizerFixture.Ints(Qwen2TokenizerFixture.Case("cases", name).GetProperty("ids"));
            Assert.Equal(Tok.Decode(ids, skip), Stream(ids, skip));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Joined_pieces_equal_decode_for_random_ids_with_broken_utf8(bool skip)
    {
        // Ids drawn from single bytes, multi-byte fragments and special tokens, so invalid and incomplete
        // sequences and special tokens inside a character all occur.
        int[] pool = [172, 63219, 222, 11162, 99, 247, 248, 145080, 9707, 220, 151645, 151655, 108386, 3837, 253, 237, 56252];
        var rng = new Random(3);
        for (int trial = 0; trial < 500; trial++)
        {
            int[] ids = Enumerable.Range(0, rng.Next(1, 12)).Select(_ => pool[rng.Next(pool.Length)]).ToArray();
            Assert.Equal(Tok.Decode(ids, skip), Stream(ids, skip));
        }
    }
}
