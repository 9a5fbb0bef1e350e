using System.Buffers;
using System.Text;

namespace TokenSieve.Text;

/// <summary>Streams the text of generated Qwen2 ids: each <see cref="Add"/> returns the text the id completes,
/// and the pieces joined (with <see cref="Flush"/>) equal <see cref="Qwen2Tokenizer.Decode"/> of all ids. Bytes that
/// start a UTF-8 sequence not yet complete (a CJK character or emoji spread over ids) are held back until the
/// sequence completes or is broken; once the decoder has seen a byte that makes a sequence invalid, the U+FFFD
/// it becomes is final, so nothing emitted is ever revised. Cost per id is proportional to its bytes.</summary>
public sealed class Qwen2IncrementalDecoder(Qwen2Tokenizer tokenizer, bool skipSpecialTokens)
{
    readonly Qwen2Tokenizer _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
    readonly List<byte> _pending = new();
    readonly StringBuilder _text = new();

    /// <summary>Adds one id and returns the text it completes (possibly empty).</summary>
    public string Add(int id)
    {
        _text.Clear();
        if (_tokenizer.TryGetAdded(id, out string content, out bool special))
        {
            // A skipped token is dropped before decoding, so the bytes on both sides still join (as in
            // transformers); a shown one ends the byte run, as the reference decodes text between added tokens
            // separately.
            if (skipSpecialTokens && special) return "";
            Qwen2Tokenizer.AppendUtf8(_pending, _text);
            _text.Append(content);
            return _text.ToString();
        }
        _pending.AddRange(_tokenizer.TokenBytesOf(id)!);
        int complete = CompletePrefixLength(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
        if (complete == 0) return "";
        _text.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..complete]));
        _pending.RemoveRange(0, complete);
        return _text.ToString();
    }

    /// <summary>The held-back bytes, decoded as the end of the text (an incomplete sequence becomes U+FFFD),
    /// and a fresh start.</summary>
    public string Flush()
    {
        _text.Clear();
        Qwen2Tokenizer.AppendUtf8(_pending, _text);
        return _text.ToString();
    }

    /// <summary>The length of the longest prefix whose decoding is final: everything before a trailing
    /// sequence that is valid so far but incomplete.</summary>
    static int CompletePrefixLength(ReadOnlySpan<byte> bytes)
    {
        int at = 0;
        while (at < bytes.Length)
        {
            var status = Rune.DecodeFromUtf8(bytes[at..], out _, out int consumed);
            if (status == OperationStatus.NeedMoreData) return at;
            at += consumed;
        }
        return at;
    }
}
