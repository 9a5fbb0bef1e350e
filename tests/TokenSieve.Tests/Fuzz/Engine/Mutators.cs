using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace TokenSieve.Fuzzing;

/// <summary>SplitMix64: a small PRNG whose sequence is fixed by its seed on every platform and .NET
/// version, so a (class, seed, case) triple always rebuilds the same input.</summary>
public sealed class FuzzRandom(ulong seed)
{
    ulong _state = seed;

    public static FuzzRandom ForCase(ulong seed, string kind, long index)
    {
        ulong h = 1469598103934665603UL;
        foreach (char c in kind) h = (h ^ c) * 1099511628211UL;
        var r = new FuzzRandom(seed ^ h ^ ((ulong)index * 0x9E3779B97F4A7C15UL));
        r.NextU64();
        return r;
    }

    public ulong NextU64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, n).</summary>
    public int Next(int n) => n <= 0 ? 0 : (int)(NextU64() % (ulong)n);

    public int Next(int lo, int hi) => lo + Next(hi - lo);

    public bool Chance(double p) => (NextU64() >> 11) * (1.0 / (1UL << 53)) < p;

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];
}

/// <summary>Generic byte-level mutation operators.</summary>
public static class ByteMutator
{
    public static readonly long[] InterestingInts =
    [
        0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4096, 20000, 30000, 32767, 32768,
        65535, 65536, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, -1, -2, 1L << 40, long.MaxValue,
    ];

    static readonly byte[] InterestingBytes = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x20, 0x10];

    public static byte[] Mutate(byte[] input, FuzzRandom r, IReadOnlyList<byte[]>? splicePool = null, int maxLength = 1 << 20)
    {
        var data = new List<byte>(input);
        int steps = 1 + r.Next(4);
        for (int s = 0; s < steps; s++) Step(data, r, splicePool);
        if (data.Count > maxLength) data.RemoveRange(maxLength, data.Count - maxLength);
        return data.ToArray();
    }

    static void Step(List<byte> d, FuzzRandom r, IReadOnlyList<byte[]>? pool)
    {
        if (d.Count == 0)
        {
            d.Add((byte)r.Next(256));
            return;
        }
        switch (r.Next(11))
        {
            case 0:  // bit flip
            {
                int i = r.Next(d.Count);
                d[i] ^= (byte)(1 << r.Next(8));
                break;
            }
            case 1:  // interesting byte
                d[r.Next(d.Count)] = r.Pick(InterestingBytes);
                break;
            case 2:  // random byte
                d[r.Next(d.Count)] = (byte)r.Next(256);
                break;
            case 3:  // insert bytes
            {
                int at = r.Next(d.Count + 1), n = 1 + r.Next(r.Chance(0.8) ? 8 : 256);
                var bytes = new byte[n];
                for (int i = 0; i < n; i++) bytes[i] = r.Chance(0.5) ? r.Pick(InterestingBytes) : (byte)r.Next(256);
                d.InsertRange(at, bytes);
                break;
            }
            case 4:  // delete a range
            {
                int at = r.Next(d.Count), n = Math.Min(d.Count - at, 1 + r.Next(r.Chance(0.8) ? 8 : 512));
                d.RemoveRange(at, n);
                break;
            }
            case 5:  // duplicate a range
            {
                int at = r.Next(d.Count), n = Math.Min(d.Count - at, 1 + r.Next(64));
                d.InsertRange(r.Next(d.Count + 1), d.GetRange(at, n));
                break;
            }
            case 6:  // truncate
            {
                int keep = r.Chance(0.5) ? r.Next(d.Count) : d.Count - 1 - r.Next(Math.Min(d.Count, 64));
                d.RemoveRange(keep, d.Count - keep);
            }
                break;
            case 7:  // overwrite an integer field
            {
                int size = r.Pick(new[] { 2, 4, 8 });
                if (d.Count < size) break;
                int at = r.Next(d.Count - size + 1);
                long v = r.Pick(InterestingInts);
                Span<byte> b = stackalloc byte[8];
                if (r.Chance(0.5)) BinaryPrimitives.WriteInt64LittleEndian(b, v);
                else BinaryPrimitives.WriteInt64BigEndian(b, v << (64 - 8 * size));
                for (int i = 0; i < size; i++) d[at + i] = b[i];
                break;
            }
            case 8:  // splice with another seed
            {
                if (pool is null || pool.Count == 0) goto case 0;
                var other = r.Pick(pool);
                if (other.Length == 0) break;
                int cut = r.Next(d.Count), from = r.Next(other.Length);
                d.RemoveRange(cut, d.Count - cut);
                d.AddRange(other.AsSpan(from).ToArray());
                break;
            }
            case 9:  // arithmetic on a byte
            {
                int i = r.Next(d.Count);
                d[i] = (byte)(d[i] + r.Next(-16, 17));
                break;
            }
            default:  // overwrite a range with random bytes
            {
                int at = r.Next(d.Count), n = Math.Min(d.Count - at, 1 + r.Next(32));
                for (int i = 0; i < n; i++) d[at + i] = (byte)r.Next(256);
                break;
            }
        }
    }
}

