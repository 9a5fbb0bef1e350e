using System.Text.Json;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>The LLaMA tokenizer fixture (tests/data/llama-tokenizer): tokenizer.model and golden.json.</summary>
static class TokenizerFixture
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "data", "llama-tokenizer");
    public static string ModelPath => Path.Combine(Dir, "tokenizer.model");

    static readonly Lazy<SentencePieceBpeTokenizer> _tokenizer = new(() => SentencePieceBpeTokenizer.Load(ModelPath));
    static readonly Lazy<JsonDocument> _golden = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "golden.json"))));

    public static SentencePieceBpeTokenizer Tokenizer => _tokenizer.Value;
    public static JsonElement Golden => _golden.Value.RootElement;

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static IEnumerable<object[]> Names(string section)
        => Golden.GetProperty(section).EnumerateArray().Select(c => new object[] { c.GetProperty("name").GetString()! });

    public static JsonElement Case(string section, string name)
        => Golden.GetProperty(section).EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
}
