using System.Text.Json;

namespace TokenSieve.Imaging;

/// <summary>The CLIPImageProcessor settings of a <c>preprocessor_config.json</c>. Missing keys take
/// LLaVA-1.5's values (CLIP ViT-L/14-336: shortest edge 336, crop 336×336, bicubic, 1/255, OpenAI CLIP
/// mean/std). Keys that do not affect the computation (<c>_valid_processor_keys</c>,
/// <c>processor_class</c>, …) are ignored.</summary>
public sealed record ImageProcessorConfig
{
    public static readonly double[] ClipMean = [0.48145466, 0.4578275, 0.40821073];
    public static readonly double[] ClipStd = [0.26862954, 0.26130258, 0.27577711];

    /// <summary>Processor classes whose preprocessing this code reproduces.</summary>
    public static readonly string[] SupportedTypes = ["CLIPImageProcessor", "CLIPFeatureExtractor", "LlavaImageProcessor", "LlavaNextImageProcessor", "VideoLlavaImageProcessor"];

    public string ProcessorType { get; init; } = "CLIPImageProcessor";
    public bool DoConvertRgb { get; init; } = true;
    public bool DoResize { get; init; } = true;
    /// <summary>Resize so the shorter side is this long (aspect kept); null when an exact
    /// <see cref="ResizeHeight"/>×<see cref="ResizeWidth"/> is given instead.</summary>
    public int? ShortestEdge { get; init; } = 336;
    public int? ResizeHeight { get; init; }
    public int? ResizeWidth { get; init; }
    public ResampleFilter Resample { get; init; } = ResampleFilter.Bicubic;
    public bool DoCenterCrop { get; init; } = true;
    public int CropHeight { get; init; } = 336;
    public int CropWidth { get; init; } = 336;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1.0 / 255.0;
    public bool DoNormalize { get; init; } = true;
    public double[] ImageMean { get; init; } = ClipMean;
    public double[] ImageStd { get; init; } = ClipStd;
    /// <summary>LlavaImageProcessor's <c>do_pad</c>: pad to a square with the mean colour first
    /// (the same as LLaVA's <c>image_aspect_ratio = "pad"</c>).</summary>
    public bool DoPad { get; init; }

    public static ImageProcessorConfig Default { get; } = new();

    /// <summary>Largest resize or crop side accepted from a preprocessor config. Published CLIP and
    /// SigLIP processors use 224–1024; the preprocessing buffers grow with this side times the
    /// image's long side, so the bound keeps them small.</summary>
    public const int MaxSide = 4096;

