using System.Text.Json;

namespace TokenSieve.Imaging;

/// <summary>The settings of a Qwen2-VL <c>preprocessor_config.json</c> (<c>Qwen2VLImageProcessor</c>, transformers
/// 4.45). Missing keys take that class's defaults: min_pixels 56·56, max_pixels 28·28·1280, patch 14, temporal
/// patch 2, merge 2, bicubic, 1/255, OpenAI CLIP mean/std. The pixel bounds are the knob that sets how many
/// visual tokens an image costs. Keys that do not affect the computation are ignored.</summary>
public sealed record Qwen2VlImageProcessorConfig
{
    public const string ProcessorType = "Qwen2VLImageProcessor";

    public int MinPixels { get; init; } = 56 * 56;
    public int MaxPixels { get; init; } = 28 * 28 * 1280;
    public int PatchSize { get; init; } = 14;
    public int TemporalPatchSize { get; init; } = 2;
    public int MergeSize { get; init; } = 2;
    public bool DoResize { get; init; } = true;
    public ResampleFilter Resample { get; init; } = ResampleFilter.Bicubic;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1.0 / 255.0;
    public bool DoNormalize { get; init; } = true;
    public double[] ImageMean { get; init; } = ImageProcessorConfig.ClipMean;
    public double[] ImageStd { get; init; } = ImageProcessorConfig.ClipStd;

    /// <summary>The side every resized image is a multiple of: patch_size · merge_size (28).</summary>
    public int Factor => PatchSize * MergeSize;

    public static Qwen2VlImageProcessorConfig Default { get; } = new();

    /// <summary>Reads <paramref name="path"/> (a preprocessor_config.json, or a folder holding one).</summary>
    public static Qwen2VlImageProcessorConfig Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "preprocessor_config.json");
        if (!File.Exists(path)) throw new ConfigException(path, null, "file not found");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ConfigException(path, null, $"not valid JSON ({e.Message})");
        }
        using (doc) return Parse(doc.RootElement, path);
    }

    public static Qwen2VlImageProcessorConfig Parse(JsonElement root, string? file)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ConfigException(file, null, "preprocessor config is not a JSON object");
        var r = new Reader(file, root);
        string type = r.Str("image_processor_type") ?? ProcessorType;
        if (type != ProcessorType)
            throw new ConfigException(file, "image_processor_type", $"'{type}' is not {ProcessorType}; this processor reproduces only Qwen2-VL's (smart_resize, merge-window patches)");

        var c = new Qwen2VlImageProcessorConfig();
        var (sizeMin, sizeMax) = ReadSizeBounds(root, file);
        int? minPixels = r.PositiveInt("min_pixels"), maxPixels = r.PositiveInt("max_pixels");
        // transformers 4.45 reads the top-level keys and only mirrors them into "size"; later versions read
        // "size". Files written by either agree; one that says two things is refused rather than guessed.
        if (minPixels is int a && sizeMin is int b && a != b) throw new ConfigException(file, "min_pixels", $"{a} disagrees with size's {b}");
        if (maxPixels is int x && sizeMax is int y && x != y) throw new ConfigException(file, "max_pixels", $"{x} disagrees with size's {y}");
        c = c with
        {
            MinPixels = minPixels ?? sizeMin ?? c.MinPixels,
            MaxPixels = maxPixels ?? sizeMax ?? c.MaxPixels,
            PatchSize = r.PositiveInt("patch_size") ?? c.PatchSize,
            TemporalPatchSize = r.PositiveInt("temporal_patch_size") ?? c.TemporalPatchSize,
            MergeSize = r.PositiveInt("merge_size") ?? c.MergeSize,
            DoResize = r.Bool("do_resize") ?? c.DoResize,
            DoRescale = r.Bool("do_rescale") ?? c.DoRescale,
            RescaleFactor = r.Double("rescale_factor") ?? c.RescaleFactor,
            DoNormalize = r.Bool("do_normalize") ?? c.DoNormalize,
            ImageMean = r.Triple("image_mean") ?? c.ImageMean,
            ImageStd = r.Triple("image_std") ?? c.ImageStd,
        };
        if (r.Int("resample") is int resample)
        {
            if (resample is < 1 or > 5)
                throw new ConfigException(file, "resample", resample == 0
                    ? "0 (nearest) is not supported; Qwen2-VL uses 3 (bicubic)"
                    : $"{resample} is not a PIL resampling filter (1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)");
            c = c with { Resample = (ResampleFilter)resample };
        }
        if (c.MaxPixels < c.MinPixels) throw new ConfigException(file, "max_pixels", $"{c.MaxPixels} is below min_pixels {c.MinPixels}");
        if (c.ImageStd.Any(s => s == 0)) throw new ConfigException(file, "image_std", "a standard deviation is 0");
        if (!(c.RescaleFactor > 0)) throw new ConfigException(file, "rescale_factor", $"{c.RescaleFactor} must be positive");
        if ((long)c.Factor * c.Factor > int.MaxValue) throw new ConfigException(file, "patch_size", $"patch_size {c.PatchSize} · merge_size {c.MergeSize} is too large");
        return c;
    }

    /// <summary><c>size</c> as 4.45 writes it ({min_pixels, max_pixels}) or as later versions do
    /// ({shortest_edge, longest_edge}, both meaning pixel counts).</summary>
    static (int? Min, int? Max) ReadSizeBounds(JsonElement root, string? file)
    {
        if (!root.TryGetProperty("size", out var size) || size.ValueKind == JsonValueKind.Null) return (null, null);
        if (size.ValueKind != JsonValueKind.Object) throw new ConfigException(file, "size", $"expected an object with min_pixels/max_pixels, got {size}");
        var r = new Reader(file, size, "size.");
        return (r.PositiveInt("min_pixels") ?? r.PositiveInt("shortest_edge"), r.PositiveInt("max_pixels") ?? r.PositiveInt("longest_edge"));
    }

    sealed class Reader(string? file, JsonElement root, string prefix = "")
    {
        bool TryGet(string key, out JsonElement v) => root.TryGetProperty(key, out v) && v.ValueKind != JsonValueKind.Null;

        public string? Str(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (v.ValueKind != JsonValueKind.String) throw new ConfigException(file, prefix + key, $"expected a string, got {v}");
            return v.GetString();
        }

        public bool? Bool(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new ConfigException(file, prefix + key, $"expected true/false, got {v}");
            return v.GetBoolean();
        }

        public int? Int(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i)) throw new ConfigException(file, prefix + key, $"expected an integer, got {v}");
            return i;
        }

        public int? PositiveInt(string key)
        {
            int? i = Int(key);
            if (i is <= 0) throw new ConfigException(file, prefix + key, $"expected a positive integer, got {i}");
            return i;
        }

        public double? Double(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (v.ValueKind != JsonValueKind.Number) throw new ConfigException(file, prefix + key, $"expected a number, got {v}");
            return v.GetDouble();
        }

        /// <summary>A per-channel list of three numbers; a single number applies to all channels.</summary>
        public double[]? Triple(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (v.ValueKind == JsonValueKind.Number) return [v.GetDouble(), v.GetDouble(), v.GetDouble()];
            if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 3 || v.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number))
                throw new ConfigException(file, prefix + key, $"expected 3 numbers (R, G, B), got {v}");
            return v.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        }
    }
}
