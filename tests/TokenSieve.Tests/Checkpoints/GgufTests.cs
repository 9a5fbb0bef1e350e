using System.Buffers.Binary;
using TokenSieve.Checkpoints;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Checkpoints;

/// <summary>The GGUF writer and reader: typed metadata, tensors of every supported type, GGUF's innermost-first
/// dimension order and alignment, and bad files failing with the file and tensor named.</summary>
public sealed unsafe class GgufTests
{
    static string WriteSample(TempDir dir, string name = "s.gguf")
    {
        var w = new GgufWriter()
            .Add("general.architecture", "test")
            .Add("u", 7u).Add("i", -3).Add("f", 0.5f).Add("b", true)
            .Add("strings", ["a", "ünï"]).Add("floats", [1f, 2.5f]).Add("ints", [4, -5]);
        foreach (var (t, cols) in new[] { (DType.F32, 3), (DType.F16, 5), (DType.BF16, 2), (DType.Q8_0, 64), (DType.Q4_0, 32), (DType.Q4_K, 256), (DType.Q6_K, 256) })
        {
            var values = TestData.Random(2 * cols, cols);
            var bytes = new byte[DTypes.ByteCount(t, values.Length)];
            TensorEncoding.Encode(values, t, bytes);
            w.AddTensor($"t.{DTypes.Name(t)}", t, [2, cols], s => s.Write(bytes));
        }
        string path = dir.File(name);
        w.Write(path);
        return path;
    }

    [Fact]
    public void Round_trip_keeps_metadata_types_shapes_and_bytes()
    {
        using var dir = TestData.TempDir();
        using var f = GgufFile.Open(WriteSample(dir));
        Assert.Equal(3u, f.Version);
        Assert.Equal("test", f.GetString("general.architecture"));
        Assert.Equal(7, f.GetInteger("u"));
        Assert.Equal(-3, f.GetInteger("i"));
        Assert.Equal(0.5, f.GetFloat("f"));
        Assert.True(f.TryGetBool("b"));
        Assert.Equal(["a", "ünï"], f.GetArray<string>("strings"));
        Assert.Equal([1.0, 2.5], f.GetArray<double>("floats"));
        Assert.Equal([4L, -5L], f.GetArray<long>("ints"));
        foreach (var (t, cols) in new[] { (DType.F32, 3), (DType.F16, 5), (DType.BF16, 2), (DType.Q8_0, 64), (DType.Q4_0, 32), (DType.Q4_K, 256), (DType.Q6_K, 256) })
        {
            var tensor = f.Get($"t.{DTypes.Name(t)}");
            Assert.Equal(t, tensor.DType);
            Assert.Equal([2, cols], tensor.Shape);
            Assert.Equal(0, (tensor.Pointer - f.Get("t.f32").Pointer) % GgufFile.DefaultAlignment);
            var values = TestData.Random(2 * cols, cols);
            var bytes = new byte[DTypes.ByteCount(t, values.Length)];
            TensorEncoding.Encode(values, t, bytes);
            Assert.Equal(bytes, new ReadOnlySpan<byte>((void*)tensor.Pointer, (int)tensor.ByteLength).ToArray());
        }
    }

    [Fact]
    public void Dimensions_are_stored_innermost_first()
    {
        using var dir = TestData.TempDir();
        string path = dir.File("d.gguf");
        new GgufWriter().AddTensor("m", DType.F32, [3, 5], s => s.Write(new byte[60])).Write(path);
        var bytes = File.ReadAllBytes(path);
        // magic, version, counts (24 bytes), then the tensor info: name (8 + 1), n_dims, ne[0], ne[1].
        int at = 24 + 8 + 1;
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)));
        Assert.Equal(5ul, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at + 4)));
        Assert.Equal(3ul, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at + 12)));
    }

    /// <summary>Byte offset of a tensor info's type field: after its name, n_dims and ne[].</summary>
    static int TypeFieldOffset(byte[] file, string tensor)
    {
        var name = System.Text.Encoding.UTF8.GetBytes(tensor);
        for (int i = 0; i + 8 + name.Length < file.Length; i++)
            if (BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(i)) == (ulong)name.Length && file.AsSpan(i + 8, name.Length).SequenceEqual(name))
            {
                int dims = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(i + 8 + name.Length));
                return i + 8 + name.Length + 4 + 8 * dims;
            }
        throw new InvalidOperationException("tensor info not found");
    }

    [Fact]
    public void An_unsupported_tensor_type_names_the_tensor_and_the_type()
    {
        using var dir = TestData.TempDir();
        var bytes = File.ReadAllBytes(WriteSample(dir));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(TypeFieldOffset(bytes, "t.q4_0")), 3); // GGML Q4_1
        File.WriteAllBytes(dir.File("bad.gguf"), bytes);
        var e = Assert.Throws<CheckpointException>(() => GgufFile.Open(dir.File("bad.gguf")));
        Assert.Equal("t.q4_0", e.Tensor);
        Assert.Contains("Q4_1", e.Message);
        Assert.Contains("bad.gguf", e.Message);
    }

    [Fact]
    public void A_truncated_file_names_the_tensor_that_runs_past_the_end()
    {
        using var dir = TestData.TempDir();
        var bytes = File.ReadAllBytes(WriteSample(dir));
        File.WriteAllBytes(dir.File("cut.gguf"), bytes.AsSpan(0, bytes.Length - 100).ToArray());
        var e = Assert.Throws<CheckpointException>(() => GgufFile.Open(dir.File("cut.gguf")));
        Assert.Equal("t.q6_k", e.Tensor);
        Assert.Contains("truncated", e.Message);
        // Cut inside the header: a clear error, not an out-of-range read.
        File.WriteAllBytes(dir.File("head.gguf"), bytes.AsSpan(0, 60).ToArray());
        var h = Assert.Throws<CheckpointException>(() => GgufFile.Open(dir.File("head.gguf")));
        Assert.Contains("truncated", h.Message);
    }

    [Theory]
    [InlineData(0, 0x12345678u, "not a GGUF file")]
    [InlineData(4, 1u, "version 1")]
    public void Bad_magic_or_version_is_refused(int offset, uint value, string message)
    {
        using var dir = TestData.TempDir();
        var bytes = File.ReadAllBytes(WriteSample(dir));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), value);
        File.WriteAllBytes(dir.File("bad.gguf"), bytes);
        var e = Assert.Throws<CheckpointException>(() => GgufFile.Open(dir.File("bad.gguf")));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_quantised_row_that_is_not_whole_blocks_is_refused()
    {
        using var dir = TestData.TempDir();
        var bytes = File.ReadAllBytes(WriteSample(dir));
        int type = TypeFieldOffset(bytes, "t.f32");
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(type), GgmlTypes.Q8_0); // 3 columns of Q8_0
        File.WriteAllBytes(dir.File("bad.gguf"), bytes);
        var e = Assert.Throws<CheckpointException>(() => GgufFile.Open(dir.File("bad.gguf")));
        Assert.Equal("t.f32", e.Tensor);
        Assert.Contains("whole 32-value blocks", e.Message);
    }

    [Fact]
    public void A_hostile_string_length_is_refused_without_allocating_it()
    {
        using var dir = TestData.TempDir();
        var bytes = File.ReadAllBytes(WriteSample(dir));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), ulong.MaxValue / 2); // the first key's length
        File.WriteAllBytes(dir.File("bad.gguf"), bytes);
        var e = Assert.Throws<CheckpointException>(() => GgufFile.Open(dir.File("bad.gguf")));
        Assert.Contains("over the limit", e.Message);
    }
}
