using TokenSieve.Text;

namespace TokenSieve.Tests.Support;

/// <summary>The tokenizer.model shipped next to the llava-tiny fixture copy (the fixture itself has
/// none). Its 256 ids match the tiny model's vocabulary: 0–2 unk/bos/eos, <c>&lt;image&gt;</c> at the
/// config's image_token_index 250 and <c>&lt;pad&gt;</c> at 255 (CONTROL), characters and a few
/// merges as NORMAL pieces, the rest unused CONTROL slots. A test keeps the committed file equal to
/// what this builder writes.</summary>
internal static class TinyFixtureTokenizer
{
    public const int ImageTokenId = 250;
    public const int PadTokenId = 255;

    public static SentencePieceModel Build()
    {
        var normal = new List<string> { "▁" };
        normal.AddRange("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,?!:;'-()\n".Select(c => c.ToString()));
        foreach (char c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") normal.Add("▁" + c);
        normal.AddRange(["th", "he", "in", "er", "an", "re", "on", "at", "en", "is", "it", "or", "ou", "ha", "ng", "▁th", "▁the", "▁is", "▁in", "▁wh", "▁what", "hat"]);
        // "▁what" = "▁wh" + "at"; "hat" = "h" + "at": every multi-character piece splits into two pieces.
        var pieces = new List<SentencePiece>
        {
            new("<unk>", 0, PieceType.Unknown),
            new("<s>", 0, PieceType.Control),
            new("</s>", 0, PieceType.Control),
        };
        int score = 0;
        foreach (var p in normal) pieces.Add(new(p, -score++, PieceType.Normal));
        while (pieces.Count < 256)
        {
            int id = pieces.Count;
            pieces.Add(id switch
            {
                ImageTokenId => new("<image>", 0, PieceType.Control),
                PadTokenId => new("<pad>", 0, PieceType.Control),
                _ => new($"<unused{id}>", 0, PieceType.Control),
            });
        }
        return new SentencePieceModel
        {
            Pieces = pieces, ModelType = SentencePieceModelType.Bpe, VocabSize = pieces.Count, ByteFallback = false,
            SplitDigits = true, AllowWhitespaceOnlyPieces = true, UnkId = 0, BosId = 1, EosId = 2, PadId = PadTokenId,
            NormalizerName = "identity", AddDummyPrefix = true, RemoveExtraWhitespaces = false, EscapeWhitespaces = true,
        };
    }
}
