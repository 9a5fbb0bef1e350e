using System.Runtime.InteropServices;
using System.Text;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>Writes a GGUF version 3 file: typed metadata in insertion order, tensor infos, then each tensor's
/// bytes at an offset aligned to 32. Tensors are given with the shape outermost first ([rows, cols]) and written
/// with GGUF's innermost-first dimension order. A tensor's bytes come from a callback, so multi-GB files stream.</summary>
public sealed class GgufWriter
{
    readonly List<(string Key, uint Type, Action<BinaryWriter> Write)> _kv = new();
    readonly List<(string Name, DType DType, int[] Shape, long Bytes, Action<Stream> Write)> _tensors = new();

    public GgufWriter Add(string key, string value) => AddKv(key, 8, w => WriteString(w, value));
    public GgufWriter Add(string key, uint value) => AddKv(key, 4, w => w.Write(value));
    public GgufWriter Add(string key, int value) => AddKv(key, 5, w => w.Write(value));
    public GgufWriter Add(string key, float value) => AddKv(key, 6, w => w.Write(value));
    public GgufWriter Add(string key, bool value) => AddKv(key, 7, w => w.Write((byte)(value ? 1 : 0)));

    public GgufWriter Add(string key, IReadOnlyList<string> values) => AddKv(key, 9, w =>
    {
        w.Write(8u);
        w.Write((ulong)values.Count);
        foreach (var v in values) WriteString(w, v);
    });

