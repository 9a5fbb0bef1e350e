using System.Buffers;
using System.Text;

namespace TokenSieve.Text;

/// <summary>The Qwen2 / Qwen2-VL byte-level BPE tokenizer, giving the ids of transformers' slow
/// <c>Qwen2Tokenizer</c> (4.45): <c>encode(text, add_special_tokens=False)</c> and <c>decode(ids, skip_special_tokens)</c>.
/// <para>Encoding: NFC normalisation (<see cref="UnicodeNfc"/>); the added tokens (<c>&lt;|im_start|&gt;</c>,
/// <c>&lt;|image_pad|&gt;</c>, …) split out as exact, case-sensitive matches, leftmost and then longest first,
/// so look-alikes such as <c>&lt;|IM_START|&gt;</c> are plain text; each piece of text in between pre-tokenised
/// by Qwen2's regex (<see cref="Qwen2PreTokenizer"/>), its UTF-8 bytes mapped to GPT-2's byte-level
/// characters and merged by rank (<see cref="ByteLevelBpe"/>). No BOS or EOS is ever added.</para>
/// <para>Decoding: the tokens' bytes are joined and read as UTF-8 with each invalid or incomplete sequence
/// replaced by U+FFFD (Python's <c>errors="replace"</c>), so a lone id holding part of a character decodes
/// to U+FFFD. Added tokens appear as their text, or not at all when skipped; a skipped token does not
/// interrupt the bytes around it, a shown one does.</para>
/// <para>Lone UTF-16 surrogates in the input (which Python strings from valid UTF-8 never hold) are read as
/// U+FFFD. Thread-safe: encoding and decoding share only read-only tables and a concurrent cache.</para></summary>
public sealed class Qwen2Tokenizer
{
    readonly ByteLevelBpe _bpe;
    readonly Dictionary<string, AddedToken> _addedByContent = new(StringComparer.Ordinal);
    readonly Dictionary<int, AddedToken> _addedById = new();
    readonly Dictionary<string, int> _vocab;
    readonly SearchValues<char> _addedFirstChars;
    readonly AddedToken[] _addedByLength;

    /// <summary>The BPE model (for tests).</summary>
    internal ByteLevelBpe Bpe => _bpe;

    /// <summary>Where the tokenizer came from (vocab.json, or tokenizer.json), for error messages.</summary>
    public string Source { get; }
    /// <summary>Byte-level tokens plus added tokens: one more than the highest id.</summary>
    public int VocabSize { get; }
    /// <summary>The id of tokenizer_config.json's <c>eos_token</c> (<c>&lt;|im_end|&gt;</c> for Qwen2-VL-Instruct), or -1.</summary>
    public int EosId { get; }
    /// <summary>The id of tokenizer_config.json's <c>pad_token</c> (<c>&lt;|endoftext|&gt;</c>), or -1.</summary>
    public int PadId { get; }

    Qwen2Tokenizer(Qwen2TokenizerData data)
    {
        Source = data.VocabSource;
        _vocab = data.Vocab;
        _bpe = ByteLevelBpe.Create(data.Vocab, data.Merges, data.MergeLines, data.VocabSource, data.MergesSource);
        int size = data.Vocab.Count;
        foreach (var a in data.AddedTokens)
        {
            if (a.Id < 0) throw new TokenizerException($"{Source}: added token {a.Content} has negative id {a.Id}");
            if (a.Id < data.Vocab.Count && _bpe.TokenBytes[a.Id] is var bytes && Encoding.UTF8.GetString(bytes) != a.Content)
                throw new TokenizerException($"{Source}: added token {a.Content} has id {a.Id}, which is the byte-level token of {Encoding.UTF8.GetString(bytes)}");
            if (!_addedById.TryAdd(a.Id, a)) throw new TokenizerException($"{Source}: two added tokens have id {a.Id}");
            if (!_addedByContent.TryAdd(a.Content, a)) throw new TokenizerException($"{Source}: added token {a.Content} appears twice");
            size = Math.Max(size, a.Id + 1);
        }
        VocabSize = size;
        _addedFirstChars = SearchValues.Create(string.Concat(_addedByContent.Keys.Select(k => k[0]).Distinct()));
        _addedByLength = _addedByContent.Values.OrderByDescending(a => a.Content.Length).ToArray();
        EosId = Lookup(data.EosToken, "eos_token");
        PadId = Lookup(data.PadToken, "pad_token");
    }

