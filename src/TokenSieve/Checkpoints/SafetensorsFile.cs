using System.IO.MemoryMappedFiles;
using System.Text.Json;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>A memory-mapped .safetensors file: 8-byte little-endian header length, a UTF-8 JSON
/// header {name: {dtype, shape, data_offsets}}, then the data. Every header entry is checked
/// against the file before any tensor is handed out.</summary>
public sealed unsafe class SafetensorsFile : ITensorSource
{
    /// <summary>Headers larger than this are rejected as corrupt (real ones are well under 1 MiB).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    readonly MemoryMappedFile? _map;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;
    readonly long _dataStart;
    readonly Dictionary<string, TensorData> _tensors = new(StringComparer.Ordinal);
    bool _disposed;

    public IReadOnlyCollection<string> Names => _tensors.Keys;

    SafetensorsFile(string path)
    {
        Path = path;
        if (!File.Exists(path)) throw new CheckpointException(path, null, "file not found");
        long length = new FileInfo(path).Length;
        if (length < 8) throw new CheckpointException(path, null, $"file is {length} bytes, too short to hold a safetensors header length");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
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
        var metadata = new Dictionary<string, string>();
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException e)
        {
            throw new CheckpointException(Path, null, $"header is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException(Path, null, "header JSON is not an object");
            var ranges = new List<(long Begin, long End, string Name)>();
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    if (entry.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in entry.Value.EnumerateObject()) metadata[m.Name] = m.Value.ToString();
                    continue;
                }
                var t = ParseEntry(entry.Name, entry.Value, dataLength);
                ranges.Add((t.begin, t.end, entry.Name));
                _tensors[entry.Name] = new TensorData(entry.Name, t.dtype, t.shape, (nint)(_base + _dataStart + t.begin), t.end - t.begin, Path, this);
            }
            ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
            for (int i = 1; i < ranges.Count; i++)
                if (ranges[i].Begin < ranges[i - 1].End)
                    throw new CheckpointException(Path, ranges[i].Name, $"data_offsets [{ranges[i].Begin},{ranges[i].End}) overlap tensor '{ranges[i - 1].Name}' [{ranges[i - 1].Begin},{ranges[i - 1].End})");
        }
        return metadata;
    }

    (DType dtype, int[] shape, long begin, long end) ParseEntry(string name, JsonElement e, long dataLength)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new CheckpointException(Path, name, "header entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw new CheckpointException(Path, name, "header entry has no dtype");
        var dtype = DTypes.FromSafetensors(dt.GetString()!) ?? throw new CheckpointException(Path, name, $"dtype {dt.GetString()} is not supported (F32, F16, BF16 are)");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw new CheckpointException(Path, name, "header entry has no shape");
        var shape = new int[sh.GetArrayLength()];
        int i = 0;
        long count = 1;
        foreach (var d in sh.EnumerateArray())
        {
            if (!d.TryGetInt64(out long v) || v < 0 || v > int.MaxValue) throw new CheckpointException(Path, name, $"shape entry {d} is not a valid dimension");
            shape[i++] = (int)v;
            count = checked(count * v);
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new CheckpointException(Path, name, "header entry has no [begin, end] data_offsets");
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new CheckpointException(Path, name, $"data_offsets {off} are invalid");
        if (end > dataLength)
            throw new CheckpointException(Path, name, $"data_offsets [{begin},{end}) run past the end of the data ({dataLength} bytes; file truncated?)");
        long expected = count * DTypes.SizeOf(dtype);
        if (end - begin != expected)
            throw new CheckpointException(Path, name, $"holds {end - begin} bytes but {DTypes.ToSafetensors(dtype)} x [{string.Join(",", shape)}] needs {expected}");
        return (dtype, shape, begin, end);
    }

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
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}
