using System.Buffers;
using System.Text;
using System.Text.Json;

namespace TokenSieve.Text;

/// <summary>SentencePiece BPE encoding and decoding over a <c>tokenizer.model</c> (LLaMA/Vicuna/LLaVA),
/// written to give SentencePiece's ids exactly.
/// <para>Encoding: identity normalization (spaces → U+2581, a dummy-prefix space in front), then
/// characters are merged pairwise, always the adjacent pair whose concatenation is the
/// highest-scoring piece; ties go to the <b>leftmost</b> pair, as in SentencePiece's
/// <c>bpe_model.cc</c>. (Microsoft.ML.Tokenizers 2.0.1 breaks ties rightmost-first, which splits runs of
/// 3+ equal characters differently; that is why this class exists.) Symbols left that are not
/// pieces fall back to their UTF-8 bytes (<c>&lt;0xNN&gt;</c>) when the model has byte_fallback,
/// else to &lt;unk&gt;.</para>
/// <para>Added special tokens (llava-hf's <c>&lt;image&gt;</c>, <c>&lt;pad&gt;</c>) are recognised only by
/// <see cref="EncodeWithSpecialTokens"/>; <see cref="Encode"/> treats all text as text, as the original
/// LLaVA tokenizer does.</para></summary>
public sealed class SentencePieceBpeTokenizer
{
    internal SentencePieceModel Model { get; }
    /// <summary>Where the model came from, used in error messages.</summary>
    public string Source { get; }
    public int BosId => Model.BosId;
    public int EosId => Model.EosId;
    public int UnkId => Model.UnkId;
    /// <summary>The model's pad id, else an added <c>&lt;pad&gt;</c> token, else -1.</summary>
    public int PadId { get; }
    /// <summary>Pieces in the model plus added tokens beyond it.</summary>
    public int VocabSize { get; }
    /// <summary>Added special tokens (text → id), e.g. llava-hf's <c>{"&lt;image&gt;": 32000, "&lt;pad&gt;": 32001}</c>.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _special;

    readonly Dictionary<string, int> _mergeable = new(StringComparer.Ordinal);
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    readonly int[] _byteIds = new int[256];
    readonly string[] _userDefined;
    readonly Dictionary<string, int> _special;
    readonly Dictionary<int, string> _specialById = new();
    readonly string[] _specialByLength;

    SentencePieceBpeTokenizer(SentencePieceModel model, IReadOnlyDictionary<string, int>? specialTokens, string source)
    {
        Model = model;
        Source = source;
        var pieces = model.Pieces;
        if (model.ModelType is not (SentencePieceModelType.Bpe or SentencePieceModelType.Unigram))
            throw new TokenizerException($"{source}: model_type is {model.ModelType}; BPE (LLaMA-style) and Unigram models are supported");
        if (model.PrecompiledCharsMap.Length > 0)
            throw new TokenizerException($"{source}: normalizer '{model.NormalizerName}' uses a precompiled charsmap; only the identity normalizer is supported");
        if (model.TreatWhitespaceAsSuffix)
            throw new TokenizerException($"{source}: treat_whitespace_as_suffix is not supported");
        if (pieces.Count == 0) throw new TokenizerException($"{source}: the model has no pieces");
        if (model.UnkId < 0 || model.UnkId >= pieces.Count || pieces[model.UnkId].Type != PieceType.Unknown)
            throw new TokenizerException($"{source}: unk_id {model.UnkId} is not a piece of type UNKNOWN");
        foreach (var (name, id) in new[] { ("bos_id", model.BosId), ("eos_id", model.EosId), ("pad_id", model.PadId) })
            if (id >= pieces.Count) throw new TokenizerException($"{source}: {name} {id} is outside the {pieces.Count} pieces");

        Array.Fill(_byteIds, -1);
        var reserved = new HashSet<string>(StringComparer.Ordinal);
        var userDefined = new List<string>();
        for (int id = 0; id < pieces.Count; id++)
        {
            var p = pieces[id];
            if (p.Piece.Length == 0) throw new TokenizerException($"{source}: piece {id} is empty");
            bool mergeable = p.Type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused;
            if (!(mergeable ? _mergeable.TryAdd(p.Piece, id) : reserved.Add(p.Piece)))
                throw new TokenizerException($"{source}: piece '{p.Piece}' (id {id}) appears twice");
            if (p.Type == PieceType.UserDefined) userDefined.Add(p.Piece);
            if (p.Type == PieceType.Byte)
            {
                int b = SentencePieceModel.ParseBytePiece(p.Piece);
                if (b < 0) throw new TokenizerException($"{source}: BYTE piece {id} is '{p.Piece}', not of the form <0xNN>");
                _byteIds[b] = id;
            }
        }
        if (model.ByteFallback)
        {
            int missing = Array.IndexOf(_byteIds, -1);
            if (missing >= 0) throw new TokenizerException($"{source}: byte_fallback is on but there is no BYTE piece {SentencePieceModel.BytePiece(missing)}");
        }
        _lookup = _mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
        _userDefined = userDefined.OrderByDescending(s => s.Length).ToArray();

        _special = new Dictionary<string, int>(StringComparer.Ordinal);
        int vocab = pieces.Count;
        foreach (var (text, id) in specialTokens ?? new Dictionary<string, int>())
        {
            if (text.Length == 0) throw new TokenizerException($"{source}: an added special token is empty");
            if (id < 0) throw new TokenizerException($"{source}: added token '{text}' has negative id {id}");
            if (id < pieces.Count && pieces[id].Piece != text)
                throw new TokenizerException($"{source}: added token '{text}' has id {id}, which is the model's piece '{pieces[id].Piece}'");
            if (!_specialById.TryAdd(id, text)) throw new TokenizerException($"{source}: two added tokens share id {id}");
            _special[text] = id;
            vocab = Math.Max(vocab, id + 1);
        }
        _specialByLength = _special.Keys.OrderByDescending(s => s.Length).ToArray();
        VocabSize = vocab;
        PadId = model.PadId >= 0 ? model.PadId : _special.GetValueOrDefault("<pad>", -1);
    }

