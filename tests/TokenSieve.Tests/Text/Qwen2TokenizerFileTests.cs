using System.Text.Json;
using TokenSieve.Tests.Support;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>Loading: the three ways a Hugging Face folder can hold a Qwen2 tokenizer, and the errors for
/// broken files (each must name the file and the entry).</summary>
public class Qwen2TokenizerFileTests
{
    static string Fixture(string name) => Path.Combine(Qwen2TokenizerFixture.Dir, name);

    static TempDir FolderWith(params string[] files)
    {
        var dir = TestData.TempDir();
        foreach (var f in files) File.Copy(Fixture(f), dir.File(f));
        return dir;
    }

    [Fact]
    public void Create_from_the_two_files_without_a_config_has_no_added_tokens()
    {
        var tok = Qwen2Tokenizer.Create(Fixture("vocab.json"), Fixture("merges.txt"));
        Assert.Equal(151643, tok.VocabSize);
        Assert.Equal(-1, tok.EosId);
        // Without added tokens "<|im_start|>" is plain text.
        Assert.Equal([27, 91, 318, 4906, 91, 29], tok.Encode("<|im_start|>"));
    }

    [Fact]
    public void Loads_a_folder_with_only_tokenizer_json()
    {
        using var dir = TestData.TempDir();
        WriteTokenizerJson(dir.File("tokenizer.json"), mergesAsPairs: false);
        var tok = Qwen2Tokenizer.FromFolder(dir.Path);
        var reference = Qwen2TokenizerFixture.Tokenizer;
        foreach (var name in Qwen2TokenizerFixture.Names("cases").Select(n => (string)n[0]))
        {
            var c = Qwen2TokenizerFixture.Case("cases", name);
            Assert.Equal(Qwen2TokenizerFixture.Ints(c.GetProperty("ids")), tok.Encode(c.GetProperty("text").GetString()!));
        }
        Assert.Equal(reference.VocabSize, tok.VocabSize);
    }

    [Fact]
    public void Reads_merges_written_as_pairs_and_checks_the_config_against_tokenizer_json()
    {
        using var dir = FolderWith("tokenizer_config.json");
        WriteTokenizerJson(dir.File("tokenizer.json"), mergesAsPairs: true);
        var tok = Qwen2Tokenizer.FromFolder(dir.Path);
        Assert.Equal(151645, tok.EosId);
        Assert.Equal([9707, 1879], tok.Encode("Hello world"));
    }

    [Fact]
    public void Tokenizer_json_with_another_pre_tokenizer_is_refused()
    {
        using var dir = TestData.TempDir();
        WriteTokenizerJson(dir.File("tokenizer.json"), mergesAsPairs: false, pattern: @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+");
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.FromFolder(dir.Path));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("pre_tokenizer", e.Message);
    }

