using TokenSieve.Lab.Scenes;

namespace TokenSieve.Lab.Text;

/// <summary>SentencePiece piece types, numbered as in sentencepiece_model.proto.</summary>
public enum LabPieceKind { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Byte = 6 }

public sealed record LabPiece(string Piece, float Score, LabPieceKind Kind);

/// <summary>The SentencePiece trainer/normaliser settings the vocabulary assumes, LLaMA's: a unigram
/// model, byte fallback, a dummy "▁" prefix, whitespace kept as is, identity normalisation.</summary>
public sealed record LabTokenizerSettings(string ModelType, bool ByteFallback, bool AddDummyPrefix, bool RemoveExtraWhitespaces, string NormalizerName)
{
    public static LabTokenizerSettings Llama { get; } = new("unigram", ByteFallback: true, AddDummyPrefix: true, RemoveExtraWhitespaces: false, NormalizerName: "identity");
}

/// <summary>The lab's SentencePiece vocabulary, as pure data: a unigram model laid out like LLaMA's
/// (&lt;unk&gt;=0, &lt;s&gt;=1, &lt;/s&gt;=2, byte-fallback pieces &lt;0x00&gt;…&lt;0xFF&gt; = 3…258), then
/// "▁", one piece per lab word with and without the "▁" word-start marker (the first word of a
/// question follows "\n" and has none), digits and punctuation. Scores are chosen so that the
/// unigram Viterbi segmentation of every lab text is whole words: a word piece scores −3, a digit
/// −5, a lone "▁" −6, punctuation −8, so "▁is" (−3) beats "▁"+"is" (−9).
/// Every answer is one token ("▁yes", "▁red", "▁4") or a few ("▁top" "▁left", "▁4" "7" "1").
/// llava-hf's added tokens follow the pieces: &lt;image&gt; = <see cref="ImageTokenId"/>,
/// &lt;pad&gt; = <see cref="PadTokenId"/>.</summary>
public static class LabVocabulary
{
    public const char WordStart = '\u2581';
    public const int UnkId = 0, BosId = 1, EosId = 2, FirstByteId = 3;

    /// <summary>Every word the lab's prompts, questions and answers use.</summary>
    public static IReadOnlyList<string> Words { get; } = BuildWords();

    public static IReadOnlyList<LabPiece> Pieces { get; } = BuildPieces();

    public static int ImageTokenId => Pieces.Count;
    public static int PadTokenId => Pieces.Count + 1;
    /// <summary>Embedding rows: the pieces plus &lt;image&gt; and &lt;pad&gt;.</summary>
    public static int VocabSize => Pieces.Count + 2;

    static readonly Dictionary<string, int> Index = BuildIndex();

    public static int IdOf(string piece) =>
        Index.TryGetValue(piece, out int id) ? id : throw new KeyNotFoundException($"piece '{piece}' is not in the lab vocabulary");

    public static bool TryGetId(string piece, out int id) => Index.TryGetValue(piece, out id);

    static IReadOnlyList<string> BuildWords()
    {
        var words = new List<string>
        {
            "USER", "ASSISTANT",
            "is", "there", "a", "the", "how", "many", "are", "what", "where", "colour", "shape", "size",
            "object", "objects", "left", "right", "of", "above", "below", "number", "on", "card",
            "yes", "no", "small", "large", "top", "bottom",
        };
        foreach (var c in SceneGenerator.Colours) words.Add(QuestionGenerator.Name(c));
        foreach (var s in SceneGenerator.Shapes)
        {
            words.Add(QuestionGenerator.Name(s));
            words.Add(QuestionGenerator.Plural(s));
        }
        return words.Distinct().ToArray();
    }

    static IReadOnlyList<LabPiece> BuildPieces()
    {
        var pieces = new List<LabPiece>
        {
            new("<unk>", 0, LabPieceKind.Unknown),
            new("<s>", 0, LabPieceKind.Control),
            new("</s>", 0, LabPieceKind.Control),
        };
        for (int b = 0; b < 256; b++) pieces.Add(new($"<0x{b:X2}>", 0, LabPieceKind.Byte));
        pieces.Add(new(WordStart.ToString(), -6, LabPieceKind.Normal));
        foreach (var w in Words)
        {
            pieces.Add(new(WordStart + w, -3, LabPieceKind.Normal));
            pieces.Add(new(w, -3.5f, LabPieceKind.Normal));
        }
        for (int d = 0; d < 10; d++)
        {
            pieces.Add(new(WordStart + d.ToString(), -5, LabPieceKind.Normal));
            pieces.Add(new(d.ToString(), -5, LabPieceKind.Normal));
        }
        foreach (var p in new[] { "?", ":", ".", "," }) pieces.Add(new(p, -8, LabPieceKind.Normal));
        return pieces;
    }

    static Dictionary<string, int> BuildIndex()
    {
        var d = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Pieces.Count; i++) d[Pieces[i].Piece] = i;
        return d;
    }
}
