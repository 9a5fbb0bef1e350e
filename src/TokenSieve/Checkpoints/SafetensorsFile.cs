using System.Text.Json;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>A memory-mapped .safetensors file: 8-byte little-endian header length, a UTF-8 JSON
/// header {name: {dtype, shape, data_offsets}}, then the data. Every header entry is checked
/// against the file before any tensor is handed out.</summary>
public sealed unsafe class SafetensorsFile : ITensorSource
{
    /// <summary>Headers larger than this are rejected as corrupt (real ones are well under 1 MiB: a
    /// shard of a 70B model lists a few hundred tensors in about 50 KiB).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>Tensors of more dimensions are refused: the models here use at most 4 (conv kernels),
    /// and the bound keeps a mutated header from describing million-entry shapes.</summary>
    public const int MaxRank = 16;

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    readonly MappedFile? _file;
    readonly byte* _base;
    readonly long _dataStart;
    readonly Dictionary<string, TensorData> _tensors = new(StringComparer.Ordinal);
    bool _disposed;

    public IReadOnlyCollection<string> Names => _tensors.Keys;

    SafetensorsFile(string path)
    {
        Path = path;
        _file = new MappedFile(path, 8, "to hold a safetensors header length");
        _base = _file.Base;
        long length = _file.Length;
        try
        {
            ulong headerLength = *(ulong*)_base;
            if (headerLength > (ulong)MaxHeaderBytes)
                throw new CheckpointException(path, null, $"header length {headerLength} bytes is over the {MaxHeaderBytes}-byte limit; the file is not safetensors or is corrupt");
            if (8 + (long)headerLength > length)
                throw new CheckpointException(path, null, $"header claims {headerLength} bytes but the file has only {length - 8} after the length field (truncated?)");
            _dataStart = 8 + (long)headerLength;
            Metadata = ParseHeader(new ReadOnlySpan<byte>(_base + 8, (int)headerLength), length - _dataStart);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public static SafetensorsFile Open(string path) => new(path);

    Dictionary<string, string> ParseHeader(ReadOnlySpan<byte> header, long dataLength)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        using var doc = JsonInput.Parse(header.ToArray(), (reason, inner) => new CheckpointException(Path, null, "header is " + reason, inner));
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException(Path, null, "header JSON is not an object");
        var ranges = new List<(long Begin, long End, string Name)>();
        bool sawMetadata = false;
        int index = 0;
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            index++;
            string name = JsonInput.TryGetName(entry)
                ?? throw new CheckpointException(Path, null, $"header entry {index}: the tensor name is not valid UTF-8 / Unicode");
            if (name == "__metadata__")
            {
                if (sawMetadata) throw new CheckpointException(Path, null, "header has two __metadata__ entries");
                sawMetadata = true;
                ParseMetadata(entry.Value, metadata);
                continue;
            }
            if (_tensors.ContainsKey(name))
                throw new CheckpointException(Path, name, "the header lists this tensor twice");
            var t = ParseEntry(name, entry.Value, dataLength);
            if (t.end > t.begin) ranges.Add((t.begin, t.end, name));
            _tensors[name] = new TensorData(name, t.dtype, t.shape, (nint)(_base + _dataStart + t.begin), t.end - t.begin, Path, this);
        }
        // Zero-byte tensors (a 0 in the shape) occupy no bytes, so they cannot overlap anything.
        ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i].Begin < ranges[i - 1].End)
                throw new CheckpointException(Path, ranges[i].Name, $"data_offsets [{ranges[i].Begin},{ranges[i].End}) overlap tensor '{ranges[i - 1].Name}' [{ranges[i - 1].Begin},{ranges[i - 1].End})");
        return metadata;
    }

    /// <summary><c>__metadata__</c> is a string → string map in the format; anything else is corrupt.</summary>
    void ParseMetadata(JsonElement e, Dictionary<string, string> metadata)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(Path, null, $"__metadata__ is not an object of strings: {JsonInput.Show(e)}");
        foreach (var m in e.EnumerateObject())
        {
            string key = JsonInput.TryGetName(m) ?? throw new CheckpointException(Path, null, "__metadata__ has a key that is not valid UTF-8 / Unicode");
            if (m.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointException(Path, null, $"__metadata__ '{key}' is not a string: {JsonInput.Show(m.Value)}");
            string value = JsonInput.TryGetString(m.Value) ?? throw new CheckpointException(Path, null, $"__metadata__ '{key}' is not valid UTF-8 / Unicode");
            if (!metadata.TryAdd(key, value)) throw new CheckpointException(Path, null, $"__metadata__ lists '{key}' twice");
        }
    }

    (DType dtype, int[] shape, long begin, long end) ParseEntry(string name, JsonElement e, long dataLength)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new CheckpointException(Path, name, $"header entry is not an object: {JsonInput.Show(e)}");
        var fields = JsonInput.Properties(e, (key, reason) => new CheckpointException(Path, name, key is null ? "header entry: " + reason : $"header entry field '{key}': {reason}"));
        if (!fields.TryGetValue("dtype", out var dt)) throw new CheckpointException(Path, name, "header entry has no dtype");
        if (dt.ValueKind != JsonValueKind.String) throw new CheckpointException(Path, name, $"dtype is not a string: {JsonInput.Show(dt)}");
        string dtypeText = JsonInput.TryGetString(dt) ?? throw new CheckpointException(Path, name, "dtype is not valid UTF-8 / Unicode");
        var dtype = DTypes.FromSafetensors(dtypeText) ?? throw new CheckpointException(Path, name, $"dtype {Shorten(dtypeText)} is not supported (F32, F16, BF16 are)");

        if (!fields.TryGetValue("shape", out var sh)) throw new CheckpointException(Path, name, "header entry has no shape");
        if (sh.ValueKind != JsonValueKind.Array) throw new CheckpointException(Path, name, $"shape is not an array: {JsonInput.Show(sh)}");
        int rank = sh.GetArrayLength();
        if (rank > MaxRank) throw new CheckpointException(Path, name, $"shape has {rank} dimensions, over the limit of {MaxRank}");
        var shape = new int[rank];
        int i = 0;
        long count = 1;
        bool overflow = false;
        foreach (var d in sh.EnumerateArray())
        {
            if (JsonInput.TryGetInteger(d) is not long v || v < 0 || v > int.MaxValue)
                throw new CheckpointException(Path, name, $"shape entry {i} ({JsonInput.Show(d)}) is not an integer in 0..{int.MaxValue}");
            shape[i++] = (int)v;
            // A product past long.MaxValue cannot be the size of anything in the file; remember it and
            // report it after the loop (a later 0 would make the true count 0, which is fine).
            if (overflow) continue;
            if (v != 0 && count > long.MaxValue / v) overflow = true;
            else count *= v;
        }
        if (overflow && !shape.Contains(0))
            throw new CheckpointException(Path, name, $"shape [{string.Join(",", shape)}] has more elements than fit in 64 bits");
        if (shape.Contains(0)) count = 0;

        if (!fields.TryGetValue("data_offsets", out var off)) throw new CheckpointException(Path, name, "header entry has no data_offsets");
        if (off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new CheckpointException(Path, name, $"data_offsets is not a [begin, end] pair: {JsonInput.Show(off)}");
        if (JsonInput.TryGetInteger(off[0]) is not long begin || JsonInput.TryGetInteger(off[1]) is not long end || begin < 0 || end < begin)
            throw new CheckpointException(Path, name, $"data_offsets {JsonInput.Show(off)} are not integers with 0 <= begin <= end");
        if (end > dataLength)
            throw new CheckpointException(Path, name, $"data_offsets [{begin},{end}) run past the end of the data ({dataLength} bytes; file truncated?)");
        int size = DTypes.SizeOf(dtype);
        if (count > long.MaxValue / size)
            throw new CheckpointException(Path, name, $"{DTypes.ToSafetensors(dtype)} x [{string.Join(",", shape)}] needs more bytes than fit in 64 bits");
        long expected = count * size;
        if (end - begin != expected)
            throw new CheckpointException(Path, name, $"holds {end - begin} bytes but {DTypes.ToSafetensors(dtype)} x [{string.Join(",", shape)}] needs {expected}");
        return (dtype, shape, begin, end);
    }

    static string Shorten(string s) => s.Length <= 40 ? $"'{s}'" : $"'{s[..40]}…'";

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorData Get(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _tensors.TryGetValue(name, out var t) ? t : throw new CheckpointException(Path, name, "tensor not found in the file");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _file?.Dispose();
    }
}
