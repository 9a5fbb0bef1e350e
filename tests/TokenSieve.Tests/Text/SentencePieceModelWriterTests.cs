using TokenSieve.Text;
using MlLlamaTokenizer = Microsoft.ML.Tokenizers.LlamaTokenizer;

namespace TokenSieve.Tests.Text;

public class SentencePieceModelWriterTests
{
    /// <summary>A small lab-like vocabulary: every character used, then merges in priority order.</summary>
    static readonly string[] LabPieces =
    [
        "\u2581", "a", "b", "c", "d", "e", "f", "g", "h", "i", "k", "l", "n", "o", "p", "r", "s", "t", "u", "w", "y", "?", ".", "\n",
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "I", "S", "U", "E", "R", "N", "T", ":",
        "\u2581t", "he", "\u2581the", "re", "\u2581re", "\u2581red", "ci", "rc", "le", "\u2581ci", "\u2581circ", "\u2581circle", "ow", "\u2581b", "\u2581bl", "ue", "\u2581blue",
        "es", "\u2581y", "\u2581yes", "\u2581n", "\u2581no", "\u2581i", "\u2581is", "US", "ER", "\u2581USER", "\u2581US", "AS", "SI", "ST", "\u2581AS", "\u2581ASSI", "AN", "\u2581ASSIST", "\u2581ASSISTAN", "\u2581ASSISTANT",
    ];

    static readonly string[] Sentences =
    [
        "Is the circle red?",
        "yes",
        "USER: is the circle blue? ASSISTANT: no",
        "  two  spaces\nnew line 1234",
        "the red circle is left of the blue circle.",
        "",
        " ",
    ];

