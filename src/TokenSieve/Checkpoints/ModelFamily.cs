using System.Text.Json;

namespace TokenSieve.Checkpoints;

/// <summary>The model architectures TokenSieve runs, as config.json's <c>model_type</c> names them.</summary>
public enum ModelKind
{
    /// <summary><c>llava</c>: LLaVA-1.5 (CLIP, MLP projector, LLaMA).</summary>
    Llava,

    /// <summary><c>llava_next</c>: LLaVA-NeXT (anyres tiles).</summary>
    LlavaNext,

    /// <summary><c>video_llava</c>: Video-LLaVA (image and video towers).</summary>
    VideoLlava,

    /// <summary><c>qwen2_vl</c>: Qwen2-VL (native-resolution tower with a 2×2 patch merger, Qwen2 decoder with M-RoPE).</summary>
    Qwen2Vl,
}

/// <summary>Which architecture a model folder holds, read from its config.json before anything else is
/// loaded, so every verb can dispatch on it. A config without <c>model_type</c> is taken as
/// <c>llava</c>, as <see cref="LlavaConfig"/> does.</summary>
public static class ModelFamily
{
    static readonly (string Type, ModelKind Kind)[] Types =
    [
        ("llava", ModelKind.Llava), ("llava_next", ModelKind.LlavaNext), ("video_llava", ModelKind.VideoLlava), ("qwen2_vl", ModelKind.Qwen2Vl),
    ];

    /// <summary>The config.json <c>model_type</c> of a kind.</summary>
    public static string ModelType(ModelKind kind) => Types.First(t => t.Kind == kind).Type;

    /// <summary>The kind of the model in <paramref name="folder"/> (or of a config.json given directly).
    /// A missing folder or config is a <see cref="CheckpointException"/>; an unknown <c>model_type</c> a
    /// <see cref="ConfigException"/> naming the key and the supported types.</summary>
    public static ModelKind Detect(string folder)
    {
        string path = Directory.Exists(folder) ? Path.Combine(folder, "config.json") : folder;
        if (!File.Exists(path))
            throw new CheckpointException(Directory.Exists(folder) ? folder : Path.GetDirectoryName(path) ?? folder, null, Directory.Exists(folder) ? "no config.json in the model folder" : "model folder not found");
        using var doc = JsonInput.ParseFile(path, (reason, _) => new ConfigException(path, null, reason), allowComments: true);
        return FromConfig(doc.RootElement, path);
    }

    /// <summary>The kind named by a parsed config.json.</summary>
    public static ModelKind FromConfig(JsonElement root, string? file)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ConfigException(file, null, "config is not a JSON object");
        var keys = JsonInput.Properties(root, (key, reason) => new ConfigException(file, key, reason));
        if (!keys.TryGetValue("model_type", out var type) || type.ValueKind == JsonValueKind.Null) return ModelKind.Llava;
        string? name = type.ValueKind == JsonValueKind.String ? JsonInput.TryGetString(type) : null;
        if (name is null) throw new ConfigException(file, "model_type", $"expected a string, got {JsonInput.Show(type)}");
        foreach (var (t, kind) in Types)
            if (t == name) return kind;
        throw new ConfigException(file, "model_type", $"'{TokenSieveException.Printable(name)}' is not a supported model type ({string.Join(", ", Types.Select(t => t.Type))})");
    }
}