    /// <summary>Reads <paramref name="path"/> (a preprocessor_config.json, or a folder holding one).</summary>
    public static ImageProcessorConfig Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "preprocessor_config.json");
        using var doc = JsonInput.ParseFile(path, (reason, _) => new ConfigException(path, null, reason), allowComments: true);
        return Parse(doc.RootElement, path);
    }

    public static ImageProcessorConfig Parse(JsonElement root, string? file)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ConfigException(file, null, "preprocessor config is not a JSON object");
        // TryGetProperty throws on key names that are not valid Unicode: check them (and duplicates) first.
        foreach (var (name, value) in JsonInput.Properties(root, (key, reason) => new ConfigException(file, key, reason)))
            if (name is "size" or "crop_size" && value.ValueKind == JsonValueKind.Object)
                JsonInput.Properties(value, (key, reason) => new ConfigException(file, key is null ? name : $"{name}.{key}", reason));
        var r = new Reader(file, root);
        string type = r.Str("image_processor_type") ?? r.Str("feature_extractor_type") ?? "CLIPImageProcessor";
        if (!SupportedTypes.Contains(type))
            throw new ConfigException(file, "image_processor_type", $"'{type}' is not supported; TokenSieve reproduces {string.Join(", ", SupportedTypes)} (PIL bicubic resize, centre crop, rescale, normalize)");

        var c = new ImageProcessorConfig { ProcessorType = type };
        c = c with
        {
            DoConvertRgb = r.Bool("do_convert_rgb") ?? c.DoConvertRgb,
            DoResize = r.Bool("do_resize") ?? c.DoResize,
            DoCenterCrop = r.Bool("do_center_crop") ?? c.DoCenterCrop,
            DoRescale = r.Bool("do_rescale") ?? c.DoRescale,
            RescaleFactor = r.Double("rescale_factor") ?? c.RescaleFactor,
            DoNormalize = r.Bool("do_normalize") ?? c.DoNormalize,
            ImageMean = r.Triple("image_mean") ?? c.ImageMean,
            ImageStd = r.Triple("image_std") ?? c.ImageStd,
            // LlavaNextImageProcessor's do_pad pads the batch of tile stacks to one length (nothing
            // to do for one image at a time); it is not LLaVA's pad-to-square.
            DoPad = type == "LlavaNextImageProcessor" ? false : r.Bool("do_pad") ?? c.DoPad,
        };
        if (r.Int("resample") is int resample)
        {
            if (resample is < 1 or > 5)
                throw new ConfigException(file, "resample", resample == 0
                    ? "0 (nearest) is not supported; use 3 (bicubic) as CLIP does"
                    : $"{resample} is not a PIL resampling filter (1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)");
            c = c with { Resample = (ResampleFilter)resample };
        }
        if (root.TryGetProperty("size", out var size) && size.ValueKind != JsonValueKind.Null)
            c = ReadSize(c, size, file);
        if (root.TryGetProperty("crop_size", out var crop) && crop.ValueKind != JsonValueKind.Null)
        {
            var (h, w) = ReadHeightWidth(crop, file, "crop_size");
            c = c with { CropHeight = h, CropWidth = w };
        }
        if (c.ImageStd.Any(s => s == 0)) throw new ConfigException(file, "image_std", "a standard deviation is 0");
        if (!(c.RescaleFactor > 0)) throw new ConfigException(file, "rescale_factor", $"{c.RescaleFactor} must be positive");
        return c;
    }

    static ImageProcessorConfig ReadSize(ImageProcessorConfig c, JsonElement size, string? file)
    {
        // Old CLIP configs write "size": 224, meaning the shortest edge.
        if (size.ValueKind == JsonValueKind.Number) return c with { ShortestEdge = Positive(size, file, "size"), ResizeHeight = null, ResizeWidth = null };
        if (size.ValueKind != JsonValueKind.Object) throw new ConfigException(file, "size", $"expected a number or an object, got {JsonInput.Show(size)}");
        if (size.TryGetProperty("shortest_edge", out var edge))
        {
            if (size.TryGetProperty("longest_edge", out _)) throw new ConfigException(file, "size.longest_edge", "a longest_edge limit is not supported");
            return c with { ShortestEdge = Positive(edge, file, "size.shortest_edge"), ResizeHeight = null, ResizeWidth = null };
        }
        var (h, w) = ReadHeightWidth(size, file, "size");
        return c with { ShortestEdge = null, ResizeHeight = h, ResizeWidth = w };
    }

    static (int Height, int Width) ReadHeightWidth(JsonElement e, string? file, string key)
    {
        if (e.ValueKind == JsonValueKind.Number)
        {
            int s = Positive(e, file, key);
            return (s, s);
        }
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("height", out var h) || !e.TryGetProperty("width", out var w))
            throw new ConfigException(file, key, $"expected {{\"height\": H, \"width\": W}} or {{\"shortest_edge\": S}}, got {JsonInput.Show(e)}");
        return (Positive(h, file, key + ".height"), Positive(w, file, key + ".width"));
    }

    /// <summary>A resize or crop side: a JSON integer in 1..<see cref="MaxSide"/>.</summary>
    static int Positive(JsonElement e, string? file, string key)
    {
        if (JsonInput.TryGetInteger(e) is not long v || v <= 0)
            throw new ConfigException(file, key, $"expected a positive integer, got {JsonInput.Show(e)}");
        if (v > MaxSide) throw new ConfigException(file, key, $"{v} is over the limit of {MaxSide} pixels");
        return (int)v;
    }

    static double Finite(JsonElement v, string? file, string key)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new ConfigException(file, key, $"expected a finite number, got {JsonInput.Show(v)}");
        return d;
    }

    sealed class Reader(string? file, JsonElement root)
    {
        bool TryGet(string key, out JsonElement v) => root.TryGetProperty(key, out v) && v.ValueKind != JsonValueKind.Null;

        public string? Str(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (v.ValueKind != JsonValueKind.String) throw new ConfigException(file, key, $"expected a string, got {JsonInput.Show(v)}");
            return JsonInput.TryGetString(v) ?? throw new ConfigException(file, key, "the string is not valid UTF-8 / Unicode");
        }

        public bool? Bool(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new ConfigException(file, key, $"expected true/false, got {JsonInput.Show(v)}");
            return v.GetBoolean();
        }

        public int? Int(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (JsonInput.TryGetInteger(v) is not long i || i < int.MinValue || i > int.MaxValue)
                throw new ConfigException(file, key, $"expected an integer, got {JsonInput.Show(v)}");
            return (int)i;
        }

        public double? Double(string key) => TryGet(key, out var v) ? Finite(v, file, key) : null;

        /// <summary>A per-channel list of three finite numbers; a single number applies to all channels.</summary>
        public double[]? Triple(string key)
        {
            if (!TryGet(key, out var v)) return null;
            if (v.ValueKind == JsonValueKind.Number)
            {
                double d = Finite(v, file, key);
                return [d, d, d];
            }
            if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 3)
                throw new ConfigException(file, key, $"expected 3 numbers (R, G, B), got {JsonInput.Show(v)}");
            return v.EnumerateArray().Select(x => Finite(x, file, key)).ToArray();
        }
    }
}
