namespace TokenSieve.Text;

/// <summary>Turns generated ids into text as they arrive, for streaming output. Each call to
/// <see cref="Add"/> returns the new text, so the pieces joined equal <see cref="SentencePieceBpeTokenizer.Decode"/>
/// of all ids so far. Text ending in an incomplete UTF-8 byte sequence (an emoji spread over several
/// byte-fallback ids) is held back until the sequence completes.</summary>
public sealed class IncrementalDecoder(SentencePieceBpeTokenizer tokenizer, bool skipSpecialTokens = true)
{
    readonly List<int> _ids = new();
    string _emitted = "";

    public IReadOnlyList<int> Ids => _ids;

    /// <summary>Adds one id and returns the text it completes (possibly empty).</summary>
    public string Add(int id)
    {
        _ids.Add(id);
        string text = tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), skipSpecialTokens);
        if (EndsInPendingBytes()) return "";
        // Once no byte sequence is pending, decoding more ids only appends: the dummy-prefix space is
        // decided by the first text piece, and completed bytes never change.
        string delta = text[_emitted.Length..];
        _emitted = text;
        return delta;
    }

    /// <summary>The text of everything added, including a held-back incomplete byte sequence (as U+FFFD).</summary>
    public string Flush() => tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), skipSpecialTokens)[_emitted.Length..];

    /// <summary>True when the trailing byte-fallback ids form the start of a UTF-8 sequence that is not
    /// yet complete.</summary>
    bool EndsInPendingBytes()
    {
        int start = _ids.Count;
        while (start > 0 && ByteOf(_ids[start - 1]) >= 0) start--;
        if (start == _ids.Count) return false;
        var bytes = new byte[_ids.Count - start];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)ByteOf(_ids[start + i]);
        ReadOnlySpan<byte> span = bytes;
        while (!span.IsEmpty)
        {
            var status = System.Text.Rune.DecodeFromUtf8(span, out _, out int consumed);
            if (status == System.Buffers.OperationStatus.NeedMoreData) return true;
            span = span[consumed..];
        }
        return false;
    }

    int ByteOf(int id)
        => id >= 0 && id < tokenizer.Model.Pieces.Count && tokenizer.Model.Pieces[id].Type == PieceType.Byte
            ? SentencePieceModel.ParseBytePiece(tokenizer.Model.Pieces[id].Piece)
            : -1;
}
