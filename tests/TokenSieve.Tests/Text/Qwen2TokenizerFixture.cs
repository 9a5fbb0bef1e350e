using System.Text.Json;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>The real Qwen2 vocabulary and its goldens (tests/data/qwen2-tokenizer: transformers 4.45.1's slow
/// Qwen2Tokenizer). Loaded once: building the 151k-token tokenizer takes a fraction of a second.</summary>
static class Qwen2TokenizerFixture
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "data", "qwen2-tokenizer");

    static readonly Lazy<Qwen2Tokenizer> _tokenizer = new(() => Qwen2Tokenizer.FromFolder(Dir));
    static readonly Lazy<JsonDocument> _golden = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "golden.json"))));

    public static Qwen2Tokenizer Tokenizer => _tokenizer.Value;
    public static JsonElement Golden => _golden.Value.RootElement;

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static IEnumerable<object[]> Names(string section)
        => Golden.GetProperty(section).EnumerateArray().Select(c => new object[] { c.GetProperty("name").GetString()! });

    public static JsonElement Case(string section, string name)
        => Golden.GetProperty(section).EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
}
