using TokenSieve.Text;

namespace TokenSieve.Lab.Text;

/// <summary>The lab vocabulary as a SentencePiece tokenizer.model (a Unigram model, as the lab's own
/// Viterbi tokenizer), read back by the same tokenizer code as real LLaVA's.</summary>
public static class LabTokenizerModel
{
    public static byte[] Serialize(IReadOnlyList<LabPiece> pieces)
    {
        var model = new SentencePieceModel
        {
            Pieces = pieces.Select(p => new SentencePiece(p.Piece, p.Score, (PieceType)(int)p.Kind)).ToList(),
            ModelType = SentencePieceModelType.Unigram, VocabSize = pieces.Count, ByteFallback = pieces.Any(p => p.Kind == LabPieceKind.Byte),
            SplitDigits = true, AllowWhitespaceOnlyPieces = true, UnkId = 0, BosId = 1, EosId = 2, PadId = -1,
            NormalizerName = "identity", AddDummyPrefix = true, RemoveExtraWhitespaces = false, EscapeWhitespaces = true,
        };
        return SentencePieceModelWriter.Serialize(model);
    }
}
