using System.Runtime.InteropServices;

namespace TokenSieve.Numerics;

/// <summary>A 2-D weight in its stored dtype, row-major [Rows, Cols]. For a PyTorch Linear this is
/// [out_features, in_features] and y = x·Wᵀ. The bytes live either in a memory-mapped checkpoint
/// (owned by the reader) or in a pinned managed array; they are never widened to float32 as a
/// whole — kernels convert tiles on the fly.</summary>
internal sealed unsafe class WeightMatrix
{
    public int Rows { get; }
    public int Cols { get; }
    public DType DType { get; }
    public string Name { get; }

    /// <summary>Address of element [0,0]. Valid while <see cref="Owner"/> is alive.</summary>
    public nint Pointer { get; }

    /// <summary>Keeps the memory behind <see cref="Pointer"/> alive (a mapped file or a pinned array).</summary>
    public object? Owner { get; }

    public long ByteLength => Rows * RowBytes;

    /// <summary>Bytes of one row (for a block type, whole blocks).</summary>
    public long RowBytes => DTypes.ByteCount(DType, Cols);

    public WeightMatrix(string name, DType dtype, int rows, int cols, nint pointer, object? owner)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), $"weight '{name}' has shape [{rows},{cols}]");
        if (cols % DTypes.BlockElements(dtype) != 0)
            throw new ArgumentException($"weight '{name}': {dtype} rows are whole blocks of {DTypes.BlockElements(dtype)} values; {cols} columns are not", nameof(cols));
        Name = name;
        DType = dtype;
        Rows = rows;
        Cols = cols;
        Pointer = pointer;
        Owner = owner;
    }

    /// <summary>Copies <paramref name="data"/> ([rows, cols] float32) into pinned memory and stores it as <paramref name="dtype"/>.</summary>
    public static WeightMatrix FromFloats(string name, ReadOnlySpan<float> data, int rows, int cols, DType dtype = DType.F32)
    {
        if (data.Length != (long)rows * cols)
            throw new ArgumentException($"weight '{name}': {data.Length} values for shape [{rows},{cols}]", nameof(data));
        if (cols % DTypes.BlockElements(dtype) != 0)
            throw new ArgumentException($"weight '{name}': {dtype} rows are whole blocks of {DTypes.BlockElements(dtype)} values; {cols} columns are not", nameof(cols));
        byte[] buffer = GC.AllocateUninitializedArray<byte>(checked((int)DTypes.ByteCount(dtype, data.Length)), pinned: true);
        switch (dtype)
        {
            case DType.Q8_0 or DType.Q4_0 or DType.Q4_K or DType.Q6_K:
                QuantFormats.QuantizeReference(data, dtype, buffer);
                break;
            case DType.F32:
                data.CopyTo(MemoryMarshal.Cast<byte, float>(buffer.AsSpan()));
                break;
            case DType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(data, MemoryMarshal.Cast<byte, Half>(buffer.AsSpan()));
                break;
            case DType.BF16:
                var dst = MemoryMarshal.Cast<byte, ushort>(buffer.AsSpan());
                for (int i = 0; i < data.Length; i++) dst[i] = BFloat16.FromSingle(data[i]);
                break;
        }
        fixed (byte* p = buffer)
            return new WeightMatrix(name, dtype, rows, cols, (nint)p, buffer);
    }

    /// <summary>Row r converted to float32.</summary>
    public void ReadRow(int r, Span<float> destination)
    {
        if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(r), $"row {r} of weight '{Name}' with {Rows} rows");
        if (destination.Length < Cols) throw new ArgumentException("destination too short", nameof(destination));
        byte* row = (byte*)Pointer + r * RowBytes;
        switch (DType)
        {
            case DType.Q8_0 or DType.Q4_0 or DType.Q4_K or DType.Q6_K:
                fixed (float* d = destination) QuantFormats.DequantizeRow(row, DType, 0, Cols, d);
                break;
            case DType.F32:
                new ReadOnlySpan<float>(row, Cols).CopyTo(destination);
                break;
            case DType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(row, Cols), destination);
                break;
            case DType.BF16:
                BFloat16.ToSingle(new ReadOnlySpan<ushort>(row, Cols), destination);
                break;
        }
    }

    /// <summary>The whole matrix as a new float32 array. For small weights and tests only.</summary>
    public float[] ToFloats()
    {
        var result = new float[(long)Rows * Cols];
        for (int r = 0; r < Rows; r++) ReadRow(r, result.AsSpan(r * Cols, Cols));
        return result;
    }
}
