using System.Text;
using TokenSieve.Text;
using MlLlamaTokenizer = Microsoft.ML.Tokenizers.LlamaTokenizer;

namespace TokenSieve.Tests.Text;

/// <summary>Our SentencePiece BPE against golden.json (ids from llama-tokenizer-js, equal to
/// SentencePiece 0.1.97 on this tokenizer.model). Token ids are compared exactly.</summary>
public class SentencePieceBpeTokenizerTests
{
    static SentencePieceBpeTokenizer Tok => TokenizerFixture.Tokenizer;

    public static IEnumerable<object[]> Cases => TokenizerFixture.Names("cases");
    public static IEnumerable<object[]> DecodeCases => TokenizerFixture.Names("decode_cases");
    public static IEnumerable<object[]> Divergences => TokenizerFixture.Names("known_divergences");

    [Fact]
    public void Golden_has_the_documented_number_of_cases()
    {
        Assert.Equal(54, Cases.Count());
        Assert.Equal(16, DecodeCases.Count());
        Assert.Equal(6, Divergences.Count());
    }

    [Fact]
    public void Model_loads_with_llama_layout()
    {
        Assert.Equal(32000, Tok.VocabSize);
        Assert.Equal((0, 1, 2), (Tok.UnkId, Tok.BosId, Tok.EosId));
        Assert.True(Tok.Model.ByteFallback);
        Assert.True(Tok.Model.AddDummyPrefix);
        Assert.False(Tok.Model.RemoveExtraWhitespaces);
        Assert.Equal(29871, Tok.PieceToId("\u2581"));
        Assert.Equal("<0x0A>", Tok.IdToPiece(13));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encodes_case_exactly(string name)
    {
        var c = TokenizerFixture.Case("cases", name);
        string text = c.GetProperty("text").GetString()!;
        int[] expected = TokenizerFixture.Ints(c.GetProperty("ids"));
        Assert.Equal(expected, Tok.Encode(text, addBos: false));
        Assert.Equal([1, .. expected], Tok.Encode(text));
        Assert.Equal(text, Tok.Decode(expected));
    }

    [Theory]
    [MemberData(nameof(Divergences))]
    public void Breaks_equal_score_ties_leftmost_first_like_SentencePiece(string name)
    {
        var c = TokenizerFixture.Case("known_divergences", name);
        string text = c.GetProperty("text").GetString()!;
        int[] expected = TokenizerFixture.Ints(c.GetProperty("ids"));
        Assert.Equal(expected, Tok.Encode(text, addBos: false));
        Assert.Equal(text, Tok.Decode(expected));
        // Why we do not delegate encoding: the library's rightmost-first tie break gives other ids here.
        int[] library = TokenizerFixture.Ints(c.GetProperty("microsoft_ml_tokenizers_2_0_1_ids"));
        Assert.Equal(library, LibraryTokenizer.Value.EncodeToIds(text, false, false).ToArray());
    }

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void Decodes_case_exactly(string name)
    {
        var c = TokenizerFixture.Case("decode_cases", name);
        Assert.Equal(c.GetProperty("text").GetString(), Tok.Decode(TokenizerFixture.Ints(c.GetProperty("ids"))));
    }

    [Fact]
    public void Empty_text_gives_only_bos()
    {
        Assert.Empty(Tok.Encode("", addBos: false));
        Assert.Equal([1], Tok.Encode(""));
        Assert.Equal([1, 2], Tok.Encode("", addBos: true, addEos: true));
    }

    [Fact]
    public void Literal_special_token_text_is_plain_text_in_Encode()
    {
        var ids = Tok.Encode("<s> and <image>", addBos: false);
        Assert.DoesNotContain(1, ids);
        Assert.Equal("<s> and <image>", Tok.Decode(ids));
    }

    [Fact]
    public void Decode_strips_only_the_first_dummy_prefix_space()
    {
        // " Hello" = [▁, ▁Hello]: the first ▁ is the dummy prefix, the second is a real space.
        Assert.Equal(" Hello", Tok.Decode([29871, 15043]));
        Assert.Equal(" ", Tok.Decode([29871, 29871]));
        Assert.Equal("Hello world", Tok.Decode([1, 15043, 3186, 2]));
        Assert.Equal("<s>Hello world</s>", Tok.Decode([1, 15043, 3186, 2], skipSpecialTokens: false));
    }

    [Fact]
    public void Decode_matches_SentencePiece_0_1_97_on_unk_and_stray_bytes()
    {
        // Outputs of sentencepiece 0.1.97's decode on this tokenizer.model.
        Assert.Equal(" \u2047  Hello", Tok.Decode([0, 15043], skipSpecialTokens: false));
        Assert.Equal("\uFFFD\uFFFD  Hello", Tok.Decode([243, 162, 29871, 15043]));
        Assert.Equal("Hello", Tok.Decode([0, 15043]));  // skipped <unk> leaves no text, as HF skip_special_tokens does
    }

    [Fact]
    public void Decode_turns_each_invalid_byte_into_one_replacement_character()
    {
        // 0xF0 0x9F (a truncated 4-byte sequence) then 'A' (0x41 = id 68): SentencePiece gives two U+FFFD.
        Assert.Equal("\uFFFD\uFFFDA", Tok.Decode([0xF0 + 3, 0x9F + 3, 0x41 + 3]));
    }

    [Fact]
    public void Decode_rejects_ids_outside_the_vocabulary()
    {
        var e = Assert.Throws<TokenizerException>(() => Tok.Decode([15043, -200]));
        Assert.Contains("-200", e.Message);
        Assert.Contains("tokenizer.model", e.Message);
    }

    [Fact]
    public void Special_tokens_are_single_ids_with_no_dummy_prefix_after_them()
    {
        var tok = SentencePieceBpeTokenizer.Load(TokenizerFixture.ModelPath, new Dictionary<string, int> { ["<image>"] = 32000, ["<pad>"] = 32001 });
        Assert.Equal(32002, tok.VocabSize);
        Assert.Equal(32001, tok.PadId);
        int[] ids = tok.EncodeWithSpecialTokens("USER: <image>\nWhat is shown? ASSISTANT:");
        int[] before = Tok.Encode("USER: ", addBos: true);
        Assert.Equal(before, ids[..before.Length]);
        Assert.Equal(29871, ids[before.Length - 1]);
        Assert.Equal(32000, ids[before.Length]);
        Assert.Equal(13, ids[before.Length + 1]);
        // Same ids as the library given the same special tokens (it also drops the post-image ▁).
        var library = MlLlamaTokenizer.Create(File.OpenRead(TokenizerFixture.ModelPath), true, false, new Dictionary<string, int> { ["<image>"] = 32000, ["<pad>"] = 32001 });
        Assert.Equal(library.EncodeToIds("USER: <image>\nWhat is shown? ASSISTANT:").ToArray(), ids);
        Assert.Equal("USER: \nWhat is shown? ASSISTANT:", tok.Decode(ids));
        Assert.Equal("USER: <image>\nWhat is shown? ASSISTANT:", tok.Decode(ids, skipSpecialTokens: false).Replace("<s>", ""));
        Assert.Equal(" \u2047 ", tok.Decode([0], skipSpecialTokens: false));
        Assert.Equal("", tok.Decode([0]));
        // Plain Encode still treats "<image>" as text.
        Assert.DoesNotContain(32000, tok.Encode("<image>"));
    }

    [Fact]
    public void Text_starting_with_a_special_token_has_no_leading_space_piece()
    {
        var tok = SentencePieceBpeTokenizer.Load(TokenizerFixture.ModelPath, new Dictionary<string, int> { ["<image>"] = 32000 });
        Assert.Equal([1, 32000, 13, 10994], tok.EncodeWithSpecialTokens("<image>\nHello"));
    }

    [Fact]
    public void Model_folder_reads_added_tokens_json()
    {
        string dir = Directory.CreateTempSubdirectory("tokensieve-tok").FullName;
        try
        {
            File.Copy(TokenizerFixture.ModelPath, Path.Combine(dir, "tokenizer.model"));
            File.WriteAllText(Path.Combine(dir, "added_tokens.json"), "{\"<image>\": 32000, \"<pad>\": 32001}");
            var tok = SentencePieceBpeTokenizer.FromModelFolder(dir);
            Assert.Equal(32000, tok.SpecialTokens["<image>"]);
            File.WriteAllText(Path.Combine(dir, "added_tokens.json"), "{\"<image>\": 5}");
            var e = Assert.Throws<TokenizerException>(() => SentencePieceBpeTokenizer.FromModelFolder(dir));
            Assert.Contains("id 5", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Bad_model_files_are_named_in_the_error()
    {
        string dir = Directory.CreateTempSubdirectory("tokensieve-tok").FullName;
        try
        {
            string missing = Path.Combine(dir, "none.model");
            Assert.Contains(missing, Assert.Throws<TokenizerException>(() => SentencePieceBpeTokenizer.Load(missing)).Message);
            string empty = Path.Combine(dir, "empty.model");
            File.WriteAllBytes(empty, []);
            Assert.Contains(empty, Assert.Throws<TokenizerException>(() => SentencePieceBpeTokenizer.Load(empty)).Message);
            string garbage = Path.Combine(dir, "garbage.model");
            File.WriteAllBytes(garbage, Encoding.UTF8.GetBytes("this is not a protobuf \xff\xff\xff\xff\xff"));
            Assert.Contains(garbage, Assert.Throws<TokenizerException>(() => SentencePieceBpeTokenizer.Load(garbage)).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Models_we_cannot_reproduce_are_refused_with_the_reason()
    {
        var llama = Tok.Model;
        Assert.Contains("BPE (LLaMA-style) and Unigram", Assert.Throws<TokenizerException>(() => SentencePieceBpeTokenizer.Create(llama with { ModelType = SentencePieceModelType.Word }, source: "word.model")).Message);
        Assert.Contains("charsmap", Assert.Throws<TokenizerException>(() => SentencePieceBpeTokenizer.Create(llama with { NormalizerName = "nmt_nfkc", PrecompiledCharsMap = [1, 2, 3] })).Message);
        var noBytes = llama with { Pieces = llama.Pieces.Where(p => p.Piece != "<0x41>").ToList() };
        Assert.Contains("<0x41>", Assert.Throws<TokenizerException>(() => SentencePieceBpeTokenizer.Create(noBytes)).Message);
        Assert.Contains("unk_id", Assert.Throws<TokenizerException>(() => SentencePieceBpeTokenizer.Create(llama with { UnkId = 5 })).Message);
    }

    [Fact]
    public void Remove_extra_whitespaces_collapses_and_trims_spaces()
    {
        var tok = SentencePieceBpeTokenizer.Create(Tok.Model with { RemoveExtraWhitespaces = true });
        Assert.Equal(Tok.Encode("Hello world", addBos: false), tok.Encode("   Hello    world  ", addBos: false));
        Assert.Empty(tok.Encode("    ", addBos: false));
    }

    [Fact]
    public void Matches_library_on_every_golden_case()
    {
        foreach (var c in TokenizerFixture.Golden.GetProperty("cases").EnumerateArray())
        {
            string text = c.GetProperty("text").GetString()!;
            Assert.Equal(LibraryTokenizer.Value.EncodeToIds(text, false, false).ToArray(), Tok.Encode(text, addBos: false));
        }
    }

    [Fact]
    public void Matches_slow_reference_bpe_on_random_strings_with_repeated_runs()
    {
        var reference = new ReferenceBpe(Tok.Model);
        var rng = new Random(20261122);
        string[] alphabet = [" ", " ", "a", "b", "e", "l", "o", "-", ".", "!", "\n", "\t", "0", "1", "ü", "ß", "你", "🦙", "x", "=", "_", "T", "h"];
        for (int trial = 0; trial < 2000; trial++)
        {
            var sb = new StringBuilder();
            int parts = rng.Next(1, 12);
            for (int p = 0; p < parts; p++)
            {
                string unit = alphabet[rng.Next(alphabet.Length)];
                int repeat = rng.Next(4) == 0 ? rng.Next(3, 24) : 1;
                for (int r = 0; r < repeat; r++) sb.Append(unit);
            }
            string text = sb.ToString();
            Assert.True(reference.Encode(text).SequenceEqual(Tok.Encode(text, addBos: false)), $"mismatch on {System.Text.Json.JsonSerializer.Serialize(text)}");
            Assert.Equal(text, Tok.Decode(Tok.Encode(text)));
        }
    }

    internal static readonly Lazy<MlLlamaTokenizer> LibraryTokenizer = new(() =>
    {
        using var stream = File.OpenRead(TokenizerFixture.ModelPath);
        return MlLlamaTokenizer.Create(stream);
    });
}
