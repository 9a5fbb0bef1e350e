using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>Writes a .safetensors file. Tensors are added as float32 values and stored in the dtype
/// asked for (F32, F16, or BF16 rounded to nearest even), or added as raw bytes already in
/// their dtype. Data is streamed to disk in insertion order; the header is sorted by name, as
/// the Python writer does.</summary>
public sealed class SafetensorsWriter
{
    readonly List<(string Name, DType DType, int[] Shape, Func<Stream, long> WriteData, long Bytes)> _entries = new();
    readonly Dictionary<string, string> _metadata = new();

    public SafetensorsWriter AddMetadata(string key, string value)
    {
        _metadata[key] = value;
        return this;
    }

    public SafetensorsWriter Add(string name, float[] values, int[] shape, DType dtype = DType.F32)
    {
        long count = 1;
        foreach (int d in shape) count *= d;
        if (count != values.Length) throw new ArgumentException($"tensor '{name}': {values.Length} values for shape [{string.Join(",", shape)}]");
        long bytes = count * DTypes.SizeOf(dtype);
        _entries.Add((name, dtype, shape, s => WriteConverted(s, values, dtype), bytes));
        return this;
    }

    /// <summary>Adds bytes already encoded in <paramref name="dtype"/> (little-endian).</summary>
    public SafetensorsWriter AddRaw(string name, DType dtype, int[] shape, byte[] data)
    {
        _entries.Add((name, dtype, shape, s => { s.Write(data); return data.Length; }, data.Length));
        return this;
    }

    /// <summary>Adds a tensor whose bytes are produced on demand, chunk by chunk (for multi-GB synthetic checkpoints).</summary>
    public SafetensorsWriter AddStreamed(string name, DType dtype, int[] shape, Action<Stream> write)
    {
        long count = 1;
        foreach (int d in shape) count *= d;
        long bytes = count * DTypes.SizeOf(dtype);
        _entries.Add((name, dtype, shape, s => { write(s); return bytes; }, bytes));
        return this;
    }

    public void Write(string path)
    {
        var ordered = _entries.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>();
        if (_metadata.Count > 0) header["__metadata__"] = _metadata;
        long offset = 0;
        foreach (var e in ordered)
        {
            header[e.Name] = new Dictionary<string, object>
            {
                ["dtype"] = DTypes.ToSafetensors(e.DType),
                ["shape"] = e.Shape,
                ["data_offsets"] = new[] { offset, offset + e.Bytes },
            };
            offset += e.Bytes;
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> len = stackalloc byte[8];
            BitConverter.TryWriteBytes(len, (ulong)padded);
            fs.Write(len);
            fs.Write(json);
            for (int i = json.Length; i < padded; i++) fs.WriteByte((byte)' ');
            foreach (var e in ordered)
            {
                long before = fs.Position;
                e.WriteData(fs);
                if (fs.Position - before != e.Bytes)
                    throw new InvalidOperationException($"tensor '{e.Name}': wrote {fs.Position - before} bytes, header says {e.Bytes}");
            }
        }
        File.Move(tmp, path, overwrite: true);
    }

    static long WriteConverted(Stream s, float[] values, DType dtype)
    {
        switch (dtype)
        {
            case DType.F32:
                s.Write(MemoryMarshal.AsBytes(values.AsSpan()));
                break;
            case DType.F16:
                var h = new Half[values.Length];
                System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values, h);
                s.Write(MemoryMarshal.AsBytes(h.AsSpan()));
                break;
            case DType.BF16:
                var b = new ushort[values.Length];
                for (int i = 0; i < values.Length; i++) b[i] = BFloat16.FromSingle(values[i]);
                s.Write(MemoryMarshal.AsBytes(b.AsSpan()));
                break;
        }
        return (long)values.Length * DTypes.SizeOf(dtype);
    }
}