    public GgufWriter Add(string key, IReadOnlyList<float> values) => AddKv(key, 9, w =>
    {
        w.Write(6u);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    public GgufWriter Add(string key, IReadOnlyList<int> values) => AddKv(key, 9, w =>
    {
        w.Write(5u);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    GgufWriter AddKv(string key, uint type, Action<BinaryWriter> write)
    {
        if (_kv.Any(e => e.Key == key)) throw new ArgumentException($"metadata key '{key}' added twice");
        _kv.Add((key, type, write));
        return this;
    }

    /// <summary>Adds a tensor whose <paramref name="write"/> produces exactly its bytes in <paramref name="dtype"/>.</summary>
    public GgufWriter AddTensor(string name, DType dtype, int[] shape, Action<Stream> write)
    {
        if (shape.Length is 0 or > 4) throw new ArgumentException($"tensor '{name}': GGUF tensors have 1 to 4 dimensions");
        long count = 1;
        foreach (int d in shape) count = checked(count * d);
        _tensors.Add((name, dtype, shape, DTypes.ByteCount(dtype, count), write));
        return this;
    }

    /// <summary>Adds <paramref name="source"/> converted to <paramref name="dtype"/> (rows of the last dimension are
    /// quantised or narrowed one at a time; the source is never copied whole).</summary>
    public GgufWriter AddTensor(string name, TensorData source, DType dtype) =>
        AddTensor(name, dtype, source.Shape, s => TensorEncoding.Write(source, dtype, s));

    public long TensorBytes => _tensors.Sum(t => t.Bytes);

    public void Write(string path)
    {
        const int alignment = GgufFile.DefaultAlignment;
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(GgufFile.Magic);
            w.Write(3u);
            w.Write((ulong)_tensors.Count);
            w.Write((ulong)_kv.Count);
            foreach (var (key, type, write) in _kv)
            {
                WriteString(w, key);
                w.Write(type);
                write(w);
            }
            long offset = 0;
            var offsets = new long[_tensors.Count];
            for (int i = 0; i < _tensors.Count; i++)
            {
                var t = _tensors[i];
                WriteString(w, t.Name);
                w.Write((uint)t.Shape.Length);
                for (int d = t.Shape.Length - 1; d >= 0; d--) w.Write((ulong)t.Shape[d]);
                w.Write(GgmlTypes.FromDType(t.DType));
                offsets[i] = offset;
                w.Write((ulong)offset);
                offset += (t.Bytes + alignment - 1) / alignment * alignment;
            }
            w.Flush();
            Pad(fs, alignment);
            long dataStart = fs.Position;
            for (int i = 0; i < _tensors.Count; i++)
            {
                var t = _tensors[i];
                long before = fs.Position;
                if (before - dataStart != offsets[i]) throw new InvalidOperationException($"tensor '{t.Name}' would start at {before - dataStart}, not {offsets[i]}");
                t.Write(fs);
                if (fs.Position - before != t.Bytes)
                    throw new InvalidOperationException($"tensor '{t.Name}': wrote {fs.Position - before} bytes, its type and shape need {t.Bytes}");
                Pad(fs, alignment);
            }
        }
        File.Move(tmp, path, overwrite: true);
    }

    static void Pad(Stream s, int alignment)
    {
        long pad = (alignment - s.Position % alignment) % alignment;
        for (long i = 0; i < pad; i++) s.WriteByte(0);
    }

    static void WriteString(BinaryWriter w, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }
}

/// <summary>Re-encodes a stored tensor row by row into another dtype (narrowing or GGML quantisation), for writers.</summary>
internal static unsafe class TensorEncoding
{
    /// <summary>Writes <paramref name="source"/> in <paramref name="dtype"/> to <paramref name="stream"/>, output row r
    /// taken from source row <paramref name="rowOrder"/>[r] when given (rows = the last dimension). Rows are converted
    /// in parallel batches; rows already in the target type are copied as they are.</summary>
    public static void Write(TensorData source, DType dtype, Stream stream, int[]? rowOrder = null)
    {
        int cols = source.Shape.Length == 0 ? 1 : source.Shape[^1];
        long rows = cols == 0 ? 0 : source.ElementCount / cols;
        if (rowOrder is not null && rowOrder.Length != rows) throw new ArgumentException($"tensor '{source.Name}': row order for {rowOrder.Length} rows, the tensor has {rows}");
        if (source.DType == dtype && rowOrder is null)
        {
            for (long done = 0; done < source.ByteLength; done += int.MaxValue)
                stream.Write(new ReadOnlySpan<byte>((byte*)source.Pointer + done, (int)Math.Min(int.MaxValue, source.ByteLength - done)));
            return;
        }
        if (cols % DTypes.BlockElements(dtype) != 0)
            throw new CheckpointException(source.File, source.Name, $"rows of {cols} values cannot be stored as {dtype} (whole blocks of {DTypes.BlockElements(dtype)})");
        long srcRowBytes = DTypes.ByteCount(source.DType, cols), dstRowBytes = DTypes.ByteCount(dtype, cols);
        int batch = (int)Math.Max(1, Math.Min(rows, (8L << 20) / Math.Max(1, dstRowBytes)));
        var output = new byte[batch * dstRowBytes];
        for (long r0 = 0; r0 < rows; r0 += batch)
        {
            int n = (int)Math.Min(batch, rows - r0);
            Parallel.For(0, n, () => new float[cols], (i, _, row) =>
            {
                long r = rowOrder is null ? r0 + i : rowOrder[r0 + i];
                byte* src = (byte*)source.Pointer + r * srcRowBytes;
                var dst = output.AsSpan((int)(i * dstRowBytes), (int)dstRowBytes);
                if (source.DType == dtype)
                {
                    new ReadOnlySpan<byte>(src, (int)srcRowBytes).CopyTo(dst);
                    return row;
                }
                fixed (float* f = row)
                {
                    if (DTypes.IsQuantized(source.DType)) QuantFormats.DequantizeRow(src, source.DType, 0, cols, f);
                    else WeightConversion.ToSingle(src, source.DType, f, cols);
                }
                Encode(row, dtype, dst);
                return row;
            }, _ => { });
            stream.Write(output, 0, (int)(n * dstRowBytes));
        }
    }

    /// <summary>float32 values → bytes of <paramref name="dtype"/>.</summary>
    public static void Encode(ReadOnlySpan<float> values, DType dtype, Span<byte> dst)
    {
        switch (dtype)
        {
            case DType.F32: MemoryMarshal.AsBytes(values).CopyTo(dst); break;
            case DType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<byte, Half>(dst)); break;
            case DType.BF16:
                var b = MemoryMarshal.Cast<byte, ushort>(dst);
                for (int i = 0; i < values.Length; i++) b[i] = BFloat16.FromSingle(values[i]);
                break;
            default: QuantFormats.QuantizeReference(values, dtype, dst); break;
        }
    }
}
