using TokenSieve.Checkpoints;
using TokenSieve.Imaging;

namespace TokenSieve.Models;

/// <summary>One image's visual tokens as they enter a Qwen2-VL prompt: [Count, Hidden] rows, the image's
/// patch grid (t, h, w), and each row's cell on the merged grid (t, h/merge, w/merge); null cells mean
/// every cell in raster order (the PatchMerger's output, unreduced).</summary>
public sealed record Qwen2VlImageTokens(float[] Tokens, int Count, Qwen2VlGrid Grid, (int T, int H, int W)[]? Cells = null);

/// <summary>A Qwen2-VL model folder (<c>model_type qwen2_vl</c>) loaded for inference: config with defaults,
/// memory-mapped weights in their stored dtype, the vision tower (with its PatchMerger) and the Qwen2
/// decoder, which is the LLaMA decoder with q/k/v biases and M-RoPE.</summary>
public sealed class Qwen2VlModel : IDisposable
{
    public string Directory { get; }
    public Qwen2VlConfig Config { get; }
    public CheckpointReader Weights { get; }
    public Qwen2VlVisionTower Vision { get; }
    public LlamaDecoder Decoder { get; }

    Qwen2VlModel(string directory, Qwen2VlConfig config, CheckpointReader weights)
    {
        Directory = directory;
        Config = config;
        Weights = weights;
        Vision = new Qwen2VlVisionTower(weights, config.Vision);
        Decoder = new LlamaDecoder(weights, config.Text, Qwen2VlSchema.Decoder);
    }

    public static Qwen2VlModel Load(string directory, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, null, "model folder not found");
        var config = Qwen2VlConfig.Load(Path.Combine(directory, "config.json"), options.AllowUnknownConfigKeys);
        var weights = CheckpointReader.Open(directory, options.WeightsFile, Qwen2VlSchema.Canonical);
        try
        {
            if (!options.AllowUnexpectedTensors) weights.CheckUnexpected(ExpectedTensorNames(config), Qwen2VlConfig.ModelType);
            return new Qwen2VlModel(directory, config, weights);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>All tensor names a model with this config reads (lm_head may be stored although tied;
    /// the decoder then uses it).</summary>
    public static HashSet<string> ExpectedTensorNames(Qwen2VlConfig config)
    {
        var names = Qwen2VlSchema.Tensors(config).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        names.Add(Qwen2VlSchema.Decoder.LmHead);
        return names;
    }

    /// <summary>Bytes of all weights as stored.</summary>
    public long WeightBytes => Weights.Names.Sum(n => Weights.Get(n).ByteLength);

    public long ParameterCount => Weights.Names.Sum(n => Weights.Get(n).ElementCount);

    /// <summary>The runs of <c>&lt;|image_pad|&gt;</c> in the ids, in order: one per image, each as long as
    /// that image's visual tokens.</summary>
    public IReadOnlyList<(int Start, int Length)> ImagePadRuns(ReadOnlySpan<int> ids)
    {
        var runs = new List<(int, int)>();
        for (int i = 0; i < ids.Length; i++)
        {
            if (ids[i] == Config.VideoTokenId) throw new InvalidInputException($"input id {i} is <|video_pad|> ({Config.VideoTokenId}); videos are not supported for Qwen2-VL yet");
            if (ids[i] != Config.ImageTokenId) continue;
            int start = i;
            while (i + 1 < ids.Length && ids[i + 1] == Config.ImageTokenId) i++;
            runs.Add((start, i - start + 1));
        }
        return runs;
    }

    /// <summary>The decoder's input for ids whose k-th run of <c>&lt;|image_pad|&gt;</c> holds image k's
    /// rows: token embeddings with the pad rows replaced in order, 3-D M-RoPE positions from
    /// <see cref="MropeIndex"/>, and each image's span with its merged grid and cells for methods with
    /// spatial rules. A prompt longer than the context is a <see cref="ContextOverflowException"/>.</summary>
    public SplicedSequence Splice(int[] ids, IReadOnlyList<Qwen2VlImageTokens> images)
    {
        var t = Config.Text;
        int d = t.HiddenSize, merge = Config.Vision.SpatialMergeSize;
        var runs = ImagePadRuns(ids);
        if (runs.Count != images.Count)
            throw new InvalidInputException($"the input ids hold {runs.Count} run(s) of <|image_pad|> ({Config.ImageTokenId}) for {images.Count} image(s); each image needs its own run");
        int visual = images.Sum(im => im.Count);
        if (ids.Length > t.MaxPositionEmbeddings)
            throw new ContextOverflowException(ids.Length, t.MaxPositionEmbeddings, $"{ids.Length - visual} text + {visual} visual");
        var emb = new float[ids.Length * d];
        var spans = new List<ImageSpan>(images.Count);
        var mrope = new List<MropeImage>(images.Count);
        int at = 0;
        for (int k = 0; k < images.Count; k++)
        {
            var im = images[k];
            var (start, length) = runs[k];
            if (length != im.Count)
                throw new InvalidInputException($"image {k}: its run of <|image_pad|> at {start} has {length} ids, the image has {im.Count} visual tokens");
            if (im.Tokens.Length < (long)im.Count * d) throw new InvalidInputException($"image {k}: visual tokens have {im.Tokens.Length} values, expected {im.Count}x{d}");
            Decoder.Embed(ids.AsSpan(at, start - at), emb.AsSpan(at * d));
            im.Tokens.AsSpan(0, im.Count * d).CopyTo(emb.AsSpan(start * d));
            int gh = im.Grid.H / merge, gw = im.Grid.W / merge;
            var cells = im.Cells ?? Enumerable.Range(0, im.Count).Select(i => (i / (gh * gw), i / gw % gh, i % gw)).ToArray();
            // Spatial rules (window FastV) read one 2-D grid per image; frames past the first have none.
            var layout = new VisualLayout([new PatchGrid(gh, gw)], cells.Select(c => c.Item1 == 0 ? new GridCell(0, c.Item2, c.Item3) : GridCell.None).ToArray());
            spans.Add(new ImageSpan(start, im.Count, layout));
            mrope.Add(new MropeImage(start, im.Count, im.Grid.T, gh, gw, im.Cells));
            at = start + length;
        }
        Decoder.Embed(ids.AsSpan(at), emb.AsSpan(at * d));
        return new SplicedSequence
        {
            Embeddings = emb, Length = ids.Length, Positions = Enumerable.Range(0, ids.Length).ToArray(), InputIds = ids, Images = spans,
            Mrope = MropeIndex.Build(ids.Length, mrope),
        };
    }

    public void Dispose() => Weights.Dispose();
}
