using System.Text.Json;
using TokenSieve.Checkpoints;

namespace TokenSieve.Tests.Support;

/// <summary>Paths to the fixture copies under tests/data (copied next to the test assembly).</summary>
public static class TestData
{
    public static string Root => System.IO.Path.Combine(AppContext.BaseDirectory, "data");

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public static string LlavaTiny => Path("llava-tiny");

    /// <summary>A fresh temporary folder, deleted by the caller's using.</summary>
    public static TempDir TempDir() => new();
}

public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tokensieve-test-" + Guid.NewGuid().ToString("N")[..12]);

    public TempDir() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>golden.safetensors + golden.json of a fixture folder.</summary>
public sealed class Golden : IDisposable
{
    readonly SafetensorsFile _file;
    public JsonElement Json { get; }
    readonly JsonDocument _doc;

    public Golden(string folder)
    {
        _file = SafetensorsFile.Open(System.IO.Path.Combine(folder, "golden.safetensors"));
        _doc = JsonDocument.Parse(File.ReadAllBytes(System.IO.Path.Combine(folder, "golden.json")));
        Json = _doc.RootElement;
    }

    public float[] Tensor(string name) => _file.Get(name).ToFloats();

    public int[] Shape(string name) => _file.Get(name).Shape;

    public bool Has(string name) => _file.Contains(name);

    public int[] Ints(string key) => Json.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public void Dispose()
    {
        _file.Dispose();
        _doc.Dispose();
    }
}

public static class Compare
{
    /// <summary>Asserts max |a−b| ≤ tol·max(1, max|expected|) and reports the worst element.</summary>
    public static void Relative(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        double scale = 1e-30, worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++) scale = Math.Max(scale, Math.Abs(expected[i]));
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(expected[i] - actual[i]);
            if (!(diff <= worst)) { worst = diff; at = i; }
        }
        double rel = worst / Math.Max(scale, 1e-30);
        Assert.True(rel <= tol, $"{what}: max |diff| {worst:g4} at {at} (expected {(at >= 0 ? expected[at] : 0)}, got {(at >= 0 ? actual[at] : 0)}) = {rel:g4} of max magnitude {scale:g4}; tolerance {tol:g3}");
    }
}