/// <summary>JSON-aware mutation: a random value, key or element of the document is replaced, removed,
/// duplicated or renamed, with literals that stress readers (1e20, 16.0, 2^63, lone surrogates,
/// invalid UTF-8, deep nesting). Raw literals are written through placeholders so that the output
/// holds exactly the bytes chosen (duplicate keys and invalid UTF-8 included).</summary>
public static class JsonMutator
{
    static readonly string[] Literals =
    [
        "0", "-1", "1", "2", "3", "1e20", "1e9", "1000000000", "16.0", "1.5", "-0.0", "2147483647", "2147483648", "-2147483649",
        "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551616", "1e308", "1e400", "-1e400", "1e-400",
        "0.000001", "65536", "65535", "1e5", "\"x\"", "\"\"", "null", "true", "false", "[]", "{}", "[1,2]", "[[1]]", "[0]", "[-1]",
        "[2147483647,2147483647,2147483647]", "[4294967296]", "[0,0]", "[1,0]", "\"\\ud800\"", "\"\\udc00x\"", "\"\\u0000\"",
        "\"F32\"", "\"F16\"", "\"BF16\"", "\"I64\"", "\"quick_gelu\"", "\"llava\"", "{\"a\":1}", "\"1\"",
    ];

    static readonly byte[][] BadUtf8 = [[0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0x80]];

