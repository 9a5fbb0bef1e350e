using System.Text.Json.Nodes;
using TokenSieve.Text;

namespace TokenSieve.Tests.Support;

/// <summary>The qwen2-vl-tiny fixture model made runnable end to end: a copy of its folder with a byte-level
/// Qwen2 tokenizer that fits its 320-id vocabulary — the 256 byte tokens at ids 0..255 (byte b at id b),
/// one merge ("Ġ a" → 256), and the Qwen2-VL special tokens at the fixture's ids 300..313 (the real layout 151643+k
/// shifted to base 300). Answers of the random model are meaningless; the ids and reports are not.</summary>
public static class Qwen2VlTiny
{
    public static string Fixture => TestData.Path("qwen2-vl-tiny");

    static readonly string[] Specials =
    [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
        "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
    ];

    /// <summary>Copies the fixture's config, preprocessor config and weights into <paramref name="dir"/> and
    /// writes the tokenizer files; returns the folder.</summary>
    public static string RunnableCopy(TempDir dir)
    {
        foreach (var f in new[] { "config.json", "preprocessor_config.json", "model.safetensors", "image.png", "image_a.png", "image_b.png" })
            File.Copy(Path.Combine(Fixture, f), dir.File(f));
        WriteTokenizer(dir.Path);
        return dir.Path;
    }

    public static void WriteTokenizer(string folder)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteLevelBpe.ByteToChar[b].ToString()] = b;
        vocab["\u0120a"] = 256;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), vocab.ToJsonString());
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n\u0120 a\n");
        var added = new JsonObject();
        for (int k = 0; k < Specials.Length; k++)
            added[(300 + k).ToString()] = new JsonObject
            {
                ["content"] = Specials[k], ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = true,
            };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject
        {
            ["added_tokens_decoder"] = added, ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>", ["tokenizer_class"] = "Qwen2Tokenizer",
        }.ToJsonString());
    }
}
