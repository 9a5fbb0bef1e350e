using System.Collections.Concurrent;
using System.Text;

namespace TokenSieve.Text;

/// <summary>GPT-2's byte-level BPE over ids: a pre-token's UTF-8 bytes start as one symbol each (the vocabulary
/// entry of that byte's <see cref="ByteToChar"/> character), then merges apply by rank exactly as
/// transformers' slow <c>GPT2Tokenizer.bpe</c> does: take the pair of lowest rank present, merge <b>every</b>
/// occurrence of it left to right without overlap, repeat until no pair has a rank.
/// <para>Implemented with a heap of candidate pairs keyed (rank, position) over a linked list of symbols, so a
/// pre-token of n bytes costs O(n log n) (a 1 MB run of one letter is one pre-token). All candidates of the
/// current lowest rank are taken out before any is applied, which is what makes this the slow tokenizer's
/// "all occurrences, then re-scan" order even for a merges file whose later merges outrank earlier ones.
/// Results of short pre-tokens are cached, as the reference does.</para></summary>
internal sealed class ByteLevelBpe
{
    /// <summary>GPT-2's <c>bytes_to_unicode</c>: printable Latin-1 bytes map to themselves, the other 68 bytes
    /// to U+0100 onwards in byte order.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();
    static readonly Dictionary<char, byte> CharToByte = Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    const int MaxCachedLength = 64;
    const int MaxCacheEntries = 1 << 18;

    readonly int[] _byteIds;
    /// <summary>(left id, right id) → (rank, merged id).</summary>
    readonly Dictionary<long, (int Rank, int Merged)> _merges;
    readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

    /// <summary>Bytes of each vocabulary id (its byte-level string mapped back).</summary>
    public byte[][] TokenBytes { get; }

    ByteLevelBpe(byte[][] tokenBytes, int[] byteIds, Dictionary<long, (int, int)> merges)
    {
        TokenBytes = tokenBytes;
        _byteIds = byteIds;
        _merges = merges;
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    /// <summary>Builds the model from the vocabulary (byte-level string → id, ids 0..n−1 each used once) and
    /// the merges in rank order. <paramref name="vocabSource"/> and <paramref name="mergesSource"/> name the files
    /// for error messages; <paramref name="mergeLines"/> gives each merge's line number there.</summary>
    public static ByteLevelBpe Create(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        IReadOnlyList<int> mergeLines, string vocabSource, string mergesSource)
    {
        if (vocab.Count == 0) throw new TokenizerException($"{vocabSource}: the vocabulary is empty");
        var tokenBytes = new byte[vocab.Count][];
        foreach (var (token, id) in vocab)
        {
            if (id < 0 || id >= vocab.Count)
                throw new TokenizerException($"{vocabSource}: token {Quote(token)} has id {id}; ids must run 0..{vocab.Count - 1}");
            if (tokenBytes[id] is not null)
                throw new TokenizerException($"{vocabSource}: id {id} is used by two tokens ({Quote(token)} and another)");
            if (token.Length == 0) throw new TokenizerException($"{vocabSource}: id {id} is the empty string");
            var bytes = new byte[token.Length];
            for (int i = 0; i < token.Length; i++)
            {
                if (!CharToByte.TryGetValue(token[i], out bytes[i]))
                    throw new TokenizerException($"{vocabSource}: token {Quote(token)} (id {id}) has the character U+{(int)token[i]:X4}, which is not one of GPT-2's 256 byte-level characters");
            }
            tokenBytes[id] = bytes;
        }

        var byteIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            if (!vocab.TryGetValue(ByteToChar[b].ToString(), out byteIds[b]))
                throw new TokenizerException($"{vocabSource}: no token for byte 0x{b:X2} ({Quote(ByteToChar[b].ToString())}); a byte-level vocabulary needs all 256");
        }

        var table = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            string where = $"{mergesSource}: line {mergeLines[rank]} ({Quote(left + " " + right)})";
            if (!vocab.TryGetValue(left, out int leftId)) throw new TokenizerException($"{where}: {Quote(left)} is not in {vocabSource}");
            if (!vocab.TryGetValue(right, out int rightId)) throw new TokenizerException($"{where}: {Quote(right)} is not in {vocabSource}");
            if (!vocab.TryGetValue(left + right, out int mergedId)) throw new TokenizerException($"{where}: the merged token {Quote(left + right)} is not in {vocabSource}");
            // A repeated pair takes its last rank, as the reference's dict(zip(merges, range(n))) does.
            table[Key(leftId, rightId)] = (rank, mergedId);
        }
        return new ByteLevelBpe(tokenBytes, byteIds, table);
    }

    static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Appends the ids of one pre-token.</summary>
    public void Encode(ReadOnlySpan<char> preToken, List<int> output)
    {
        if (preToken.Length <= MaxCachedLength && _cacheLookup.TryGetValue(preToken, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        int byteCount = Encoding.UTF8.GetByteCount(preToken);
        byte[]? rented = null;
        Span<byte> bytes = byteCount <= 256 ? stackalloc byte[byteCount] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(byteCount)).AsSpan(0, byteCount);
        Encoding.UTF8.GetBytes(preToken, bytes);
        int[] ids = Merge(bytes);
        if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        output.AddRange(ids);
        if (preToken.Length <= MaxCachedLength && _cache.Count < MaxCacheEntries) _cacheLookup.TryAdd(preToken, ids);
    }

    int[] Merge(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        if (n == 1) return [_byteIds[bytes[0]]];
        var id = new int[n];
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++)
        {
            id[i] = _byteIds[bytes[i]];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }

        // A candidate records the ids it saw; it is stale once either position's symbol has changed
        // (a symbol only grows, so it never returns to an id it had) or the right one was merged away.
        var heap = new PriorityQueue<(int Left, int LeftId, int Right, int RightId), (int Rank, int Left)>(n);
        void Push(int left)
        {
            if (left < 0) return;
            int right = next[left];
            if (right < 0) return;
            if (_merges.TryGetValue(Key(id[left], id[right]), out var m))
                heap.Enqueue((left, id[left], right, id[right]), (m.Rank, left));
        }
        bool Valid((int Left, int LeftId, int Right, int RightId) c)
            => id[c.Left] == c.LeftId && next[c.Left] == c.Right && id[c.Right] == c.RightId && prev[c.Right] == c.Left;

        for (int i = 0; i < n - 1; i++) Push(i);
        var round = new List<(int Left, int LeftId, int Right, int RightId)>();
        int live = n;
        while (live > 1 && heap.TryPeek(out _, out var top))
        {
            // Every occurrence of the lowest-ranked pair, in text order (the heap breaks rank ties by position).
            round.Clear();
            while (heap.TryPeek(out var c, out var p) && p.Rank == top.Rank)
            {
                heap.Dequeue();
                if (Valid(c)) round.Add(c);
            }
            foreach (var c in round)
            {
                if (!Valid(c)) continue;  // overlapped by the occurrence just merged on its left ("aaa")
                int left = c.Left, right = c.Right;
                id[left] = _merges[Key(c.LeftId, c.RightId)].Merged;
                id[right] = -1;
                next[left] = next[right];
                if (next[right] >= 0) prev[next[right]] = left;
                prev[right] = -1;
                next[right] = -1;
                live--;
                Push(prev[left]);
                Push(left);
            }
        }

        var result = new int[live];
        for (int i = 0, k = 0; i >= 0; i = next[i]) result[k++] = id[i];
        return result;
    }

    /// <summary>Appends the bytes of <paramref name="id"/>.</summary>
    public void AppendBytes(int id, List<byte> output) => output.AddRange(TokenBytes[id]);
}