    int Lookup(string? token, string key)
    {
        if (token is null) return -1;
        int id = TokenToId(token);
        if (id < 0) throw new TokenizerException($"{Source}: {key} {token} is neither an added token nor in the vocabulary");
        return id;
    }

    /// <summary>Loads a Hugging Face tokenizer folder: <c>vocab.json</c> + <c>merges.txt</c> with the added
    /// tokens of <c>tokenizer_config.json</c>'s <c>added_tokens_decoder</c>, or, when those two files are
    /// absent, <c>tokenizer.json</c> (its <c>added_tokens</c>; its pre-tokenizer must be Qwen2's).</summary>
    public static Qwen2Tokenizer FromFolder(string folder) => new(Qwen2TokenizerFiles.LoadFolder(folder));

    /// <summary>Builds the tokenizer from the two model files and, optionally, a tokenizer_config.json.</summary>
    public static Qwen2Tokenizer Create(string vocabJsonPath, string mergesTxtPath, string? tokenizerConfigPath = null)
        => new(Qwen2TokenizerFiles.LoadVocabAndMerges(vocabJsonPath, mergesTxtPath, tokenizerConfigPath));

    /// <summary>The ids of <paramref name="text"/>, added tokens recognised (<c>encode(text, add_special_tokens=False)</c>).</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeTo(text, ids);
        return ids.ToArray();
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="output"/>.</summary>
    internal void EncodeTo(string text, List<int> output)
    {
        string normalized = UnicodeNfc.Normalize(ReplaceLoneSurrogates(text));
        var segments = SplitAddedTokens(normalized);
        foreach (var (start, length, token) in segments)
        {
            if (token is not null) output.Add(token.Id);
            else EncodeOrdinaryText(normalized, start, length, output);
        }
    }

    /// <summary>Text with no added tokens recognised: pre-tokens through BPE.</summary>
    void EncodeOrdinaryText(string text, int start, int length, List<int> output)
    {
        var state = new EncodeState(_bpe, output, text, start);
        Qwen2PreTokenizer.Split(text.AsSpan(start, length), ref state,
            static (ref EncodeState s, int pieceStart, int pieceLength) => s.Bpe.Encode(s.Text.AsSpan(s.Offset + pieceStart, pieceLength), s.Output));
    }

    readonly struct EncodeState(ByteLevelBpe bpe, List<int> output, string text, int offset)
    {
        public readonly ByteLevelBpe Bpe = bpe;
        public readonly List<int> Output = output;
        public readonly string Text = text;
        public readonly int Offset = offset;
    }

    /// <summary>Splits at the added tokens as transformers' trie does (leftmost match, longest first), then
    /// applies their lstrip/rstrip to the neighbouring text (Python <c>str.rstrip()</c> / <c>lstrip()</c>).
    /// Text segments have a null token.</summary>
    List<(int Start, int Length, AddedToken? Token)> SplitAddedTokens(string text)
    {
        var segments = new List<(int Start, int Length, AddedToken? Token)>();
        int segmentStart = 0, i = 0;
        while (_addedByLength.Length > 0 && i < text.Length)
        {
            int at = text.AsSpan(i).IndexOfAny(_addedFirstChars);
            if (at < 0) break;
            i += at;
            AddedToken? match = null;
            foreach (var a in _addedByLength)
                if (text.AsSpan(i).StartsWith(a.Content, StringComparison.Ordinal))
                {
                    match = a;
                    break;
                }
            if (match is null)
            {
                i++;
                continue;
            }
            if (i > segmentStart) segments.Add((segmentStart, i - segmentStart, null));
            segments.Add((i, match.Content.Length, match));
            i += match.Content.Length;
            segmentStart = i;
        }
        if (segmentStart < text.Length) segments.Add((segmentStart, text.Length - segmentStart, null));

        for (int k = 0; k < segments.Count; k++)
        {
            var token = segments[k].Token;
            if (token is null) continue;
            if (token.RStrip && k + 1 < segments.Count && segments[k + 1].Token is null)
            {
                var (s, l, _) = segments[k + 1];
                int skip = 0;
                while (skip < l && IsPythonSpace(text[s + skip])) skip++;
                segments[k + 1] = (s + skip, l - skip, null);
            }
            if (token.LStrip && k > 0 && segments[k - 1].Token is null)
            {
                var (s, l, _) = segments[k - 1];
                while (l > 0 && IsPythonSpace(text[s + l - 1])) l--;
                segments[k - 1] = (s, l, null);
            }
        }
        segments.RemoveAll(x => x.Token is null && x.Length == 0);
        return segments;
    }

