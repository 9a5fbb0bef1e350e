using System.Collections.Concurrent;
using System.Text;

namespace TokenSieve.Text;

/// <summary>GPT-2's byte-level BPE over ids: a pre-token's UTF-8 bytes start as one symbol each (the vocabulary
/// entry of that byte's <see cref="ByteToChar"/> character), then merges apply by rank exactly as
/// transformers' slow <c>GPT2Tokenizer.bpe</c> does: take the pair of lowest rank present, merge <b>every</b>
/// occurrence of it left to right without overlap, repeat until no pair has a rank.
/// <para>Short pre-tokens run that loop directly (<see cref="MergeShort"/>); long ones (a 1 MB run of one letter
/// is one pre-token) use a heap so they cost O(n log n) (<see cref="MergeLong"/>); a test checks the two agree.
/// Results of short pre-tokens are cached, as the reference caches every word.</para></summary>
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

        var table = new Dictionary<long, (int, int)>(merges.Count, PairKeyComparer.Instance);
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

    /// <summary>long's own hash is its halves XORed, which sends every pair (x, x) to bucket 0: runs of one
    /// character ("aaaa", spaces) then walk a chain of thousands of merges on each lookup (5 µs per byte
    /// measured). A multiplicative hash spreads them.</summary>
    sealed class PairKeyComparer : IEqualityComparer<long>
    {
        public static readonly PairKeyComparer Instance = new();
        public bool Equals(long a, long b) => a == b;
        public int GetHashCode(long key) => (int)((ulong)key * 0x9E3779B97F4A7C15UL >> 32);
    }

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

    /// <summary>Pre-tokens up to this many bytes take the direct form of the reference loop; longer ones the heap.</summary>
    internal const int ShortWordBytes = 24;

    int[] Merge(ReadOnlySpan<byte> bytes) => bytes.Length <= ShortWordBytes ? MergeShort(bytes) : MergeLong(bytes);

    /// <summary>The reference loop as written: find the lowest-ranked adjacent pair, rewrite the word merging
    /// every occurrence left to right, repeat. Quadratic, so only for short pre-tokens, where it beats the heap.</summary>
    internal int[] MergeShort(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        Span<int> word = stackalloc int[n];
        for (int i = 0; i < n; i++) word[i] = _byteIds[bytes[i]];
        while (n > 1)
        {
            int bestRank = int.MaxValue, bestLeft = 0, bestRight = 0, merged = 0;
            for (int i = 0; i + 1 < n; i++)
                if (_merges.TryGetValue(Key(word[i], word[i + 1]), out var m) && m.Rank < bestRank)
                    (bestRank, bestLeft, bestRight, merged) = (m.Rank, word[i], word[i + 1], m.Merged);
            if (bestRank == int.MaxValue) break;
            int w = 0;
            for (int i = 0; i < n; w++)
            {
                if (i + 1 < n && word[i] == bestLeft && word[i + 1] == bestRight)
                {
                    word[w] = merged;
                    i += 2;
                }
                else
                {
                    word[w] = word[i++];
                }
            }
            n = w;
        }
        return word[..n].ToArray();
    }

    /// <summary>The same merges in O(n log n): symbols in a linked list over byte positions, candidate pairs in a
    /// binary heap keyed (rank, left position). All candidates of the lowest rank leave the heap before any is
    /// applied, in position order, so a round is exactly the reference's left-to-right pass; new pairs a round
    /// creates wait for a later round, as in the reference. A candidate is stale once either symbol changed (a
    /// symbol only grows, so it never returns to an id it had) or its right symbol was merged away.</summary>
    internal int[] MergeLong(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        var id = new int[n];
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++)
        {
            id[i] = _byteIds[bytes[i]];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        var heap = new CandidateHeap(n);
        for (int i = 0; i + 1 < n; i++) PushPair(i, id, next, heap);
        var round = new List<Candidate>();
        int live = n;
        while (live > 1 && heap.Count > 0)
        {
            long rank = heap.Top.Key >> 32;
            round.Clear();
            while (heap.Count > 0 && heap.Top.Key >> 32 == rank)
            {
                var c = heap.Pop();
                if (IsCurrent(c, id, next)) round.Add(c);
            }
            foreach (var c in round)
            {
                if (!IsCurrent(c, id, next)) continue;  // overlapped by the occurrence just merged on its left ("aaa")
                int left = (int)c.Key, right = c.Right;
                id[left] = c.Merged;
                id[right] = -1;
                next[left] = next[right];
                if (next[right] >= 0) prev[next[right]] = left;
                live--;
                if (prev[left] >= 0) PushPair(prev[left], id, next, heap);
                PushPair(left, id, next, heap);
            }
        }
        var result = new int[live];
        for (int i = 0, k = 0; i >= 0; i = next[i]) result[k++] = id[i];
        return result;
    }

    void PushPair(int left, int[] id, int[] next, CandidateHeap heap)
    {
        int right = next[left];
        if (right >= 0 && _merges.TryGetValue(Key(id[left], id[right]), out var m))
            heap.Push(new Candidate(((long)m.Rank << 32) | (uint)left, id[left], right, id[right], m.Merged));
    }

    static bool IsCurrent(in Candidate c, int[] id, int[] next)
        => id[(int)c.Key] == c.LeftId && next[(int)c.Key] == c.Right && id[c.Right] == c.RightId;

    /// <summary>A possible merge: Key = rank · 2³² + left position (the heap order), the ids it was made from.</summary>
    internal readonly record struct Candidate(long Key, int LeftId, int Right, int RightId, int Merged);

    /// <summary>A binary min-heap on the one long <see cref="Candidate.Key"/>, compared directly.</summary>
    sealed class CandidateHeap(int capacity)
    {
        Candidate[] _items = new Candidate[Math.Max(4, capacity)];
        public int Count { get; private set; }
        public ref readonly Candidate Top => ref _items[0];

        public void Push(in Candidate c)
        {
            if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
            int i = Count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (_items[parent].Key <= c.Key) break;
                _items[i] = _items[parent];
                i = parent;
            }
            _items[i] = c;
        }

        public Candidate Pop()
        {
            var top = _items[0];
            var last = _items[--Count];
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= Count) break;
                if (child + 1 < Count && _items[child + 1].Key < _items[child].Key) child++;
                if (last.Key <= _items[child].Key) break;
                _items[i] = _items[child];
                i = child;
            }
            if (Count > 0) _items[i] = last;
            return top;
        }
    }

    /// <summary>Appends the bytes of <paramref name="id"/>.</summary>
    public void AppendBytes(int id, List<byte> output) => output.AddRange(TokenBytes[id]);
}