    internal static SentencePieceBpeTokenizer Create(SentencePieceModel model, IReadOnlyDictionary<string, int>? specialTokens = null, string source = "tokenizer model")
        => new(model, specialTokens, source);

    /// <summary>Loads a <c>tokenizer.model</c> file.</summary>
    public static SentencePieceBpeTokenizer Load(string path, IReadOnlyDictionary<string, int>? specialTokens = null)
        => new(SentencePieceModel.Load(path), specialTokens, path);

    /// <summary>Loads <c>tokenizer.model</c> from a model folder, with the added tokens of
    /// <c>added_tokens.json</c> as special tokens when that file exists (llava-hf ships
    /// <c>{"&lt;image&gt;": 32000, "&lt;pad&gt;": 32001}</c>).</summary>
    public static SentencePieceBpeTokenizer FromModelFolder(string folder)
    {
        string modelPath = Path.Combine(folder, "tokenizer.model");
        string addedPath = Path.Combine(folder, "added_tokens.json");
        Dictionary<string, int>? added = null;
        if (File.Exists(addedPath))
        {
            try
            {
                added = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(addedPath));
            }
            catch (JsonException e)
            {
                throw new TokenizerException($"{addedPath}: expected a JSON object of token text → id ({e.Message})", e);
            }
        }
        return Load(modelPath, added);
    }

    /// <summary>A tokenizer from a vocabulary as GGUF stores it (<c>tokenizer.ggml.*</c> with model "llama": SentencePiece
    /// BPE; <paramref name="types"/> are SentencePiece's piece types, which GGML keeps), as llama.cpp's converter writes
    /// tokenizer.model and added_tokens.json. The SentencePiece pieces are the tokens up to the trailing run of added
    /// ones — user-defined tokens after the last other piece (what the converter appends for added_tokens.json) and its
    /// <c>[PADn]</c> fillers; the added ones become special tokens (recognised by <see cref="EncodeWithSpecialTokens"/>,
    /// as a folder's added_tokens.json are), the fillers nothing (no text encodes to them). Control tokens stay reserved
    /// pieces, as in tokenizer.model. LLaMA's normalizer is assumed (identity, no whitespace collapsing: GGUF does not
    /// store it and llama.cpp does the same); byte fallback is on when the vocabulary has BYTE tokens.</summary>
    public static SentencePieceBpeTokenizer FromVocabulary(IReadOnlyList<string> tokens, IReadOnlyList<float> scores, IReadOnlyList<int> types,
        int bosId, int eosId, int unkId, int? padId, bool addSpacePrefix = true, string source = "GGUF vocabulary")
    {
        int n = tokens.Count;
        if (scores.Count != n || types.Count != n) throw new TokenizerException($"{source}: {n} tokens, {scores.Count} scores, {types.Count} types");
        bool Added(int i) => i != bosId && i != eosId && i != unkId && (types[i] == (int)PieceType.UserDefined || IsConverterPadding(tokens[i], i));
        int end = n;
        while (end > 0 && Added(end - 1)) end--;
        var pieces = new List<SentencePiece>(end);
        bool bytes = false;
        for (int i = 0; i < end; i++)
        {
            if (types[i] is < (int)PieceType.Normal or > (int)PieceType.Byte) throw new TokenizerException($"{source}: token {i} has type {types[i]}, outside 1..6");
            var type = (PieceType)types[i];
            bytes |= type == PieceType.Byte;
            pieces.Add(new SentencePiece(tokens[i], scores[i], type));
        }
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = end; i < n; i++)
            if (!IsConverterPadding(tokens[i], i) && !special.TryAdd(tokens[i], i))
                throw new TokenizerException($"{source}: added token '{tokens[i]}' appears twice");
        var model = new SentencePieceModel
        {
            Pieces = pieces, ModelType = SentencePieceModelType.Bpe, VocabSize = end, ByteFallback = bytes,
            UnkId = unkId, BosId = bosId, EosId = eosId, PadId = padId is int p && p < end ? p : -1,
            NormalizerName = "identity", AddDummyPrefix = addSpacePrefix, RemoveExtraWhitespaces = false, EscapeWhitespaces = true,
        };
        return new(model, special, source);
    }

    /// <summary>llama.cpp's converter pads a vocabulary shorter than the embeddings with <c>[PAD{id}]</c>.</summary>
    public static bool IsConverterPadding(string token, int id) =>
        token.Length > 5 && token.StartsWith("[PAD", StringComparison.Ordinal) && token == $"[PAD{id}]";

    /// <summary>Encodes <paramref name="text"/> as plain text (no special tokens are recognised),
    /// with the dummy prefix, BOS in front if <paramref name="addBos"/>, EOS at the end if
    /// <paramref name="addEos"/>. Empty text gives only BOS/EOS, as SentencePiece does.</summary>
    public int[] Encode(string text, bool addBos = true, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos) AddBos(ids);
        EncodeText(text, Model.AddDummyPrefix, ids);
        if (addEos) AddEos(ids);
        return ids.ToArray();
    }

    /// <summary>Encodes with the added special tokens recognised (longest match first), as the
    /// llava-hf processor does: each special token becomes its id, and text after a special token
    /// gets no dummy prefix (only text at the very start does). So <c>"USER: &lt;image&gt;\nHi"</c>
    /// gives <c>…29871, 32000, 13, …</c>.</summary>
    public int[] EncodeWithSpecialTokens(string text, bool addBos = true, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos) AddBos(ids);
        int segmentStart = 0, i = 0;
        while (i < text.Length)
        {
            string? match = MatchSpecial(text, i);
            if (match is null)
            {
                i++;
                continue;
            }
            EncodeText(text.AsSpan(segmentStart, i - segmentStart), Model.AddDummyPrefix && segmentStart == 0, ids);
            ids.Add(_special[match]);
            i += match.Length;
            segmentStart = i;
        }
        EncodeText(text.AsSpan(segmentStart), Model.AddDummyPrefix && segmentStart == 0, ids);
        if (addEos) AddEos(ids);
        return ids.ToArray();
    }

    /// <summary>Appends the ids of one text chunk, with or without the dummy prefix. The building block
    /// of chunk-wise prompt encoding.</summary>
    public void EncodeText(ReadOnlySpan<char> text, bool addDummyPrefix, List<int> output)
    {
        string normalized = Normalize(text, addDummyPrefix);
        if (normalized.Length == 0) return;
        if (Model.ModelType == SentencePieceModelType.Unigram) EncodeUnigram(normalized, output);
        else EncodeNormalized(normalized, output);
    }

    string? MatchSpecial(string text, int at)
    {
        foreach (var s in _specialByLength)
            if (at + s.Length <= text.Length && string.CompareOrdinal(text, at, s, 0, s.Length) == 0) return s;
        return null;
    }

    void AddBos(List<int> ids)
    {
        if (Model.BosId < 0) throw new TokenizerException($"{Source}: BOS was asked for but the model has no bos_id");
        ids.Add(Model.BosId);
    }

    void AddEos(List<int> ids)
    {
        if (Model.EosId < 0) throw new TokenizerException($"{Source}: EOS was asked for but the model has no eos_id");
        ids.Add(Model.EosId);
    }

    /// <summary>SentencePiece's normalizer for the identity rule set: optional removal of extra
    /// spaces, the dummy-prefix space, then spaces escaped to U+2581. Empty input stays empty
    /// (no dummy prefix), as in SentencePiece.</summary>
    string Normalize(ReadOnlySpan<char> text, bool addDummyPrefix)
    {
        if (text.IsEmpty) return "";
        var sb = new StringBuilder(text.Length + 1);
        if (Model.RemoveExtraWhitespaces)
        {
            bool pendingSpace = false;
            foreach (char c in text)
            {
                if (c == ' ')
                {
                    pendingSpace = sb.Length > 0;
                    continue;
                }
                if (pendingSpace) sb.Append(' ');
                pendingSpace = false;
                sb.Append(c);
            }
            if (sb.Length == 0) return "";
        }
        else
        {
            sb.Append(text);
        }
        if (addDummyPrefix) sb.Insert(0, ' ');
        if (Model.EscapeWhitespaces) sb.Replace(' ', SentencePieceModel.SpaceSymbol);
        return sb.ToString();
    }

    /// <summary>Orders candidate merges: higher score first, then the leftmost pair (SentencePiece's
    /// SymbolPairComparator).</summary>
    sealed class MergeOrder : IComparer<(float Score, int Left)>
    {
        public static readonly MergeOrder Instance = new();
        public int Compare((float Score, int Left) a, (float Score, int Left) b)
        {
            int byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : a.Left.CompareTo(b.Left);
        }
    }

    /// <summary>BPE over the characters of <paramref name="s"/>. Symbols form a linked list over spans
    /// of <paramref name="s"/>; a merged-away symbol has length 0. Candidate pairs sit in a priority
    /// queue and are checked for staleness when popped, as in SentencePiece.</summary>
    void EncodeNormalized(string s, List<int> output)
    {
        var start = new List<int>(s.Length);
        var frozen = new List<bool>(s.Length);
        for (int i = 0; i < s.Length;)
        {
            string? user = MatchUserDefined(s, i);
            int len = user?.Length ?? (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1);
            start.Add(i);
            frozen.Add(user is not null);  // user-defined symbols are never merged with neighbours
            i += len;
        }
        int n = start.Count;
        var length = new int[n];
        var prev = new int[n];
        var next = new int[n];
        for (int k = 0; k < n; k++)
        {
            length[k] = (k + 1 < n ? start[k + 1] : s.Length) - start[k];
            prev[k] = k - 1;
            next[k] = k + 1 < n ? k + 1 : -1;
        }

        var agenda = new PriorityQueue<(int Left, int Right, int Length), (float, int)>(MergeOrder.Instance);
        Dictionary<string, (string Left, string Right)>? unusedSplits = null;
        void MaybeAddPair(int left, int right)
        {
            if (left < 0 || right < 0 || frozen[left] || frozen[right]) return;
            int merged = length[left] + length[right];
            if (_lookup.TryGetValue(s.AsSpan(start[left], merged), out int id))
                agenda.Enqueue((left, right, merged), (Model.Pieces[id].Score, left));
        }
        for (int k = 1; k < n; k++) MaybeAddPair(k - 1, k);

        while (agenda.TryDequeue(out var pair, out _))
        {
            var (left, right, merged) = pair;
            // Stale candidate: one side was merged away or grew since the pair was queued.
            if (length[left] == 0 || length[right] == 0 || length[left] + length[right] != merged) continue;
            int mergedId = _lookup[s.AsSpan(start[left], merged)];
            if (Model.Pieces[mergedId].Type == PieceType.Unused)
            {
                unusedSplits ??= new(StringComparer.Ordinal);
                unusedSplits[s.Substring(start[left], merged)] = (s.Substring(start[left], length[left]), s.Substring(start[right], length[right]));
            }
            length[left] = merged;
            length[right] = 0;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            MaybeAddPair(prev[left], left);
            MaybeAddPair(left, next[left]);
        }

        bool lastWasUnknown = false;
        for (int k = 0; k >= 0; k = next[k])
            EmitPiece(s.AsSpan(start[k], length[k]), unusedSplits, output, ref lastWasUnknown);
    }

    /// <summary>Unigram: the segmentation with the highest total piece score (Viterbi), as
    /// SentencePiece's unigram model. A character that no one-character piece covers becomes an
    /// unknown node scored min_score − 10 (SentencePiece's kUnkPenalty); unknown spans then fall back
    /// to bytes or &lt;unk&gt; like BPE's. Ties keep the earlier start (strict &gt;), as SentencePiece.</summary>
    void EncodeUnigram(string s, List<int> output)
    {
        int n = s.Length;
        _unigramMinScore ??= Model.Pieces.Where(p => p.Type == PieceType.Normal).Select(p => p.Score).DefaultIfEmpty(0).Min();
        _maxPieceLength ??= Model.Pieces.Where(p => p.Type is PieceType.Normal or PieceType.UserDefined).Select(p => p.Piece.Length).DefaultIfEmpty(1).Max();
        float unkScore = _unigramMinScore.Value - 10f;
        var best = new double[n + 1];
        var from = new int[n + 1];
        Array.Fill(best, double.NegativeInfinity);
        best[0] = 0;
        for (int i = 0; i < n; i++)
        {
            if (double.IsNegativeInfinity(best[i])) continue;
            int charLength = char.IsHighSurrogate(s[i]) && i + 1 < n && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
            bool singleCharacterPiece = false;
            for (int len = 1; len <= Math.Min(_maxPieceLength.Value, n - i); len++)
            {
                if (!_lookup.TryGetValue(s.AsSpan(i, len), out int id) || Model.Pieces[id].Type is not (PieceType.Normal or PieceType.UserDefined)) continue;
                if (len == charLength) singleCharacterPiece = true;
                double score = best[i] + Model.Pieces[id].Score;
                if (score > best[i + len]) { best[i + len] = score; from[i + len] = i; }
            }
            if (!singleCharacterPiece)
            {
                double score = best[i] + unkScore;
                if (score > best[i + charLength]) { best[i + charLength] = score; from[i + charLength] = i; }
            }
        }
        var spans = new List<(int Start, int Length)>();
        for (int j = n; j > 0; j = from[j]) spans.Add((from[j], j - from[j]));
        spans.Reverse();
        bool lastWasUnknown = false;
        foreach (var (start, length) in spans) EmitPiece(s.AsSpan(start, length), null, output, ref lastWasUnknown);
    }

    float? _unigramMinScore;
    int? _maxPieceLength;

    string? MatchUserDefined(string s, int at)
    {
        foreach (var u in _userDefined)
            if (at + u.Length <= s.Length && string.CompareOrdinal(s, at, u, 0, u.Length) == 0) return u;
        return null;
    }

    /// <summary>A final symbol becomes its piece id; an UNUSED piece is split back into the two
    /// pieces it was merged from (SentencePiece's resegment); anything else is unknown and falls
    /// back to bytes or, without byte fallback, to &lt;unk&gt; (a run of unknown symbols becomes one
    /// &lt;unk&gt;, as SentencePiece merges them).</summary>
    void EmitPiece(ReadOnlySpan<char> piece, Dictionary<string, (string Left, string Right)>? unusedSplits, List<int> output, ref bool lastWasUnknown)
    {
        if (_lookup.TryGetValue(piece, out int id))
        {
            if (Model.Pieces[id].Type == PieceType.Unused && unusedSplits is not null && unusedSplits.TryGetValue(piece.ToString(), out var split))
            {
                EmitPiece(split.Left, unusedSplits, output, ref lastWasUnknown);
                EmitPiece(split.Right, unusedSplits, output, ref lastWasUnknown);
                return;
            }
            output.Add(id);
            lastWasUnknown = false;
            return;
        }
        if (!Model.ByteFallback)
        {
            if (!lastWasUnknown) output.Add(Model.UnkId);
            lastWasUnknown = true;
            return;
        }
        foreach (byte b in Encoding.UTF8.GetBytes(piece.ToString())) output.Add(_byteIds[b]);
    }

    /// <summary>Decodes ids to text like SentencePiece: BYTE pieces are gathered and read as UTF-8
    /// (an invalid byte becomes one U+FFFD), U+2581 becomes a space, and the dummy-prefix space of
    /// the first piece is removed once. With <paramref name="skipSpecialTokens"/> (the default, as in
    /// LLaVA's <c>batch_decode(skip_special_tokens=True)</c>) control pieces (BOS/EOS), &lt;unk&gt; and added
    /// tokens produce nothing; without it they appear as their piece text (&lt;unk&gt; as the model's
    /// unk surface, " ⁇ "), and control and added tokens do not count as text for the dummy-prefix
    /// rule.</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        bool expectBosSpace = true, bosSpaceSeen = false;
        int specialChars = 0;
        foreach (int id in ids)
        {
            if (id < 0 || id >= VocabSize)
                throw new TokenizerException($"{Source}: cannot decode id {id}: outside the vocabulary 0..{VocabSize - 1}");
            if (id < Model.Pieces.Count && Model.Pieces[id].Type == PieceType.Byte)
            {
                bytes.Add((byte)SentencePieceModel.ParseBytePiece(Model.Pieces[id].Piece));
                continue;
            }
            FlushBytes(bytes, text);
            if (_specialById.TryGetValue(id, out string? specialText))
            {
                if (!skipSpecialTokens) specialChars += Append(text, specialText);
                continue;
            }
            var piece = Model.Pieces[id];
            switch (piece.Type)
            {
                case PieceType.Control:
                    if (!skipSpecialTokens) specialChars += Append(text, piece.Piece);
                    continue;
                case PieceType.Unknown:
                    // Shown, the unk surface is text like SentencePiece's (a following ▁ stays a space).
                    if (!skipSpecialTokens) text.Append(Model.UnkSurface);
                    continue;
            }
            if (bosSpaceSeen || text.Length > specialChars) expectBosSpace = false;
            var surface = piece.Piece.AsSpan();
            bosSpaceSeen = false;
            if (expectBosSpace && (Model.AddDummyPrefix || Model.RemoveExtraWhitespaces) && surface.Length > 0 && surface[0] == SentencePieceModel.SpaceSymbol)
            {
                surface = surface[1..];
                bosSpaceSeen = true;
            }
            foreach (char c in surface) text.Append(c == SentencePieceModel.SpaceSymbol ? ' ' : c);
        }
        FlushBytes(bytes, text);
        return text.ToString();
    }

    static int Append(StringBuilder text, string s)
    {
        text.Append(s);
        return s.Length;
    }

    /// <summary>Reads gathered byte-fallback bytes as UTF-8; each byte that does not start a valid
    /// sequence becomes one U+FFFD (SentencePiece's rule).</summary>
    static void FlushBytes(List<byte> bytes, StringBuilder text)
    {
        if (bytes.Count == 0) return;
        ReadOnlySpan<byte> span = bytes.ToArray();
        while (!span.IsEmpty)
        {
            if (System.Text.Rune.DecodeFromUtf8(span, out var rune, out int consumed) == OperationStatus.Done)
            {
                text.Append(rune.ToString());
                span = span[consumed..];
            }
            else
            {
                text.Append('\uFFFD');
                span = span[1..];
            }
        }
        bytes.Clear();
    }

    /// <summary>The piece text of <paramref name="id"/> (or the added token's text).</summary>
    public string IdToPiece(int id)
    {
        if (_specialById.TryGetValue(id, out string? s)) return s;
        if (id < 0 || id >= Model.Pieces.Count) throw new TokenizerException($"{Source}: id {id} is outside the vocabulary 0..{VocabSize - 1}");
        return Model.Pieces[id].Piece;
    }

    /// <summary>The id of a piece or added token, or -1.</summary>
    public int PieceToId(string piece)
    {
        if (_special.TryGetValue(piece, out int id) || _mergeable.TryGetValue(piece, out id)) return id;
        for (int i = 0; i < Model.Pieces.Count; i++)
            if (Model.Pieces[i].Piece == piece) return i;
        return -1;
    }

    /// <summary>True for ids that decoding with skipSpecialTokens drops: control, unknown and added tokens.</summary>
    public bool IsSpecial(int id)
        => _specialById.ContainsKey(id) || (id >= 0 && id < Model.Pieces.Count && Model.Pieces[id].Type is PieceType.Control or PieceType.Unknown);
}