    public static byte[] Mutate(byte[] json, FuzzRandom r)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (Exception)
        {
            return ByteMutator.Mutate(json, r);
        }
        if (root is null) return ByteMutator.Mutate(json, r);
        var replacements = new List<(string Placeholder, byte[] Raw)>();
        int steps = 1 + r.Next(3);
        for (int s = 0; s < steps; s++) Step(root, r, replacements);
        byte[] text = Encoding.UTF8.GetBytes(root.ToJsonString());
        foreach (var (placeholder, raw) in replacements) text = Replace(text, Encoding.UTF8.GetBytes(placeholder), raw);
        if (r.Chance(0.15)) text = ByteMutator.Mutate(text, r);
        return text;
    }

    static byte[] Replace(byte[] text, byte[] find, byte[] with)
    {
        int at = text.AsSpan().IndexOf(find);
        if (at < 0) return text;
        return [.. text.AsSpan(0, at), .. with, .. text.AsSpan(at + find.Length)];
    }

    static List<JsonNode> AllNodes(JsonNode root)
    {
        var list = new List<JsonNode>();
        void Walk(JsonNode? n)
        {
            if (n is null) return;
            list.Add(n);
            if (n is JsonObject o) foreach (var kv in o) Walk(kv.Value);
            else if (n is JsonArray a) foreach (var x in a) Walk(x);
        }
        Walk(root);
        return list;
    }

    static string RawLiteral(FuzzRandom r, List<(string, byte[])> reps, out string placeholder)
    {
        placeholder = $"__fuzz_{reps.Count}_{r.Next(1 << 30)}__";
        byte[] raw;
        switch (r.Next(10))
        {
            case 0:
                raw = [(byte)'"', .. r.Pick(BadUtf8), (byte)'"'];
                break;
            case 1:
                int depth = 1 + r.Next(80);
                raw = Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', depth));
                break;
            case 2:
                raw = Encoding.UTF8.GetBytes("\"" + new string('a', 1 + r.Next(5000)) + "\"");
                break;
            case 3:
                raw = Encoding.UTF8.GetBytes(r.Pick(ByteMutator.InterestingInts).ToString());
                break;
            default:
                raw = Encoding.UTF8.GetBytes(r.Pick(Literals));
                break;
        }
        reps.Add(($"\"{placeholder}\"", raw));
        return placeholder;
    }

    static void Step(JsonNode root, FuzzRandom r, List<(string, byte[])> reps)
    {
        var nodes = AllNodes(root);
        var node = r.Pick(nodes);
        var parent = node.Parent;
        switch (r.Next(8))
        {
            case 0:
            case 1:
            case 2:  // replace a value with a literal
            {
                if (parent is null) break;
                string ph = RawLiteral(r, reps, out _);
                SetInParent(node, JsonValue.Create(ph.Trim('"')));
                break;
            }
            case 3:  // numeric tweak
            {
                if (parent is null || node is not JsonValue v || !v.TryGetValue(out double d)) goto case 0;
                double nd = r.Next(5) switch { 0 => d + 1, 1 => d - 1, 2 => d * 2, 3 => -d, _ => d * 1000 };
                SetInParent(node, JsonValue.Create(nd));
                break;
            }
            case 4:  // delete
                if (parent is JsonObject po) po.Remove(node.GetPropertyName());
                else if (parent is JsonArray pa) pa.RemoveAt(node.GetElementIndex());
                break;
            case 5:  // duplicate a key (raw) or an array element
                if (parent is JsonObject o2)
                {
                    string name = node.GetPropertyName();
                    string ph = $"__fuzzdup_{reps.Count}_{r.Next(1 << 30)}__";
                    o2[ph] = node.DeepClone();
                    reps.Add(($"\"{ph}\"", Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(name))));
                }
                else if (parent is JsonArray a2) a2.Add(node.DeepClone());
                break;
            case 6:  // add an unknown or odd key / element
                if (node is JsonObject o3)
                {
                    string ph = RawLiteral(r, reps, out _);
                    string key = r.Pick(new[] { "extra_key", "__metadata__", "", "num_hidden_layers", "head_dim", "dtype", "shape", "data_offsets" });
                    o3[key + "_" + r.Next(3)] = JsonValue.Create(ph.Trim('"'));
                }
                else if (node is JsonArray a3) a3.Add(JsonValue.Create(RawLiteral(r, reps, out _).Trim('"')));
                else goto case 0;
                break;
            default:  // rename a key (to a bad-unicode, empty or other key)
                if (parent is JsonObject o4)
                {
                    string name = node.GetPropertyName();
                    o4.Remove(name);
                    string ph = $"__fuzzkey_{reps.Count}_{r.Next(1 << 30)}__";
                    o4[ph] = node;
                    byte[] key = r.Next(3) switch
                    {
                        0 => [(byte)'"', .. r.Pick(BadUtf8), (byte)'"'],
                        1 => "\"\\ud800\""u8.ToArray(),
                        _ => Encoding.UTF8.GetBytes("\"" + r.Pick(new[] { "", "__metadata__", "vision_config", "text_config", "weight_map", name.ToUpperInvariant() }) + "\""),
                    };
                    reps.Add(($"\"{ph}\"", key));
                }
                break;
        }
    }

    static void SetInParent(JsonNode node, JsonNode replacement)
    {
        switch (node.Parent)
        {
            case JsonObject o:
                o[node.GetPropertyName()] = replacement;
                break;
            case JsonArray a:
                a[node.GetElementIndex()] = replacement;
                break;
        }
    }
}

