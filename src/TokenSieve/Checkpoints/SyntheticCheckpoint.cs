using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>Writes random-weight checkpoints of real shapes in the llava-hf layout, for speed and
/// memory benchmarks (no real weights can be downloaded here). Values are uniform in
/// ±1/√fan_in so activations stay finite; answers are meaningless.</summary>
public static class SyntheticCheckpoint
{
    public sealed record Shape(string Name, ClipVisionConfig Vision, LlamaConfig Text, string Description)
    {
        public LlavaVariant Variant { get; init; } = LlavaVariant.Llava;
        /// <summary>LLaVA-NeXT's anyres resolutions (height, width).</summary>
        public IReadOnlyList<(int Height, int Width)> Pinpoints { get; init; } = [];
    }

    static readonly ClipVisionConfig ClipL336 = new(1024, 4096, 24, 16, 3, 336, 14, "quick_gelu", 1e-5f);
    static readonly ClipVisionConfig ClipL224 = new(1024, 4096, 24, 16, 3, 224, 14, "quick_gelu", 1e-5f);
    static readonly LlamaConfig Vicuna7B = new(32064, 4096, 11008, 32, 32, 32, "silu", 4096, 1e-5f, 10000f, 1, 2, false);

    public static readonly IReadOnlyList<Shape> Shapes =
    [
        new("llava-1.5-7b", ClipL336, Vicuna7B, "CLIP ViT-L/14-336 + Vicuna-7B (LLaMA-7B body), as llava-hf/llava-1.5-7b-hf"),
        new("llava-next-7b", ClipL336, Vicuna7B,
            "LLaVA-NeXT: CLIP ViT-L/14-336 tiles + Vicuna-7B, as llava-hf/llava-v1.6-vicuna-7b-hf (a 672x672 image: base + 2x2 tiles = 2928 rows)")
        {
            Variant = LlavaVariant.LlavaNext, Pinpoints = [(336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)],
        },
        new("video-llava-7b", ClipL224, Vicuna7B,
            "Video-LLaVA: two CLIP ViT-L/14-224 towers (image, video) + Vicuna-7B, as LanguageBind/Video-LLaVA-7B-hf (8 frames x 257 = 2056 rows)")
        {
            Variant = LlavaVariant.VideoLlava,
        },
        new("tiny-1b", ClipL336, new LlamaConfig(32064, 2048, 5632, 22, 32, 4, "silu", 2048, 1e-5f, 10000f, 1, 2, false),
            "CLIP ViT-L/14-336 + a TinyLlama-1.1B-shaped decoder (GQA, 4 kv heads)"),
        new("small", new ClipVisionConfig(256, 1024, 6, 4, 3, 224, 14, "quick_gelu", 1e-5f),
            new LlamaConfig(32064, 512, 1408, 6, 8, 2, "silu", 2048, 1e-5f, 10000f, 1, 2, false),
            "a small model of the same architecture (256 visual tokens) for quick end-to-end checks"),
    ];

    public static Shape Find(string name) =>
        Shapes.FirstOrDefault(s => s.Name == name)
        ?? throw new InvalidInputException($"unknown synthetic shape '{name}' (known: {string.Join(", ", Shapes.Select(s => s.Name))})");

    /// <summary>Bytes the weights will take in <paramref name="dtype"/>.</summary>
    public static long WeightBytes(Shape shape, DType dtype) => Tensors(shape).Sum(t => t.Count) * DTypes.SizeOf(dtype);

    static IEnumerable<TensorSpec> Tensors(Shape s) => LlavaSchema.Tensors(Config(s));

    /// <summary>Writes config.json, preprocessor_config.json and model.safetensors into <paramref name="directory"/>.</summary>
    public static void Write(string directory, Shape shape, DType dtype, ulong seed = 1, IProgress<(long Done, long Total)>? progress = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), LlavaConfigWriter.ToJson(Config(shape), dtype));
        File.WriteAllText(Path.Combine(directory, "preprocessor_config.json"), LlavaConfigWriter.PreprocessorJson(Config(shape)));
        WriteWeights(Path.Combine(directory, "model.safetensors"), shape.Name, Tensors(shape).ToList(), dtype, seed, progress);
    }

    /// <summary>model.safetensors of random tensors: uniform in ±1/√fan_in, norm weights 1, norm biases 0.</summary>
    internal static void WriteWeights(string path, string shapeName, IReadOnlyList<TensorSpec> tensors, DType dtype, ulong seed, IProgress<(long Done, long Total)>? progress)
    {
        var writer = new SafetensorsWriter().AddMetadata("format", "pt").AddMetadata("tokensieve.synthetic", shapeName);
        long total = tensors.Sum(t => t.Count) * DTypes.SizeOf(dtype), done = 0;
        ulong tensorSeed = seed;
        foreach (var t in tensors)
        {
            var tensor = t;
            ulong s = tensorSeed++;
            bool norm = t.Kind == TensorKind.NormWeight;
            writer.AddStreamed(t.Name, dtype, t.Shape, stream =>
            {
                WriteRandom(stream, tensor.Count, dtype, norm ? 0f : 1f / MathF.Sqrt(Math.Max(1, tensor.FanIn)), norm ? 1f : 0f, s);
                done += tensor.Count * DTypes.SizeOf(dtype);
                progress?.Report((done, total));
            });
        }
        writer.Write(path);
    }

    static void WriteRandom(Stream stream, long count, DType dtype, float scale, float offset, ulong seed)
    {
        const int chunk = 1 << 16;
        var values = new float[chunk];
        var bytes = new byte[chunk * 4];
        ulong state = seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B14E5DUL;
        for (long done = 0; done < count; done += chunk)
        {
            int n = (int)Math.Min(chunk, count - done);
            for (int i = 0; i < n; i++)
            {
                // SplitMix64 → uniform in [−1, 1).
                state += 0x9E3779B97F4A7C15UL;
                ulong z = state;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                z ^= z >> 31;
                values[i] = offset + scale * ((z >> 40) * (2f / (1 << 24)) - 1f);
            }
            int size = DTypes.SizeOf(dtype);
            var span = bytes.AsSpan(0, n * size);
            switch (dtype)
            {
                case DType.F32: MemoryMarshal.AsBytes(values.AsSpan(0, n)).CopyTo(span); break;
                case DType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values.AsSpan(0, n), MemoryMarshal.Cast<byte, Half>(span)); break;
                case DType.BF16:
                    var b = MemoryMarshal.Cast<byte, ushort>(span);
                    for (int i = 0; i < n; i++) b[i] = BFloat16.FromSingle(values[i]);
                    break;
            }
            stream.Write(span);
        }
    }

    /// <summary>llava-hf's 32000 where the vocabulary holds it, else the second-to-last id.</summary>
    public static int ImageTokenIndex(LlamaConfig t) => t.VocabSize > 32001 ? 32000 : t.VocabSize - 2;

    /// <summary>The llava-hf config of a shape: feature layer −2, CLS dropped, untied lm_head.</summary>
    public static LlavaConfig Config(Shape s)
    {
        int image = ImageTokenIndex(s.Text);
        var c = LlavaConfigWriter.Create(s.Vision, s.Text, image, s.Variant == LlavaVariant.VideoLlava ? image + 2 : image + 1);
        return c with
        {
            Variant = s.Variant, ImageGridPinpoints = s.Pinpoints,
            VideoTokenIndex = s.Variant == LlavaVariant.VideoLlava ? image + 1 : null,
        };
    }
}