    /// <summary>Python's <c>str.isspace</c> (what <c>strip</c> removes) for one UTF-16 unit.</summary>
    static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    static string ReplaceLoneSurrogates(string text)
    {
        int bad = -1;
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            if (char.IsSurrogate(text[i])) { bad = i; break; }
        }
        if (bad < 0) return text;
        var chars = text.ToCharArray();
        for (int i = bad; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) { i++; continue; }
            if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    /// <summary>The text of <paramref name="ids"/>, as <c>decode(ids, skip_special_tokens=…)</c> gives it
    /// (transformers' default keeps special tokens, and so does this).</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if (_addedById.TryGetValue(id, out var added))
            {
                if (skipSpecialTokens && added.Special) continue;
                AppendUtf8(bytes, text);
                text.Append(added.Content);
                continue;
            }
            _bpe.AppendBytes(CheckId(id), bytes);
        }
        AppendUtf8(bytes, text);
        return text.ToString();
    }

    int CheckId(int id)
    {
        if ((uint)id >= (uint)_bpe.TokenBytes.Length)
            throw new TokenizerException($"{Source}: cannot decode id {id}: it is neither a byte-level token (0..{_bpe.TokenBytes.Length - 1}) nor an added token");
        return id;
    }

    /// <summary>Decodes gathered bytes as UTF-8 with U+FFFD for each maximal invalid subsequence (the
    /// Unicode-recommended practice that both Python's <c>errors="replace"</c> and .NET's decoder follow).</summary>
    internal static void AppendUtf8(List<byte> bytes, StringBuilder text)
    {
        if (bytes.Count == 0) return;
        text.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)));
        bytes.Clear();
    }

    /// <summary>The bytes of a byte-level token (for the streaming decoder); null for an added token.</summary>
    internal byte[]? TokenBytesOf(int id) => _addedById.ContainsKey(id) ? null : _bpe.TokenBytes[CheckId(id)];

    internal bool TryGetAdded(int id, out string content, out bool special)
    {
        if (_addedById.TryGetValue(id, out var a))
        {
            (content, special) = (a.Content, a.Special);
            return true;
        }
        (content, special) = ("", false);
        return false;
    }

    /// <summary>The id of an added token's text (e.g. <c>&lt;|image_pad|&gt;</c>) or of a byte-level token
    /// string (e.g. <c>Ġworld</c>); -1 if there is none.</summary>
    public int TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_addedByContent.TryGetValue(token, out var a)) return a.Id;
        return _vocab.TryGetValue(token, out int id) ? id : -1;
    }

    /// <summary>An added token's text, or a byte-level token's string (GPT-2 characters, e.g. <c>Ġworld</c>).</summary>
    public string IdToToken(int id)
    {
        if (_addedById.TryGetValue(id, out var a)) return a.Content;
        var bytes = _bpe.TokenBytes[CheckId(id)];
        return string.Create(bytes.Length, bytes, static (span, b) => { for (int i = 0; i < b.Length; i++) span[i] = ByteLevelBpe.ByteToChar[b[i]]; });
    }

    /// <summary>Whether <paramref name="id"/> has text: a byte-level token or an added token.</summary>
    public bool CanDecode(int id) => (uint)id < (uint)_bpe.TokenBytes.Length || _addedById.ContainsKey(id);

    /// <summary>True for added tokens marked special (what <see cref="Decode"/> skips when asked).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var a) && a.Special;
}
