using System.Text;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>Qwen2Tokenizer against golden.json (transformers 4.45.1 slow Qwen2Tokenizer on the real Qwen2
/// vocabulary). Ids, token strings and decoded text are compared exactly: tokenisation has no tolerance.</summary>
public class Qwen2TokenizerTests
{
    static Qwen2Tokenizer Tok => Qwen2TokenizerFixture.Tokenizer;

    public static IEnumerable<object[]> Cases => Qwen2TokenizerFixture.Names("cases");
    public static IEnumerable<object[]> DecodeCases => Qwen2TokenizerFixture.Names("decode_cases");

    [Fact]
    public void Golden_has_the_documented_number_of_cases()
    {
        Assert.Equal(63, Cases.Count());
        Assert.Equal(4, Qwen2TokenizerFixture.Names("chat_template_cases").Count());
        Assert.Equal(7, DecodeCases.Count());
    }

    [Fact]
    public void Loads_the_vocabulary_and_the_added_tokens()
    {
        Assert.Equal(151657, Tok.VocabSize);
        Assert.Equal(151645, Tok.EosId);  // <|im_end|>
        Assert.Equal(151643, Tok.PadId);  // <|endoftext|>
        var added = Qwen2TokenizerFixture.Golden.GetProperty("added_tokens");
        foreach (var p in added.EnumerateObject())
        {
            Assert.Equal(p.Value.GetInt32(), Tok.TokenToId(p.Name));
            Assert.Equal(p.Name, Tok.IdToToken(p.Value.GetInt32()));
            Assert.True(Tok.IsSpecial(p.Value.GetInt32()));
        }
        Assert.Equal(14, added.EnumerateObject().Count());
        Assert.Equal(220, Tok.TokenToId("Ġ"));
        Assert.Equal("Ġworld", Tok.IdToToken(1879));
        Assert.False(Tok.IsSpecial(1879));
        Assert.Equal(-1, Tok.TokenToId("<|not_a_token|>"));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encodes_case_exactly(string name)
    {
        var c = Qwen2TokenizerFixture.Case("cases", name);
        string text = c.GetProperty("text").GetString()!;
        int[] expected = Qwen2TokenizerFixture.Ints(c.GetProperty("ids"));
        int[] ids = Tok.Encode(text);
        Assert.Equal(expected, ids);
        Assert.Equal(c.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray(), ids.Select(Tok.IdToToken).ToArray());
        Assert.Equal(c.GetProperty("decode").GetString(), Tok.Decode(ids));
        Assert.Equal(c.GetProperty("decode_skip_special").GetString(), Tok.Decode(ids, skipSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void Decodes_case_exactly(string name)
    {
        var c = Qwen2TokenizerFixture.Case("decode_cases", name);
        if (c.TryGetProperty("ids_each", out var each))
        {
            var texts = c.GetProperty("texts").EnumerateArray().Select(t => t.GetString()).ToArray();
            var ids = Qwen2TokenizerFixture.Ints(each);
            Assert.Equal(texts.Length, ids.Length);
            for (int i = 0; i < ids.Length; i++) Assert.Equal(texts[i], Tok.Decode([ids[i]]));
        }
        else
        {
            Assert.Equal(c.GetProperty("text").GetString(),
                Tok.Decode(Qwen2TokenizerFixture.Ints(c.GetProperty("ids")), c.GetProperty("skip_special_tokens").GetBoolean()));
        }
    }

    [Fact]
    public void Nfd_input_is_composed_before_tokenising()
    {
        // latin-02's golden already checks the ids; this pins the mechanism: é as e + U+0301 and as U+00E9
        // give the same ids, while InvariantGlobalization's string.Normalize would leave the pair apart.
        Assert.Equal(Tok.Encode("caf\u00e9"), Tok.Encode("cafe\u0301"));
        Assert.Equal("caf\u00e9", Tok.Decode(Tok.Encode("cafe\u0301")));
    }

    [Fact]
    public void Special_tokens_are_exact_case_sensitive_matches_and_split_text()
    {
        Assert.Equal([151644, 151645], Tok.Encode("<|im_start|><|im_end|>"));
        Assert.DoesNotContain(151644, Tok.Encode("<|Im_start|>"));
        Assert.DoesNotContain(151644, Tok.Encode("<|im_start |>"));
        // Text on both sides is tokenised separately: no merge crosses a special token.
        int[] ids = Tok.Encode("ab<|endoftext|>cd");
        Assert.Equal([.. Tok.Encode("ab"), 151643, .. Tok.Encode("cd")], ids);
    }

    [Fact]
    public void Lone_surrogates_read_as_replacement_characters()
    {
        Assert.Equal(Tok.Encode("a\uFFFDb"), Tok.Encode("a\uD800b"));
        Assert.Equal(Tok.Encode("\uFFFD"), Tok.Encode("\uDC00"));
    }

    [Fact]
    public void Decode_replaces_each_maximal_invalid_utf8_subsequence_as_python_does()
    {
        // Expected strings from CPython 3.11: bytes.fromhex(h).decode("utf-8", "replace").
        var cases = new (string Hex, string Text)[]
        {
            ("f0a080", "\uFFFD"), ("a080", "\uFFFD\uFFFD"), ("f0a08080", "\U00020000"), ("eda080", "\uFFFD\uFFFD\uFFFD"),
            ("c0af", "\uFFFD\uFFFD"), ("e282", "\uFFFD"), ("e2822c", "\uFFFD,"), ("f4908080", "\uFFFD\uFFFD\uFFFD\uFFFD"),
            ("fe", "\uFFFD"), ("ff41", "\uFFFDA"), ("e0808041", "\uFFFD\uFFFD\uFFFDA"), ("f09f9982f0", "\U0001F642\uFFFD"),
            ("c3c3a9", "\uFFFD\u00e9"), ("80bf", "\uFFFD\uFFFD"), ("f880808080", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"), ("e1a0", "\uFFFD"),
        };
        foreach (var (hex, text) in cases)
        {
            // Each byte as its own single-byte token, so the bytes meet only in the joined sequence.
            int[] ids = Convert.FromHexString(hex).Select(b => Tok.TokenToId(ByteLevelBpe.ByteToChar[b].ToString())).ToArray();
            Assert.Equal(text, Tok.Decode(ids));
        }
    }

    [Fact]
    public void A_shown_special_token_ends_a_byte_run_and_a_skipped_one_does_not()
    {
        int[] rare = [172, 63219, 222];  // 𠀀 as F0 | A0 80 | 80
        Assert.Equal("\U00020000", Tok.Decode(rare));
        int[] split = [172, 151645, 63219, 222];
        Assert.Equal("\uFFFD<|im_end|>\uFFFD\uFFFD\uFFFD", Tok.Decode(split));
        Assert.Equal("\U00020000", Tok.Decode(split, skipSpecialTokens: true));
    }

    [Fact]
    public void Decoding_an_unknown_id_names_it()
    {
        var e = Assert.Throws<TokenizerException>(() => Tok.Decode([151700]));
        Assert.Contains("151700", e.Message);
        Assert.Throws<TokenizerException>(() => Tok.Decode([-1]));
    }

    [Fact]
    public void Long_repeats_take_linear_time_in_practice()
    {
        // One 200k-character pre-token (a letter run) and a 200k-space run: the heap BPE and the scanner
        // are O(n log n) / O(n). A quadratic implementation would take minutes here; no time is asserted,
        // only that it finishes and round-trips.
        string letters = new('a', 200_000);
        int[] ids = Tok.Encode(letters);
        Assert.Equal(letters, Tok.Decode(ids));
        Assert.True(ids.Length < letters.Length / 4);
        string spaces = "x" + new string(' ', 200_000) + "y";
        Assert.Equal(spaces, Tok.Decode(Tok.Encode(spaces)));
        string mixed = string.Concat(Enumerable.Repeat("ab ", 50_000));
        Assert.Equal(mixed, Tok.Decode(Tok.Encode(mixed)));
    }

    [Fact]
    public void Short_word_loop_and_heap_merge_agree()
    {
        // Pre-tokens up to ByteLevelBpe.ShortWordBytes take the reference's loop, longer ones the heap; the
        // goldens cover each path on different words, so both run here on the same words.
        var words = Qwen2TokenizerFixture.Golden.GetProperty("cases").EnumerateArray()
            .SelectMany(c => Qwen2PreTokenizer.Split(c.GetProperty("text").GetString()!)).ToList();
        var rng = new Random(5);
        string alphabet = "aaab e=  \n你🙂é'";
        for (int i = 0; i < 300; i++) words.Add(new string(Enumerable.Range(0, rng.Next(1, 9)).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray()));
        int compared = 0;
        foreach (var word in words)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(word);
            if (bytes.Length > ByteLevelBpe.ShortWordBytes || bytes.Length < 2 || char.IsSurrogate(word[^1])) continue;
            Assert.Equal(Tok.Bpe.MergeShort(bytes), Tok.Bpe.MergeLong(bytes));
            compared++;
        }
        Assert.True(compared > 300);
    }

    [Fact]
    public void Round_trips_random_text_up_to_nfc()
    {
        var rng = new Random(7);
        string alphabet = "aeiou xyzAZ09 \n\t\r'’.,!?-_<>|{}()éüßçñ你好世界日本語한국어Привет🙂👍🏽🇫🇷\u00a0\u3000";
        var runes = alphabet.EnumerateRunes().ToArray();
        for (int trial = 0; trial < 200; trial++)
        {
            var sb = new StringBuilder();
            int n = rng.Next(0, 60);
            for (int i = 0; i < n; i++) sb.Append(runes[rng.Next(runes.Length)].ToString());
            string text = sb.ToString();
            Assert.Equal(UnicodeNfc.Normalize(text), Tok.Decode(Tok.Encode(text)));
        }
    }
}
