using System.Text;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>The GGML tensor type ids GGUF stores, for the types TokenSieve runs.</summary>
public static class GgmlTypes
{
    public const uint F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, Q4_K = 12, Q6_K = 14, BF16 = 30;

    public static DType? ToDType(uint ggmlType) => ggmlType switch
    {
        F32 => DType.F32,
        F16 => DType.F16,
        BF16 => DType.BF16,
        Q8_0 => DType.Q8_0,
        Q4_0 => DType.Q4_0,
        Q4_K => DType.Q4_K,
        Q6_K => DType.Q6_K,
        _ => null,
    };

    public static uint FromDType(DType t) => t switch
    {
        DType.F32 => F32,
        DType.F16 => F16,
        DType.BF16 => BF16,
        DType.Q8_0 => Q8_0,
        DType.Q4_0 => Q4_0,
        DType.Q4_K => Q4_K,
        DType.Q6_K => Q6_K,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>GGML's names of the types it has that we do not run, for error messages.</summary>
    public static string Name(uint ggmlType) => ggmlType switch
    {
        F32 => "F32", F16 => "F16", Q4_0 => "Q4_0", 3 => "Q4_1", 6 => "Q5_0", 7 => "Q5_1", Q8_0 => "Q8_0", 9 => "Q8_1",
        10 => "Q2_K", 11 => "Q3_K", Q4_K => "Q4_K", 13 => "Q5_K", Q6_K => "Q6_K", 15 => "Q8_K", 16 => "IQ2_XXS", 17 => "IQ2_XS",
        18 => "IQ3_XXS", 19 => "IQ1_S", 20 => "IQ4_NL", 21 => "IQ3_S", 22 => "IQ2_S", 23 => "IQ4_XS", 24 => "I8", 25 => "I16",
        26 => "I32", 27 => "I64", 28 => "F64", 29 => "IQ1_M", BF16 => "BF16", 34 => "TQ1_0", 35 => "TQ2_0",
        _ => $"type {ggmlType}",
    };
}

/// <summary>A memory-mapped GGUF file (version 2 or 3): header, typed metadata, tensor infos, aligned data. Every
/// field is checked against the file before anything is handed out: counts and string lengths are bounded, tensor
/// ranges lie inside the data and do not overlap, each tensor's byte size follows from its type and shape.
/// Tensors are served as <see cref="TensorData"/> with the shape outermost first (GGUF lists ne[0], the
/// innermost dimension, first), so a [rows, cols] matrix reads as it does from safetensors.</summary>
public sealed unsafe class GgufFile : ITensorSource
{
    public const uint Magic = 0x46554747; // "GGUF" little-endian
    public const int DefaultAlignment = 32;
    /// <summary>Limits that only a corrupt or hostile header exceeds.</summary>
    const long MaxStringBytes = 1 << 24, MaxArrayLength = 1 << 26, MaxEntries = 1 << 20;
    const int MaxDims = 4;

    public string Path { get; }
    public uint Version { get; }
    public IReadOnlyDictionary<string, object> Metadata => _metadata;
    public IReadOnlyCollection<string> Names => _tensors.Keys;
    /// <summary>Tensor names in file order.</summary>
    public IReadOnlyList<string> TensorOrder => _order;
    public int Alignment { get; }

    readonly MappedFile? _file;
    readonly byte* _base;
    readonly long _length;
    readonly Dictionary<string, object> _metadata = new(StringComparer.Ordinal);
    readonly Dictionary<string, TensorData> _tensors = new(StringComparer.Ordinal);
    readonly List<string> _order = new();
    long _pos;
    bool _disposed;

