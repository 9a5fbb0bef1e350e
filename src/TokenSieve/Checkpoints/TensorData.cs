using System.Runtime.InteropServices;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>One stored tensor: its bytes in the stored dtype, row-major little-endian, kept alive by
/// <see cref="Owner"/> (a memory-mapped file or a pinned array).</summary>
public sealed unsafe class TensorData
{
    public string Name { get; }
    public DType DType { get; }
    public int[] Shape { get; }
    public nint Pointer { get; }
    public long ByteLength { get; }
    /// <summary>The file it came from, for error messages; null for in-memory tensors.</summary>
    public string? File { get; }
    public object? Owner { get; }

    public TensorData(string name, DType dtype, int[] shape, nint pointer, long byteLength, string? file, object? owner)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        Pointer = pointer;
        ByteLength = byteLength;
        File = file;
        Owner = owner;
    }

    /// <summary>The product of <see cref="Shape"/> (0 when a dimension is 0). Shapes from a file are
    /// checked when the header is read, so the checked product cannot overflow for them.</summary>
    public long ElementCount
    {
        get
        {
            if (Shape.Contains(0)) return 0;
            long n = 1;
            foreach (int d in Shape) n = checked(n * d);
            return n;
        }
    }

    public string ShapeText => "[" + string.Join(",", Shape) + "]";

    /// <summary>A float32 tensor held in a pinned managed array (tests, writers, small derived tensors).</summary>
    public static TensorData FromFloats(string name, float[] values, params int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}': negative dimension in [{string.Join(",", shape)}]");
            n = checked(n * d);
        }
        if (n != values.Length) throw new ArgumentException($"tensor '{name}': {values.Length} values for shape [{string.Join(",", shape)}]");
        byte[] bytes = GC.AllocateUninitializedArray<byte>(values.Length * 4, pinned: true);
        MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(bytes);
        fixed (byte* p = bytes) return new TensorData(name, DType.F32, shape, (nint)p, bytes.Length, null, bytes);
    }

    /// <summary>Throws a <see cref="CheckpointException"/> unless the shape equals <paramref name="expected"/>.</summary>
    public TensorData ExpectShape(params int[] expected)
    {
        if (!Shape.AsSpan().SequenceEqual(expected))
            throw new CheckpointException(File, Name, $"shape {ShapeText} does not match the config, expected [{string.Join(",", expected)}]");
        return this;
    }

    /// <summary>All values as float32 (small tensors: norms, biases, embeddings of tiny models).</summary>
    public float[] ToFloats()
    {
        long n = ElementCount;
        if (n > Array.MaxLength)
            throw new CheckpointException(File, Name, $"{ShapeText} has {n} elements, too many to copy into one float32 array");
        var result = new float[n];
        switch (DType)
        {
            case DType.F32:
                new ReadOnlySpan<float>((void*)Pointer, (int)n).CopyTo(result);
                break;
            case DType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((void*)Pointer, (int)n), result);
                break;
            case DType.BF16:
                BFloat16.ToSingle(new ReadOnlySpan<ushort>((void*)Pointer, (int)n), result);
                break;
            default:
                // A block type: rows of the last dimension are whole blocks, so the flat sequence is whole blocks too.
                fixed (float* dst = result)
                    for (long i = 0; i < n; i++) dst[i] = QuantFormats.DequantizeElementReference((void*)Pointer, DType, i);
                break;
        }
        return result;
    }

    /// <summary>A 2-D view [Shape[0], product of the rest] without copying (conv kernels flatten to
    /// [out, in·kh·kw]). A tensor with a zero dimension has no rows or columns to multiply by and is
    /// refused here (instead of dividing by a zero leading dimension).</summary>
    internal WeightMatrix AsMatrix()
    {
        if (Shape.Length < 2) throw new CheckpointException(File, Name, $"expected a matrix, got shape {ShapeText}");
        if (Shape.Contains(0)) throw new CheckpointException(File, Name, $"shape {ShapeText} has a zero dimension; a weight matrix needs at least one row and one column");
        long cols = ElementCount / Shape[0];
        if (cols > int.MaxValue)
            throw new CheckpointException(File, Name, $"shape {ShapeText} flattens to {cols} columns, more than a weight matrix row can hold ({int.MaxValue})");
        return new WeightMatrix(Name, DType, Shape[0], (int)cols, Pointer, Owner ?? this);
    }
}

/// <summary>Where named tensors come from: one safetensors file, a sharded checkpoint, or memory.</summary>
internal interface ITensorSource : IDisposable
{
    IReadOnlyCollection<string> Names { get; }
    bool Contains(string name);
    /// <summary>The tensor, or a <see cref="CheckpointException"/> naming the file and the missing tensor.</summary>
    TensorData Get(string name);
}