    /// <summary>A tokenizer.json as the fast Qwen2 tokenizer's, built from the fixture's files.</summary>
    static void WriteTokenizerJson(string path, bool mergesAsPairs, string? pattern = null)
    {
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Fixture("vocab.json")))!;
        var merges = File.ReadAllLines(Fixture("merges.txt")).Skip(1).Where(l => l.Length > 0).ToList();
        using var config = JsonDocument.Parse(File.ReadAllText(Fixture("tokenizer_config.json")));
        var added = config.RootElement.GetProperty("added_tokens_decoder").EnumerateObject().Select(p => new Dictionary<string, object>
        {
            ["id"] = int.Parse(p.Name), ["content"] = p.Value.GetProperty("content").GetString()!, ["single_word"] = false,
            ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        }).ToList();
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["normalizer"] = new Dictionary<string, object> { ["type"] = "NFC" },
            ["pre_tokenizer"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new object[]
                {
                    new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new Dictionary<string, string> { ["Regex"] = pattern ?? Qwen2TokenizerFiles.PreTokenizerPattern }, ["behavior"] = "Isolated", ["invert"] = false },
                    new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
                },
            },
            ["model"] = new Dictionary<string, object>
            {
                ["type"] = "BPE",
                ["vocab"] = vocab,
                ["merges"] = mergesAsPairs ? merges.Select(m => m.Split(' ')).ToList() : merges,
            },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(json));
    }

    [Fact]
    public void Missing_files_are_named()
    {
        using var onlyVocab = FolderWith("vocab.json");
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.FromFolder(onlyVocab.Path));
        Assert.Contains("merges.txt", e.Message);
        using var empty = TestData.TempDir();
        e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.FromFolder(empty.Path));
        Assert.Contains("vocab.json", e.Message);
        e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.Create(Path.Combine(empty.Path, "vocab.json"), Fixture("merges.txt")));
        Assert.Contains("vocab.json", e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Theory]
    [InlineData("{\"a\": 0,", "not valid JSON")]
    [InlineData("[1, 2]", "JSON object")]
    [InlineData("{\"a\": \"zero\"}", "not an integer")]
    [InlineData("{\"a\": 0, \"b\": 0}", "used by two tokens")]
    [InlineData("{\"a\": 5}", "ids must run")]
    [InlineData("{\"a b\": 0}", "byte-level characters")]
    public void Corrupt_vocab_json_is_reported_with_the_file(string content, string reason)
    {
        using var dir = FolderWith("merges.txt");
        File.WriteAllText(dir.File("vocab.json"), content);
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.FromFolder(dir.Path));
        Assert.Contains(dir.File("vocab.json"), e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void A_vocabulary_missing_a_byte_is_refused()
    {
        using var dir = TestData.TempDir();
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Fixture("vocab.json")))!;
        // Drop "Ā" (byte 0x00) by giving its id to a new multi-character token.
        int id = vocab["Ā"];
        vocab.Remove("Ā");
        vocab["ĀĀĀ"] = id;
        File.WriteAllText(dir.File("vocab.json"), JsonSerializer.Serialize(vocab));
        File.Copy(Fixture("merges.txt"), dir.File("merges.txt"));
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.FromFolder(dir.Path));
        Assert.Contains("0x00", e.Message);
    }

    [Theory]
    [InlineData("#version: 0.2\nĠ t\nĠt he x\n", "line 3")]
    [InlineData("#version: 0.2\nĠ t\nĠthe\n", "line 3")]
    [InlineData("#version: 0.2\nĠ zzzzqq\n", "zzzzqq")]
    [InlineData("#version: 0.2\n\n", "no merges")]
    public void Corrupt_merges_txt_is_reported_with_the_file_and_line(string content, string reason)
    {
        using var dir = FolderWith("vocab.json");
        File.WriteAllText(dir.File("merges.txt"), content);
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.FromFolder(dir.Path));
        Assert.Contains(dir.File("merges.txt"), e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Merges_with_crlf_line_ends_and_without_a_version_line_read_the_same()
    {
        using var dir = FolderWith("vocab.json", "tokenizer_config.json");
        var lines = File.ReadAllLines(Fixture("merges.txt")).Skip(1);
        File.WriteAllText(dir.File("merges.txt"), string.Join("\r\n", lines) + "\r\n");
        var tok = Qwen2Tokenizer.FromFolder(dir.Path);
        var c = Qwen2TokenizerFixture.Case("cases", "english-03");
        Assert.Equal(Qwen2TokenizerFixture.Ints(c.GetProperty("ids")), tok.Encode(c.GetProperty("text").GetString()!));
    }

    [Theory]
    [InlineData("{\"tokenizer_class\": \"LlamaTokenizer\"}", "tokenizer_class")]
    [InlineData("{\"added_tokens_decoder\": {\"x\": {\"content\": \"<a>\"}}}", "added_tokens_decoder")]
    [InlineData("{\"added_tokens_decoder\": {\"151643\": {\"content\": \"\"}}}", "added_tokens_decoder.151643")]
    [InlineData("{\"added_tokens_decoder\": {\"151643\": {\"content\": \"<a>\", \"single_word\": true}}}", "single_word")]
    [InlineData("{\"added_tokens_decoder\": {\"9707\": {\"content\": \"<a>\"}}}", "9707")]
    [InlineData("{\"eos_token\": \"<|nope|>\"}", "eos_token")]
    [InlineData("{\"eos_token\": 5}", "eos_token")]
    public void Bad_tokenizer_config_is_reported(string content, string reason)
    {
        using var dir = FolderWith("vocab.json", "merges.txt");
        File.WriteAllText(dir.File("tokenizer_config.json"), content);
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.FromFolder(dir.Path));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Added_token_strip_flags_remove_python_white_space_beside_the_token()
    {
        using var dir = FolderWith("vocab.json", "merges.txt");
        File.WriteAllText(dir.File("tokenizer_config.json"),
            "{\"added_tokens_decoder\": {\"151643\": {\"content\": \"<|x|>\", \"lstrip\": true, \"rstrip\": true, \"special\": true}}}");
        var tok = Qwen2Tokenizer.FromFolder(dir.Path);
        Assert.Equal([.. tok.Encode("a"), 151643, .. tok.Encode("b")], tok.Encode("a \t<|x|>\n b"));
    }
}
