using System.Text;
using TokenSieve.Checkpoints;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Checkpoints;

public sealed class SafetensorsTests
{
    static void WriteRaw(string path, string headerJson, int dataBytes, long? claimedHeaderLength = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes((ulong)(claimedHeaderLength ?? header.Length)));
        fs.Write(header);
        fs.Write(new byte[dataBytes]);
    }

    static CheckpointException OpenFails(string path) => Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());

    [Fact]
    public void Round_trip_in_all_dtypes()
    {
        using var dir = TestData.TempDir();
        var values = Enumerable.Range(0, 12).Select(i => i * 0.37f - 2f).ToArray();
        new SafetensorsWriter()
            .Add("a.f32", values, [3, 4])
            .Add("b.f16", values, [4, 3], DType.F16)
            .Add("c.bf16", values, [12], DType.BF16)
            .AddMetadata("format", "pt")
            .Write(dir.File("x.safetensors"));
        using var f = SafetensorsFile.Open(dir.File("x.safetensors"));
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(values, f.Get("a.f32").ToFloats());
        Assert.Equal([4, 3], f.Get("b.f16").Shape);
        // F16 keeps 11 significant bits, BF16 8: compare at the rounding error of each format.
        var h = f.Get("b.f16").ToFloats();
        var b = f.Get("c.bf16").ToFloats();
        for (int i = 0; i < values.Length; i++)
        {
            Assert.True(Math.Abs(h[i] - values[i]) <= Math.Abs(values[i]) * 1e-3 + 1e-7, $"f16 {i}");
            Assert.True(Math.Abs(b[i] - values[i]) <= Math.Abs(values[i]) * 4e-3 + 1e-7, $"bf16 {i}");
            Assert.Equal((float)(Half)values[i], h[i]);
        }
    }

    [Fact]
    public void BFloat16_rounds_to_nearest_even_like_torch()
    {
        // 1 + 2^-8 is exactly halfway between two bf16 values; even mantissa wins (rounds down).
        Assert.Equal(1f, BFloat16.ToSingle(BFloat16.FromSingle(1f + 1f / 256)));
        // 1 + 3·2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even): rounds up.
        Assert.Equal(1f + 1f / 64, BFloat16.ToSingle(BFloat16.FromSingle(1f + 3f / 256)));
        Assert.True(float.IsNaN(BFloat16.ToSingle(BFloat16.FromSingle(float.NaN))));
        Assert.Equal(float.NegativeInfinity, BFloat16.ToSingle(BFloat16.FromSingle(float.NegativeInfinity)));
    }

    [Fact]
    public void Missing_file_is_reported()
    {
        var e = OpenFails("/nonexistent/model.safetensors");
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void File_shorter_than_the_length_field()
    {
        using var dir = TestData.TempDir();
        File.WriteAllBytes(dir.File("t.safetensors"), [1, 2, 3]);
        Assert.Contains("too short", OpenFails(dir.File("t.safetensors")).Message);
    }

    [Fact]
    public void Header_length_over_the_limit()
    {
        using var dir = TestData.TempDir();
        WriteRaw(dir.File("t.safetensors"), "{}", 0, claimedHeaderLength: 1L << 40);
        Assert.Contains("over the", OpenFails(dir.File("t.safetensors")).Message);
    }

    [Fact]
    public void Truncated_header()
    {
        using var dir = TestData.TempDir();
        WriteRaw(dir.File("t.safetensors"), "{}", 0, claimedHeaderLength: 5000);
        Assert.Contains("truncated", OpenFails(dir.File("t.safetensors")).Message);
    }

    [Fact]
    public void Header_that_is_not_json()
    {
        using var dir = TestData.TempDir();
        WriteRaw(dir.File("t.safetensors"), "{\"a\": [1,2", 0);
        Assert.Contains("not valid JSON", OpenFails(dir.File("t.safetensors")).Message);
    }

    [Fact]
    public void Offsets_past_the_end_of_the_data()
    {
        using var dir = TestData.TempDir();
        WriteRaw(dir.File("t.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
        var e = OpenFails(dir.File("t.safetensors"));
        Assert.Equal("w", e.Tensor);
        Assert.Contains("past the end", e.Message);
    }

    [Fact]
    public void Overlapping_tensors()
    {
        using var dir = TestData.TempDir();
        WriteRaw(dir.File("t.safetensors"),
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
        Assert.Contains("overlap", OpenFails(dir.File("t.safetensors")).Message);
    }

    [Fact]
    public void Byte_length_disagreeing_with_dtype_and_shape()
    {
        using var dir = TestData.TempDir();
        WriteRaw(dir.File("t.safetensors"), "{\"w\":{\"dtype\":\"F16\",\"shape\":[3,3],\"data_offsets\":[0,16]}}", 16);
        var e = OpenFails(dir.File("t.safetensors"));
        Assert.Contains("needs 18", e.Message);
        Assert.Equal("w", e.Tensor);
    }

    [Fact]
    public void Unsupported_dtype()
    {
        using var dir = TestData.TempDir();
        WriteRaw(dir.File("t.safetensors"), "{\"w\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
        Assert.Contains("I8", OpenFails(dir.File("t.safetensors")).Message);
    }

    [Fact]
    public void Missing_tensor_names_file_and_tensor()
    {
        using var dir = TestData.TempDir();
        new SafetensorsWriter().Add("a", [1f], [1]).Write(dir.File("t.safetensors"));
        using var f = SafetensorsFile.Open(dir.File("t.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => f.Get("b"));
        Assert.Equal("b", e.Tensor);
        Assert.EndsWith("t.safetensors", e.File);
    }
}