    [Fact]
    public void Written_lab_model_loads_in_our_tokenizer_and_the_library_with_the_same_ids()
    {
        var model = SentencePieceModelWriter.BuildBpeModel(LabPieces, byteFallback: true, controlSymbols: ["<image>", "<pad>"]);
        Assert.Empty(SentencePieceModelWriter.FindUnmergeablePieces(model));
        string path = Path.Combine(Path.GetTempPath(), $"tokensieve-{Guid.NewGuid():N}.model");
        try
        {
            SentencePieceModelWriter.Write(model, path);
            var ours = SentencePieceBpeTokenizer.Load(path, new Dictionary<string, int> { ["<image>"] = 259, ["<pad>"] = 260 });
            Assert.Equal(model.Pieces, ours.Model.Pieces);
            Assert.Equal(260, ours.PadId);
            Assert.Equal(3 + 256 + 2 + LabPieces.Length, ours.VocabSize);
            MlLlamaTokenizer library;
            using (var stream = File.OpenRead(path)) library = MlLlamaTokenizer.Create(stream);
            Assert.True(library.ByteFallback);
            Assert.True(library.AddDummyPrefix);
            var reference = new ReferenceBpe(ours.Model);
            foreach (string text in Sentences.Append("Grüße ✓ emoji 🦙 falls back to bytes"))
            {
                int[] ids = ours.Encode(text, addBos: false);
                Assert.Equal(reference.Encode(text), ids);
                if (text.Length > 0) Assert.Equal(library.EncodeToIds(text, false, false).ToArray(), ids);
                Assert.Equal(text, ours.Decode(ids));
                Assert.Equal(text, library.Decode(ids));
            }
            Assert.Equal([ours.PieceToId("\u2581the"), ours.PieceToId("\u2581red"), ours.PieceToId("\u2581circle")], ours.Encode("the red circle", addBos: false));
            // The control symbol is never produced from text and is dropped when decoding.
            Assert.DoesNotContain(259, ours.Encode("<image>"));
            Assert.Equal("yes", ours.Decode([1, 259, .. ours.Encode("yes", addBos: false), 2]));
            Assert.Equal([1, 259, ours.PieceToId("\n")], ours.EncodeWithSpecialTokens("<image>\n"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Model_without_byte_fallback_maps_unknown_characters_to_unk()
    {
        var model = SentencePieceModelWriter.BuildBpeModel(LabPieces, byteFallback: false);
        var ours = SentencePieceBpeTokenizer.Create(SentencePieceModel.Parse(SentencePieceModelWriter.Serialize(model), "lab.model"));
        Assert.False(ours.Model.ByteFallback);
        Assert.Equal(3 + LabPieces.Length, ours.VocabSize);
        int[] ids = ours.Encode("red ✓€", addBos: false);
        Assert.Equal(ours.UnkId, ids[^1]);
        Assert.NotEqual(ours.UnkId, ids[^2]);  // the run "✓€" is one <unk>
        Assert.Equal("red ", ours.Decode(ids));
        Assert.Equal("red  \u2047 ", ours.Decode(ids, skipSpecialTokens: false));
        MlLlamaTokenizer library;
        using (var stream = new MemoryStream(SentencePieceModelWriter.Serialize(model))) library = MlLlamaTokenizer.Create(stream);
        foreach (string text in Sentences.Where(t => t.Length > 0))
        {
            Assert.Equal(library.EncodeToIds(text, false, false).ToArray(), ours.Encode(text, addBos: false));
            Assert.Equal(text, ours.Decode(ours.Encode(text)));
        }
    }

    [Fact]
    public void Rewriting_the_llama_model_keeps_every_piece_and_setting()
    {
        var original = SentencePieceModel.Load(TokenizerFixture.ModelPath);
        var copy = SentencePieceModel.Parse(SentencePieceModelWriter.Serialize(original), "copy");
        Assert.Equal(original.Pieces, copy.Pieces);
        Assert.Equal(original with { Pieces = copy.Pieces, PrecompiledCharsMap = copy.PrecompiledCharsMap }, copy);
        var tokenizer = SentencePieceBpeTokenizer.Create(copy);
        foreach (var c in TokenizerFixture.Golden.GetProperty("cases").EnumerateArray())
            Assert.Equal(TokenizerFixture.Ints(c.GetProperty("ids")), tokenizer.Encode(c.GetProperty("text").GetString()!, addBos: false));
    }

    /// <summary>Ids that sentencepiece 0.1.97 gives for models written by BuildBpeModel: a user-defined
    /// symbol kept whole, an UNUSED piece split back into the pieces it merged from, runs of unknown
    /// characters merged into one &lt;unk&gt; when there is no byte fallback.</summary>
    [Theory]
    [InlineData("bytes", "the<sep>red<sep> circle", new[] { 281, 261, 282, 266, 261, 290 })]
    [InlineData("unused", "redred red", new[] { 283, 266, 282, 266, 283, 266 })]
    [InlineData("unused", "aaaaaaa  a", new[] { 293, 294, 294, 294, 291, 263 })]
    [InlineData("unused", "xyz \u00FC \U0001F999", new[] { 262, 123, 124, 125, 262, 198, 191, 262, 243, 162, 169, 156 })]
    [InlineData("nobytes", "the<sep>red<sep> circle", new[] { 22, 0, 15, 8, 0, 23, 7, 0, 15, 8, 0, 31 })]
    [InlineData("nobytes", "xyz \u00FC \U0001F999", new[] { 3, 0, 3, 0, 3, 0 })]
    public void Written_models_encode_like_SentencePiece(string variant, string escapedText, int[] expected)
    {
        string[] pieces = ["\u2581", "a", "b", "c", "d", "e", "h", "i", "l", "n", "o", "r", "s", "t", "u", "?", "\n", "\u2581t", "he", "\u2581the", "re", "\u2581re", "\u2581red",
            "ci", "rc", "le", "\u2581ci", "\u2581circ", "\u2581circle", "\u2581\u2581", "ed", "\u2581a", "aa", "aaa"];
        var model = variant == "nobytes"
            ? SentencePieceModelWriter.BuildBpeModel(pieces, byteFallback: false)
            : SentencePieceModelWriter.BuildBpeModel(pieces, byteFallback: true, controlSymbols: ["<image>", "<pad>"], userDefinedSymbols: ["<sep>"]);
        if (variant == "unused")
            model = model with { Pieces = model.Pieces.Select(p => p.Piece == "\u2581red" ? p with { Type = PieceType.Unused } : p).ToList() };
        var tokenizer = SentencePieceBpeTokenizer.Create(SentencePieceModel.Parse(SentencePieceModelWriter.Serialize(model), variant));
        string text = System.Text.RegularExpressions.Regex.Unescape(escapedText);
        Assert.Equal(expected, tokenizer.Encode(text, addBos: false));
        if (variant != "nobytes") Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void Invalid_vocabularies_are_refused()
    {
        Assert.Throws<TokenizerException>(() => SentencePieceModelWriter.BuildBpeModel(["a", "b", "a"]));
        Assert.Throws<TokenizerException>(() => SentencePieceModelWriter.BuildBpeModel(["a", ""]));
        var model = SentencePieceModelWriter.BuildBpeModel(["a", "b"]);
        Assert.Throws<TokenizerException>(() => SentencePieceModelWriter.Serialize(model with { Pieces = model.Pieces.Where(p => p.Piece != "<0x41>").ToList(), VocabSize = model.VocabSize - 1 }));
        Assert.Throws<TokenizerException>(() => SentencePieceModelWriter.Serialize(model with { VocabSize = 5 }));
        Assert.Throws<TokenizerException>(() => SentencePieceModelWriter.Serialize(model with { EosId = 5 }));
        Assert.Equal(["abc"], SentencePieceModelWriter.FindUnmergeablePieces(SentencePieceModelWriter.BuildBpeModel(["a", "b", "c", "abc"])));
    }
}
