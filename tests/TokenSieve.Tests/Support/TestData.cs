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

    /// <summary>Uniform values in ±scale from a seeded generator.</summary>
    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>Max over i of |a−b| / (atol + rtol·|b|) — ≤ 1 means within tolerance.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (e == a) continue;
            double err = Math.Abs(a - e);
            if (!(err <= atol + rtol * Math.Abs(e)))
                Assert.Fail($"{what}: element {i} expected {e:R} got {a:R} (|diff| {err:E3} > {atol:E1} + {rtol:E1}·|expected|)");
        }
    }
}

/// <summary>A scratch folder deleted when the test ends.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tokensieve-test-" + Guid.NewGuid().ToString("N")[..12]);

    public TempDir() => Directory.CreateDirectory(Path);

    /// <summary>The path of <paramref name="name"/> inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Writes a text file (creating its folders) and returns its path.</summary>
    public string File(string relative, string content)
    {
        string full = File(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllText(full, content);
        return full;
    }

    /// <summary>Writes a binary file (creating its folders) and returns its path.</summary>
    public string Bytes(string relative, byte[] content)
    {
        string full = File(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllBytes(full, content);
        return full;
    }

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
