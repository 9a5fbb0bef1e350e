using TokenSieve.Cli.Commands;
using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>SentencePiece Unigram (Viterbi) encoding: hand-checked segmentations, and the built-in
/// lab model's tokenizer.model read by the engine's tokenizer giving exactly the ids the lab trained on.</summary>
public sealed class UnigramTokenizerTests
{
    static SentencePieceBpeTokenizer Unigram(params (string Piece, float Score)[] normal)
    {
        var pieces = new List<SentencePiece> { new("<unk>", 0, PieceType.Unknown), new("<s>", 0, PieceType.Control), new("</s>", 0, PieceType.Control) };
        pieces.AddRange(normal.Select(p => new SentencePiece(p.Piece, p.Score, PieceType.Normal)));
        var model = new SentencePieceModel
        {
            Pieces = pieces, ModelType = SentencePieceModelType.Unigram, VocabSize = pieces.Count, ByteFallback = false,
            UnkId = 0, BosId = 1, EosId = 2, PadId = -1, NormalizerName = "identity", AddDummyPrefix = true, RemoveExtraWhitespaces = false,
        };
        return SentencePieceBpeTokenizer.Create(SentencePieceModel.Parse(SentencePieceModelWriter.Serialize(model), "unigram"));
    }

    [Fact]
    public void Viterbi_takes_the_best_total_score_not_the_longest_piece()
    {
        // "▁abc": ▁ab + c = -1 + -1 = -2 beats ▁a + bc = -1.5 + -1 = -2.5 and ▁abc = -3.
        var t = Unigram(("▁", -5), ("a", -4), ("b", -4), ("c", -1), ("▁a", -1.5f), ("▁ab", -1), ("bc", -1), ("▁abc", -3));
        Assert.Equal(new[] { t.PieceToId("▁ab"), t.PieceToId("c") }, t.Encode("abc", addBos: false));
        Assert.Equal("abc", t.Decode(t.Encode("abc")));
    }

    [Fact]
    public void Unknown_characters_become_one_unk_without_byte_fallback()
    {
        var t = Unigram(("▁", -1), ("a", -1));
        Assert.Equal(new[] { t.PieceToId("▁"), t.PieceToId("a"), 0 }, t.Encode("axy", addBos: false));
    }

    [Fact]
    public void Lab_tokenizer_model_gives_the_ids_the_lab_trains_on()
    {
        var tokenizer = SentencePieceBpeTokenizer.Create(SentencePieceModel.Parse(LabTokenizerModel.Serialize(LabVocabulary.Pieces), "lab"));
        int checkedTexts = 0;
        foreach (var (name, _, _) in LabDataset.Suites)
        {
            foreach (var item in LabDataset.Suite(LabDataset.DefaultSeed, LabSplit.Validation, name, 25))
            {
                foreach (var text in new[] { item.Question.Text, item.Question.Answer, "\n" + item.Question.Text + " ASSISTANT:", "USER: " })
                {
                    Assert.Equal(LabTokenizer.Encode(text), tokenizer.Encode(text, addBos: false).ToList());
                    var noPrefix = new List<int>();
                    tokenizer.EncodeText(text, addDummyPrefix: false, noPrefix);
                    Assert.Equal(LabTokenizer.Encode(text, addDummyPrefix: false), noPrefix);
                    checkedTexts++;
                }
            }
        }
        Assert.True(checkedTexts > 500);
    }
}
