using System.Text;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>A slow, obviously-correct SentencePiece BPE for cross-checking: after the dummy prefix
/// and space escaping, repeatedly scan every adjacent pair and merge the one whose concatenation is
/// the highest-scoring piece, the leftmost on a tie; then map symbols to ids, bytes for the rest.
/// O(n²) per text; no heap, no stale-entry logic.</summary>
sealed class ReferenceBpe
{
    readonly Dictionary<string, (int Id, float Score)> _pieces = new(StringComparer.Ordinal);
    readonly Dictionary<string, int> _bytes = new(StringComparer.Ordinal);
    readonly SentencePieceModel _model;

    public ReferenceBpe(SentencePieceModel model)
    {
        _model = model;
        for (int id = 0; id < model.Pieces.Count; id++)
        {
            var p = model.Pieces[id];
            if (p.Type == PieceType.Normal || p.Type == PieceType.UserDefined) _pieces[p.Piece] = (id, p.Score);
            if (p.Type == PieceType.Byte) _bytes[p.Piece] = id;
        }
    }

    public List<int> Encode(string text)
    {
        var ids = new List<int>();
        if (text.Length == 0) return ids;
        string s = (" " + text).Replace(' ', '\u2581');
        var symbols = new List<string>();
        for (int i = 0; i < s.Length; i += char.IsSurrogatePair(s, i) ? 2 : 1)
            symbols.Add(s.Substring(i, char.IsSurrogatePair(s, i) ? 2 : 1));
        while (true)
        {
            int best = -1;
            float bestScore = float.NegativeInfinity;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (_pieces.TryGetValue(symbols[i] + symbols[i + 1], out var hit) && (best < 0 || hit.Score > bestScore))
                {
                    best = i;
                    bestScore = hit.Score;
                }
            if (best < 0) break;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
        foreach (var sym in symbols)
        {
            if (_pieces.TryGetValue(sym, out var hit)) ids.Add(hit.Id);
            else if (_model.ByteFallback) ids.AddRange(Encoding.UTF8.GetBytes(sym).Select(b => _bytes[$"<0x{b:X2}>"]));
            else ids.Add(_model.UnkId);
        }
        return ids;
    }
}
