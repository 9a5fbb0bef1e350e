using System.Text;

namespace TokenSieve.Lab.Text;

/// <summary>Unigram (Viterbi) encoding over <see cref="LabVocabulary"/>, following SentencePiece's
/// rules for a LLaMA-style model: spaces become "▁", an optional dummy "▁" prefix, the best-scoring
/// segmentation wins, and characters no piece covers fall back to their UTF-8 byte pieces. The
/// trainer uses it to build sequences; the engine's own tokenizer reading the written
/// tokenizer.model must agree with it (the lab tests check the texts the lab uses).</summary>
public static class LabTokenizer
{
    public static List<int> Encode(string text, bool addDummyPrefix = true)
    {
        string s = (addDummyPrefix ? " " + text : text).Replace(' ', LabVocabulary.WordStart);
        int n = s.Length;
        var best = new double[n + 1];
        var back = new (int From, int Id)[n + 1];
        Array.Fill(best, double.NegativeInfinity);
        best[0] = 0;
        var pieces = LabVocabulary.Pieces;
        float minScore = pieces.Where(p => p.Kind == LabPieceKind.Normal).Min(p => p.Score);
        for (int i = 0; i < n; i++)
        {
            if (double.IsNegativeInfinity(best[i])) continue;
            int len = char.IsSurrogatePair(s, i) ? 2 : 1;
            bool singleCharPiece = false;
            for (int id = 0; id < pieces.Count; id++)
            {
                var p = pieces[id];
                if (p.Kind != LabPieceKind.Normal || p.Piece.Length > n - i || string.CompareOrdinal(s, i, p.Piece, 0, p.Piece.Length) != 0) continue;
                if (p.Piece.Length == len) singleCharPiece = true;
                double score = best[i] + p.Score;
                int j = i + p.Piece.Length;
                if (score > best[j]) { best[j] = score; back[j] = (i, id); }
            }
            // as in SentencePiece, a character with no one-character piece becomes <unk>
            // (scored min_score − 10), later spelled out as byte pieces
            if (!singleCharPiece)
            {
                double unk = best[i] + minScore - 10;
                if (unk > best[i + len]) { best[i + len] = unk; back[i + len] = (i, LabVocabulary.UnkId); }
            }
        }
        var ids = new List<int>();
        for (int j = n; j > 0; j = back[j].From)
        {
            var (from, id) = back[j];
            if (id == LabVocabulary.UnkId)
            {
                var bytes = Encoding.UTF8.GetBytes(s.Substring(from, j - from));
                for (int b = bytes.Length - 1; b >= 0; b--) ids.Add(LabVocabulary.FirstByteId + bytes[b]);
            }
            else ids.Add(id);
        }
        ids.Reverse();
        return ids;
    }

    /// <summary>Pieces joined, "▁" back to spaces, byte pieces decoded, control tokens dropped; one
    /// leading space (the dummy prefix) removed.</summary>
    public static string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if (id < 0 || id >= LabVocabulary.Pieces.Count) continue;
            var p = LabVocabulary.Pieces[id];
            switch (p.Kind)
            {
                case LabPieceKind.Byte: bytes.Add((byte)(id - LabVocabulary.FirstByteId)); break;
                case LabPieceKind.Normal: bytes.AddRange(Encoding.UTF8.GetBytes(p.Piece.Replace(LabVocabulary.WordStart, ' '))); break;
            }
        }
        string text = Encoding.UTF8.GetString(bytes.ToArray());
        return text.StartsWith(' ') ? text[1..] : text;
    }
}