/// <summary>Mutations that know where image headers keep their sizes and structure.</summary>
public static class ImageMutator
{
    static readonly int[] Dimensions = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 1000, 6000, 20000, 30000, 32767, 32768, 40000, 65535];

    public static byte[] Mutate(byte[] image, FuzzRandom r, IReadOnlyList<byte[]> pool)
    {
        byte[] d = r.Next(10) switch
        {
            < 4 => ByteMutator.Mutate(image, r, pool),
            < 8 => StructureEdit((byte[])image.Clone(), r),
            _ => ByteMutator.Mutate(StructureEdit((byte[])image.Clone(), r), r, pool),
        };
        if (IsPng(d) && r.Chance(0.6)) FixPngCrcs(d);
        return d;
    }

    static bool IsPng(byte[] d) => d.Length >= 8 && d[0] == 0x89 && d[1] == 'P';

    static byte[] StructureEdit(byte[] d, FuzzRandom r)
    {
        if (IsPng(d) && d.Length >= 33)
        {
            switch (r.Next(4))
            {
                case 0: BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(16), r.Pick(Dimensions)); break;
                case 1: BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(20), r.Pick(Dimensions)); break;
                case 2: d[24] = (byte)r.Pick(new[] { 1, 2, 4, 8, 16, 3, 0, 32 }); d[25] = (byte)r.Pick(new[] { 0, 2, 3, 4, 6, 1, 7 }); break;
                default: d[28] = (byte)r.Next(3); break;  // interlace
            }
            return d;
        }
        if (d.Length > 3 && d[0] == 0xFF && d[1] == 0xD8) return JpegEdit(d, r);
        if (d.Length >= 13 && d[0] == 'G' && d[1] == 'I' && d[2] == 'F') return GifEdit(d, r);
        if (d.Length >= 30 && d[0] == 'B' && d[1] == 'M')
        {
            switch (r.Next(6))
            {
                case 0: BinaryPrimitives.WriteInt32LittleEndian(d.AsSpan(18), r.Pick(Dimensions) * (r.Chance(0.2) ? -1 : 1)); break;
                case 1: BinaryPrimitives.WriteInt32LittleEndian(d.AsSpan(22), r.Pick(Dimensions) * (r.Chance(0.3) ? -1 : 1)); break;
                case 2: BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(28), (ushort)r.Pick(new[] { 1, 4, 8, 16, 24, 32, 0, 64 })); break;
                case 3: BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(30), (uint)r.Next(7)); break;  // compression
                case 4: BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(10), (uint)r.Pick(ByteMutator.InterestingInts)); break;  // data offset
                default: BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(14), (uint)r.Pick(new[] { 12, 40, 52, 56, 108, 124, 0, 1000 })); break;
            }
            return d;
        }
        if (d.Length >= 18 && d[1] <= 1 && d[2] is 1 or 2 or 3 or 9 or 10 or 11)
        {
            // TGA: sizes, image type (RLE or not), pixel depth, descriptor, colour map fields.
            switch (r.Next(5))
            {
                case 0: BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(12), (ushort)r.Pick(Dimensions)); break;
                case 1: BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(14), (ushort)r.Pick(Dimensions)); break;
                case 2: d[2] = (byte)r.Pick(new[] { 1, 2, 3, 9, 10, 11 }); break;
                case 3: d[16] = (byte)r.Pick(new[] { 8, 15, 16, 24, 32, 0, 7 }); break;
                default: d[r.Next(0, 18)] = (byte)r.Next(256); break;
            }
            return d;
        }
        return ByteMutator.Mutate(d, r);
    }

    static byte[] JpegEdit(byte[] d, FuzzRandom r)
    {
        // Marker segments before the entropy data: (offset of the marker, length field value).
        var segments = new List<(int At, int Marker, int Length)>();
        int pos = 2;
        while (pos + 4 <= d.Length && d[pos] == 0xFF)
        {
            int marker = d[pos + 1], length = (d[pos + 2] << 8) | d[pos + 3];
            segments.Add((pos, marker, length));
            if (marker == 0xDA || length < 2) break;
            pos += 2 + length;
        }
        if (segments.Count == 0) return ByteMutator.Mutate(d, r);
        var sof = segments.FirstOrDefault(s => s.Marker is 0xC0 or 0xC1 or 0xC2);
        int choice = r.Next(6);
        if (sof.Marker != 0 && choice < 3 && sof.At + 12 <= d.Length)
        {
            if (choice == 0)
            {
                BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(sof.At + 5), (ushort)r.Pick(Dimensions));
                BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(sof.At + 7), (ushort)r.Pick(Dimensions));
            }
            else if (choice == 1)
            {
                int comps = d[sof.At + 9];
                if (comps > 0 && sof.At + 10 + 3 * comps <= d.Length)
                    d[sof.At + 11 + 3 * r.Next(comps)] = (byte)((r.Next(6) << 4) | r.Next(6));  // sampling factors
            }
            else d[sof.At + 9] = (byte)r.Pick(new[] { 0, 1, 2, 3, 4, 5, 255 });
            return d;
        }
        var seg = r.Pick(segments);
        int start = seg.At + 4, end = Math.Min(d.Length, seg.At + 2 + seg.Length);
        if (choice == 3 && end > start)
            d[r.Next(start, end)] = (byte)(r.Chance(0.5) ? r.Next(256) : r.Pick(new[] { 0, 0xFF, 0x11, 0x22, 63, 64 }));
        else if (choice == 4)
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(seg.At + 2), (ushort)r.Pick(new[] { 0, 1, 2, 3, seg.Length + 1, seg.Length - 1, 65535 }));
        else
        {
            // Damage the entropy-coded data after SOS: flip bytes, plant markers (RSTn, EOI, FF00).
            var sos = segments[^1];
            int dataStart = Math.Min(d.Length, sos.At + 2 + sos.Length);
            if (dataStart >= d.Length) return d;
            int at = r.Next(dataStart, d.Length);
            if (r.Chance(0.5)) d[at] = (byte)r.Next(256);
            else if (at + 1 < d.Length)
            {
                d[at] = 0xFF;
                d[at + 1] = (byte)r.Pick(new[] { 0xD0, 0xD3, 0xD7, 0xD9, 0x00, 0xC4, 0xDA, 0xFF, 0xDD });
            }
        }
        return d;
    }

    static byte[] GifEdit(byte[] d, FuzzRandom r)
    {
        switch (r.Next(5))
        {
            case 0:
                BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(6), (ushort)r.Pick(Dimensions));
                BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(8), (ushort)r.Pick(Dimensions));
                return d;
            case 1:
                d[10] = (byte)r.Next(256);  // global colour table flags
                return d;
        }
        int pos = 13 + ((d[10] & 0x80) != 0 ? 3 << ((d[10] & 7) + 1) : 0);
        while (pos < d.Length && d[pos] == 0x21)
        {
            pos += 2;
            while (pos < d.Length && d[pos] != 0) pos += d[pos] + 1;
            pos++;
        }
        if (pos + 11 > d.Length || d[pos] != 0x2C) return ByteMutator.Mutate(d, r);
        switch (r.Next(4))
        {
            case 0: BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(pos + 1 + 2 * r.Next(4)), (ushort)r.Pick(Dimensions)); break;
            case 1: d[pos + 9] = (byte)r.Next(256); break;  // local flags (table, interlace)
            case 2: if (pos + 10 < d.Length && (d[pos + 9] & 0x80) == 0) d[pos + 10] = (byte)r.Pick(new[] { 0, 1, 2, 8, 11, 12, 13, 255 }); break;  // LZW code size
            default:
                int at = r.Next(pos + 10, d.Length);
                d[at] = (byte)r.Next(256);
                break;
        }
        return d;
    }

    /// <summary>Recomputes every chunk CRC so that mutations reach past the CRC check.</summary>
    static void FixPngCrcs(byte[] d)
    {
        int pos = 8;
        while (pos + 12 <= d.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos));
            if (length > (uint)(d.Length - pos - 12)) return;
            int len = (int)length;
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(pos + 8 + len), Crc32(d.AsSpan(pos + 4, len + 4)));
            pos += 12 + len;
        }
    }

    static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFFu;
    }
}