    GgufFile(string path)
    {
        Path = path;
        _file = new MappedFile(path, 24, "for a GGUF header");
        _base = _file.Base;
        _length = _file.Length;
        try
        {
            if (ReadU32() != Magic) throw Bad("not a GGUF file (magic is not 'GGUF')");
            Version = ReadU32();
            if (Version is not (2 or 3)) throw Bad($"GGUF version {Version} is not supported (2 and 3 are)");
            long tensorCount = ReadCount("tensor count");
            long kvCount = ReadCount("metadata count");
            for (long i = 0; i < kvCount; i++)
            {
                string key = ReadString("metadata key");
                uint type = ReadU32();
                object value = ReadValue(type, key, allowArray: true);
                if (!_metadata.TryAdd(key, value)) throw Bad($"metadata key '{TokenSieveException.Printable(key)}' appears twice");
            }
            Alignment = DefaultAlignment;
            if (_metadata.TryGetValue("general.alignment", out var a))
            {
                if (a is not long al || al <= 0 || al > 1 << 20 || (al & (al - 1)) != 0)
                    throw Bad($"general.alignment {a} is not a power of two up to 1 MiB");
                Alignment = (int)al;
            }
            var infos = new List<(string Name, int[] Shape, uint Type, long Offset)>();
            for (long i = 0; i < tensorCount; i++)
            {
                string name = ReadString("tensor name");
                uint dims = ReadU32();
                if (dims is 0 or > MaxDims) throw new CheckpointException(path, name, $"has {dims} dimensions (1..{MaxDims} are supported)");
                var ne = new long[dims];
                for (int d = 0; d < dims; d++)
                {
                    ne[d] = (long)ReadU64();
                    if (ne[d] <= 0 || ne[d] > int.MaxValue) throw new CheckpointException(path, name, $"dimension {d} is {ne[d]}, outside 1..{int.MaxValue}");
                }
                uint type = ReadU32();
                ulong offset = ReadU64();
                if (offset > (ulong)_length) throw new CheckpointException(path, name, $"data offset {offset} is past the end of the file");
                var shape = new int[dims];
                for (int d = 0; d < dims; d++) shape[d] = (int)ne[dims - 1 - d];
                infos.Add((name, shape, type, (long)offset));
            }
            long dataStart = (_pos + Alignment - 1) / Alignment * Alignment;
            var ranges = new List<(long Begin, long End, string Name)>();
            foreach (var (name, shape, type, offset) in infos)
            {
                var dtype = GgmlTypes.ToDType(type)
                    ?? throw new CheckpointException(path, name, $"tensor type {GgmlTypes.Name(type)} is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K are)");
                if (offset % Alignment != 0) throw new CheckpointException(path, name, $"data offset {offset} is not a multiple of the alignment {Alignment}");
                int be = DTypes.BlockElements(dtype);
                if (shape[^1] % be != 0)
                    throw new CheckpointException(path, name, $"{dtype} stores rows of whole {be}-value blocks, but the innermost dimension is {shape[^1]}");
                long count = 1;
                foreach (int d in shape)
                {
                    if (count > long.MaxValue / d) throw new CheckpointException(path, name, $"shape [{string.Join(",", shape)}] has more elements than fit in 64 bits");
                    count *= d;
                }
                if (count / be > long.MaxValue / DTypes.BlockBytes(dtype)) throw new CheckpointException(path, name, "byte size overflows 64 bits");
                long bytes = DTypes.ByteCount(dtype, count);
                long begin = dataStart + offset;
                if (begin > _length || bytes > _length - begin)
                    throw new CheckpointException(path, name, $"{dtype} x [{string.Join(",", shape)}] needs {bytes} bytes at offset {offset}, past the end of the file ({_length - Math.Min(begin, _length)} left; truncated?)");
                if (!_tensors.TryAdd(name, new TensorData(name, dtype, shape, (nint)(_base + begin), bytes, path, this)))
                    throw new CheckpointException(path, name, "the file lists this tensor twice");
                _order.Add(name);
                ranges.Add((begin, begin + bytes, name));
            }
            ranges.Sort((x, y) => x.Begin.CompareTo(y.Begin));
            for (int i = 1; i < ranges.Count; i++)
                if (ranges[i].Begin < ranges[i - 1].End)
                    throw new CheckpointException(path, ranges[i].Name, $"data overlaps tensor '{TokenSieveException.Printable(ranges[i - 1].Name)}'");
        }
        catch (Exception e) when (e is not CheckpointException)
        {
            Dispose();
            throw new CheckpointException(path, null, $"malformed GGUF header: {e.Message}", e);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public static GgufFile Open(string path) => new(path);

    CheckpointException Bad(string reason) => new(Path, null, reason);

    void Need(long bytes, string what)
    {
        if (bytes < 0 || _pos > _length - bytes) throw Bad($"header truncated while reading {what} at byte {_pos}");
    }

    uint ReadU32() { Need(4, "a 32-bit field"); uint v = *(uint*)(_base + _pos); _pos += 4; return v; }
    ulong ReadU64() { Need(8, "a 64-bit field"); ulong v = *(ulong*)(_base + _pos); _pos += 8; return v; }

    long ReadCount(string what)
    {
        ulong v = ReadU64(); // 64-bit since version 2
        if (v > MaxEntries) throw Bad($"{what} {v} is over the limit of {MaxEntries}");
        return (long)v;
    }

    string ReadString(string what)
    {
        ulong len = ReadU64();
        if (len > MaxStringBytes) throw Bad($"{what} length {len} is over the limit of {MaxStringBytes} bytes");
        Need((long)len, what);
        string s;
        try
        {
            s = new UTF8Encoding(false, true).GetString(_base + _pos, (int)len);
        }
        catch (DecoderFallbackException)
        {
            throw Bad($"{what} at byte {_pos} is not valid UTF-8");
        }
        _pos += (long)len;
        return s;
    }

    object ReadValue(uint type, string key, bool allowArray)
    {
        switch (type)
        {
            case 0: Need(1, key); return (long)_base[_pos++];
            case 1: Need(1, key); return (long)(sbyte)_base[_pos++];
            case 2: Need(2, key); { long v = *(ushort*)(_base + _pos); _pos += 2; return v; }
            case 3: Need(2, key); { long v = *(short*)(_base + _pos); _pos += 2; return v; }
            case 4: return (long)ReadU32();
            case 5: return (long)(int)ReadU32();
            case 6: Need(4, key); { double v = *(float*)(_base + _pos); _pos += 4; return v; }
            case 7:
                Need(1, key);
                byte b = _base[_pos++];
                if (b > 1) throw Bad($"metadata '{TokenSieveException.Printable(key)}': boolean byte {b}");
                return b == 1;
            case 8: return ReadString($"metadata '{TokenSieveException.Printable(key)}'");
            case 9:
                if (!allowArray) throw Bad($"metadata '{TokenSieveException.Printable(key)}': arrays of arrays are not supported");
                uint elem = ReadU32();
                ulong n = ReadU64();
                if (n > MaxArrayLength) throw Bad($"metadata '{TokenSieveException.Printable(key)}': array of {n} elements is over the limit of {MaxArrayLength}");
                return elem switch
                {
                    8 => ReadArray<string>((int)n, () => (string)ReadValue(8, key, false)),
                    6 or 12 => ReadArray<double>((int)n, () => (double)ReadValue(elem, key, false)),
                    7 => ReadArray<bool>((int)n, () => (bool)ReadValue(7, key, false)),
                    _ => ReadArray<long>((int)n, () => Convert.ToInt64(ReadValue(elem, key, false))),
                };
            case 10: { ulong v = ReadU64(); if (v > long.MaxValue) throw Bad($"metadata '{TokenSieveException.Printable(key)}': {v} is over 2^63"); return (long)v; }
            case 11: return (long)ReadU64();
            case 12: Need(8, key); { double v = *(double*)(_base + _pos); _pos += 8; return v; }
            default: throw Bad($"metadata '{TokenSieveException.Printable(key)}' has unknown value type {type}");
        }
    }

    static T[] ReadArray<T>(int n, Func<T> read)
    {
        var a = new T[n];
        for (int i = 0; i < n; i++) a[i] = read();
        return a;
    }

    // ------------------------------------------------------------------ typed metadata access

    public bool Has(string key) => _metadata.ContainsKey(key);

    public string GetString(string key) => Get<string>(key, "a string");
    public string? TryGetString(string key) => _metadata.TryGetValue(key, out var v) ? v as string ?? throw Mismatch(key, "a string") : null;

    public long GetInteger(string key) => Get<long>(key, "an integer");
    public long? TryGetInteger(string key) => _metadata.TryGetValue(key, out var v) ? v is long l ? l : throw Mismatch(key, "an integer") : null;

    public double GetFloat(string key) => _metadata.TryGetValue(key, out var v)
        ? v switch { double d => d, long l => l, _ => throw Mismatch(key, "a number") }
        : throw new CheckpointException(Path, null, $"metadata '{key}' is missing");

    public double? TryGetFloat(string key) => _metadata.ContainsKey(key) ? GetFloat(key) : null;
    public bool? TryGetBool(string key) => _metadata.TryGetValue(key, out var v) ? v is bool b ? b : throw Mismatch(key, "a boolean") : null;

    public T[] GetArray<T>(string key) => Get<T[]>(key, $"an array of {typeof(T).Name}");
    public T[]? TryGetArray<T>(string key) => _metadata.TryGetValue(key, out var v) ? v as T[] ?? throw Mismatch(key, $"an array of {typeof(T).Name}") : null;

    T Get<T>(string key, string what) => _metadata.TryGetValue(key, out var v)
        ? v is T t ? t : throw Mismatch(key, what)
        : throw new CheckpointException(Path, null, $"metadata '{key}' is missing");

    CheckpointException Mismatch(string key, string what) => new(Path, null, $"metadata '{key}' is not {what}");

    // ------------------------------------------------------------------ ITensorSource

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