/// <summary>Spec-string mutations: characters from the spec grammar and odd Unicode, numbers swapped
/// for boundary values, segments duplicated or spliced.</summary>
public static class SpecMutator
{
    static readonly string[] Pieces =
    [
        ":", ",", "=", "+", "/", ";", "-", ".", "e", " ", "\t", "\n", "\0", "k=", "keep=", "ratio=", "seed=", "r=", "layers=", "budgets=",
        "stage=", "attn=", "variant=", "lambda=", "pivot=", "ratios=", "\u00e9", "\ud800", "\u200b", "\u0661", "\uff11", "İ", "ı", "K",
    ];

    static readonly string[] Numbers =
    [
        "0", "-1", "1", "1e309", "-1e309", "1e-400", "NaN", "Infinity", "-Infinity", "99999999999999999999", "2147483648", "2147483647",
        "-2147483648", "0.0000001", "-0", "0x10", "\u0661\u0662", "\uff11", "1.", ".5", "1e", "5e-324", "1,5", "4294967296", "576", "577", "1_000",
    ];

    public static string Mutate(string spec, FuzzRandom r, IReadOnlyList<string> pool)
    {
        var s = new StringBuilder(spec);
        int steps = 1 + r.Next(4);
        for (int i = 0; i < steps; i++)
        {
            switch (r.Next(8))
            {
                case 0: s.Insert(r.Next(s.Length + 1), r.Pick(Pieces)); break;
                case 1:
                    if (s.Length > 0)
                    {
                        int at = r.Next(s.Length);
                        s.Remove(at, Math.Min(s.Length - at, 1 + r.Next(3)));
                    }
                    break;
                case 2: if (s.Length > 0) s[r.Next(s.Length)] = r.Pick(Pieces)[0]; break;
                case 3:
                {
                    // Replace a run of digits with a boundary number.
                    string text = s.ToString();
                    var runs = new List<(int, int)>();
                    for (int k = 0; k < text.Length; k++)
                        if (char.IsAsciiDigit(text[k]))
                        {
                            int st = k;
                            while (k < text.Length && (char.IsAsciiDigit(text[k]) || text[k] == '.')) k++;
                            runs.Add((st, k - st));
                        }
                    if (runs.Count == 0) { s.Append(':').Append(r.Pick(Numbers)); break; }
                    var (at, len) = r.Pick(runs);
                    s.Remove(at, len).Insert(at, r.Pick(Numbers));
                    break;
                }
                case 4:  // duplicate an option segment
                {
                    string text = s.ToString();
                    int c = text.IndexOfAny([':', ',']);
                    if (c >= 0) s.Append(r.Chance(0.5) ? ',' : ':').Append(text[(c + 1)..]);
                    break;
                }
                case 5:  // splice
                {
                    string other = r.Pick(pool);
                    int cut = r.Next(s.Length + 1);
                    s.Length = cut;
                    s.Append(other.AsSpan(r.Next(other.Length + 1)));
                    break;
                }
                case 6:  // truncate
                    s.Length = r.Next(s.Length + 1);
                    break;
                default:  // repeat (long inputs)
                    if (s.Length < 5000) s.Append(s.ToString(), 0, s.Length);
                    break;
            }
        }
        return s.ToString();
    }
}
