using System.Numerics.Tensors;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Numerics;

namespace TokenSieve.Models;

/// <summary>Qwen2-VL's vision tower (Qwen2VisionTransformerPretrainedModel, transformers 4.45):
/// <list type="number">
/// <item>PatchEmbed: a Conv3d with stride = kernel = (T, P, P) and no bias, i.e. each flattened patch row
/// times the kernel reshaped to [E, C·T·P·P];</item>
/// <item>blocks: x + proj(attn(norm1 x)), x + fc2(act(fc1(norm2 x))), LayerNorms with eps 1e-6, a fused
/// qkv (q | k | v along its outputs), the 2-D rotary on q and k (angles h·inv | w·inv of the patch's
/// place in its grid), scale head_dim^−½, attention only within each image (cu_seqlens), no mask;</item>
/// <item>PatchMerger: ln_q per patch, each merge window's rows (consecutive: the processor emits them in
/// window order) side by side, Linear → exact-erf GELU → Linear to the decoder width.</item>
/// </list>
/// Several images go through one forward; the tower has no [CLS] token and no feature-layer
/// choice. Hooks see each block's post-rotary queries and keys per image and every hidden state.</summary>
public sealed class Qwen2VlVisionTower
{
    sealed record Block(NormWeights Norm1, Linear Qkv, Linear Proj, NormWeights Norm2, Linear Fc1, Linear Fc2);

    public Qwen2VlVisionConfig Config { get; }

    readonly Linear _patchEmbed;
    readonly Block[] _blocks;
    readonly NormWeights _mergerNorm;
    readonly Projector _mergerMlp;
    readonly SectionedRope _rotary;

    float[] _x = [], _xn = [], _qkv = [], _att = [], _mlp = [], _q = [], _k = [];

    internal Qwen2VlVisionTower(ITensorSource source, Qwen2VlVisionConfig config)
    {
        Config = config;
        int e = config.EmbedDim, m = config.MlpHiddenSize, merged = config.MergedDim;
        _patchEmbed = new Linear(source.Get(Qwen2VlSchema.PatchEmbed).ExpectShape(e, config.InChannels, config.TemporalPatchSize, config.PatchSize, config.PatchSize).AsMatrix(), null);
        _blocks = new Block[config.Depth];
        for (int i = 0; i < _blocks.Length; i++)
        {
            var n = Qwen2VlSchema.Block(i);
            _blocks[i] = new Block(
                NormWeights.LoadLayerNorm(source, n.Norm1, e, Qwen2VlVisionConfig.LayerNormEps),
                Linear.Load(source, n.Qkv, 3 * e, e, true),
                Linear.Load(source, n.Proj, e, e, true),
                NormWeights.LoadLayerNorm(source, n.Norm2, e, Qwen2VlVisionConfig.LayerNormEps),
                Linear.Load(source, n.Fc1, m, e, true),
                Linear.Load(source, n.Fc2, e, m, true));
        }
        _mergerNorm = NormWeights.LoadLayerNorm(source, Qwen2VlSchema.MergerNorm, e, Qwen2VlVisionConfig.LayerNormEps);
        _mergerMlp = new Projector(source, Qwen2VlSchema.MergerFc1, Qwen2VlSchema.MergerFc2, merged, merged, config.HiddenSize, true);
        // VisionRotaryEmbedding(head_dim / 2): inv over head_dim/2, used once for rows and once for columns.
        var inv = SectionedRope.InverseFrequencies(config.HeadDim / 2, Qwen2VlVisionConfig.RotaryTheta);
        _rotary = new SectionedRope([.. inv, .. inv], [inv.Length, inv.Length]);
    }

    /// <summary>What the tower is, for methods: no [CLS]; <see cref="VisionTowerInfo.GridHeight"/> and
    /// width are those of one image's merged grid.</summary>
    public VisionTowerInfo Info(Qwen2VlGrid grid) => new()
    {
        Layers = Config.Depth, FeatureIndex = Config.Depth, Channels = Config.EmbedDim, Heads = Config.NumHeads, HasClassToken = false,
        GridHeight = grid.H / Config.SpatialMergeSize, GridWidth = grid.W / Config.SpatialMergeSize,
    };

    /// <summary>Checks one image's grid against the tower: whole merge windows.</summary>
    public void CheckGrid(Qwen2VlGrid grid)
    {
        int s = Config.SpatialMergeSize;
        if (grid.T < 1 || grid.H < 1 || grid.W < 1 || grid.H % s != 0 || grid.W % s != 0)
            throw new InvalidInputException($"image grid (t {grid.T}, h {grid.H}, w {grid.W}) must be positive with h and w multiples of spatial_merge_size {s}");
    }

    /// <summary>(h, w) of every patch row in the processor's merge-window order, images one after another,
    /// axis-major [2, N] as the rotary takes them.</summary>
    public int[] PatchCoordinates(IReadOnlyList<Qwen2VlGrid> grids)
    {
        int n = grids.Sum(g => g.PatchCount), s = Config.SpatialMergeSize, row = 0;
        var c = new int[2 * n];
        foreach (var g in grids)
        {
            int windowsW = g.W / s;
            for (int t = 0; t < g.T; t++)
                for (int p = 0; p < g.H * g.W; p++, row++)
                {
                    int window = p / (s * s), inWindow = p % (s * s);
                    c[row] = window / windowsW * s + inWindow / s;
                    c[n + row] = window % windowsW * s + inWindow % s;
                }
        }
        return c;
    }

    /// <summary>The rotary angles of every patch, [N, head_dim/2] (h·inv | w·inv), as transformers'
    /// <c>rot_pos_emb</c> returns them (parity dumps).</summary>
    public float[] RotaryAngles(IReadOnlyList<Qwen2VlGrid> grids)
    {
        var c = PatchCoordinates(grids);
        int n = c.Length / 2;
        var inv = SectionedRope.InverseFrequencies(Config.HeadDim / 2, Qwen2VlVisionConfig.RotaryTheta);
        var angles = new float[n * 2 * inv.Length];
        for (int r = 0; r < n; r++)
            for (int i = 0; i < inv.Length; i++)
            {
                angles[r * 2 * inv.Length + i] = c[r] * inv[i];
                angles[r * 2 * inv.Length + inv.Length + i] = c[n + r] * inv[i];
            }
        return angles;
    }

    void EnsureWorkspace(int rows)
    {
        int e = Config.EmbedDim;
        if (_x.Length >= rows * e) return;
        _x = new float[rows * e];
        _xn = new float[rows * e];
        _qkv = new float[rows * 3 * e];
        _att = new float[rows * e];
        _mlp = new float[rows * Config.MlpHiddenSize];
    }

    /// <summary>Runs the tower on flattened patches [N, PatchLength] of the images with these grids (rows
    /// in merge-window order, images one after another) and returns the merged visual tokens
    /// [N / merge², HiddenSize], images one after another: <see cref="Encode"/> then <see cref="Merge"/>.</summary>
    public float[] Forward(ComputeContext ctx, ReadOnlySpan<float> patches, IReadOnlyList<Qwen2VlGrid> grids, IVisionHook? hook = null, CancellationToken cancel = default)
    {
        var hidden = Encode(ctx, patches, grids, hook, cancel);
        return Merge(ctx, hidden, hidden.Length / Config.EmbedDim);
    }

    /// <summary>PatchEmbed and every block: the last block's output [N, E]. A <paramref name="hook"/> may
    /// watch every hidden state (0 = PatchEmbed output, i + 1 = output of block i) and each image's
    /// post-rotary queries and keys in the blocks it observes.</summary>
    public float[] Encode(ComputeContext ctx, ReadOnlySpan<float> patches, IReadOnlyList<Qwen2VlGrid> grids, IVisionHook? hook = null, CancellationToken cancel = default)
    {
        var cfg = Config;
        if (grids.Count == 0) throw new InvalidInputException("the vision tower needs at least one image");
        foreach (var g in grids) CheckGrid(g);
        long total = grids.Sum(g => (long)g.PatchCount);
        if (total * Math.Max(3L * cfg.EmbedDim, cfg.MlpHiddenSize) > Array.MaxLength)
            throw new InvalidInputException($"{total} patches are too many for one vision forward");
        int n = (int)total, e = cfg.EmbedDim;
        if (patches.Length != (long)n * cfg.PatchLength)
            throw new InvalidInputException($"pixel values have {patches.Length} values, the grids need [{n},{cfg.PatchLength}] = {(long)n * cfg.PatchLength}");
        EnsureWorkspace(n);
        var x = _x.AsSpan(0, n * e);
        _patchEmbed.Forward(ctx, patches, n, x);
        bool states = hook?.ObservesHiddenStates == true;
        if (states) hook!.OnHiddenState(0, x, n);
        var table = _rotary.Table(PatchCoordinates(grids), n);
        for (int l = 0; l < _blocks.Length; l++)
        {
            cancel.ThrowIfCancellationRequested();
            RunBlock(ctx, l, n, grids, table, hook);
            if (states) hook!.OnHiddenState(l + 1, x, n);
        }
        return x.ToArray();
    }

    /// <summary>The PatchMerger on hidden rows [rows, E] (rows a multiple of merge²): ln_q, windows side
    /// by side, Linear, GELU, Linear. <paramref name="normed"/> [rows, E] and <paramref name="hiddenLayer"/>
    /// [rows / merge², merge²·E] (before the GELU) receive the intermediates when given (parity dumps).</summary>
    public float[] Merge(ComputeContext ctx, ReadOnlySpan<float> hidden, int rows, float[]? normed = null, float[]? hiddenLayer = null)
    {
        var cfg = Config;
        int e = cfg.EmbedDim, unit = cfg.MergeUnit;
        if (rows % unit != 0) throw new InvalidInputException($"{rows} patch rows are not whole merge windows of {unit}");
        int tokens = rows / unit;
        var ln = normed ?? new float[rows * e];
        _mergerNorm.LayerNorm(hidden.Slice(0, rows * e), rows, ln);
        // [rows, E] read as [rows / merge², merge²·E]: a window's rows are consecutive.
        var output = new float[tokens * cfg.HiddenSize];
        _mergerMlp.Forward(ctx, ln.AsSpan(0, rows * e), tokens, output, linear1: hiddenLayer);
        return output;
    }

    void RunBlock(ComputeContext ctx, int l, int n, IReadOnlyList<Qwen2VlGrid> grids, float[] table, IVisionHook? hook)
    {
        var cfg = Config;
        int e = cfg.EmbedDim, heads = cfg.NumHeads, hd = cfg.HeadDim, e3 = 3 * e;
        var b = _blocks[l];
        var x = _x.AsSpan(0, n * e);
        var xn = _xn.AsSpan(0, n * e);
        var qkv = _qkv.AsSpan(0, n * e3);
        b.Norm1.LayerNorm(x, n, xn);
        b.Qkv.Forward(ctx, xn, n, qkv);
        SectionedRope.Rotate(ctx, qkv, n, e3, heads, hd, table);
        SectionedRope.Rotate(ctx, qkv[e..], n, e3, heads, hd, table);
        int start = 0;
        for (int i = 0; i < grids.Count; i++)
        {
            int rows = grids[i].PatchCount;
            var shape = new AttentionShape(rows, rows, heads, heads, hd, 1f / MathF.Sqrt(hd), Causal: false);
            var q = qkv.Slice(start * e3);
            if (hook is not null && hook.Observes(l)) hook.OnAttention(View(ctx, l, i, rows, q, shape));
            Attention.Forward(ctx, q, e3, q[e..], q[(2 * e)..], e3, _att.AsSpan(start * e), e, shape);
            start += rows;
        }
        b.Proj.Forward(ctx, _att.AsSpan(0, n * e), n, xn);
        TensorPrimitives.Add(x, xn, x);
        b.Norm2.LayerNorm(x, n, xn);
        var mlp = _mlp.AsSpan(0, n * cfg.MlpHiddenSize);
        b.Fc1.Forward(ctx, xn, n, mlp);
        if (cfg.HiddenAct == "quick_gelu") Activations.QuickGelu(mlp);
        else Activations.GeluErf(mlp);
        b.Fc2.Forward(ctx, mlp, n, xn);
        TensorPrimitives.Add(x, xn, x);
    }

    /// <summary>One image's post-rotary queries and keys, copied out of the strided qkv rows.</summary>
    VisionAttentionView View(ComputeContext ctx, int layer, int image, int rows, ReadOnlySpan<float> qkv, AttentionShape shape)
    {
        int e = Config.EmbedDim;
        if (_q.Length < rows * e) { _q = new float[rows * e]; _k = new float[rows * e]; }
        for (int r = 0; r < rows; r++)
        {
            qkv.Slice(r * 3 * e, e).CopyTo(_q.AsSpan(r * e, e));
            qkv.Slice(r * 3 * e + e, e).CopyTo(_k.AsSpan(r * e, e));
        }
        return new VisionAttentionView
        {
            Layer = layer, Image = image, Tokens = rows, Channels = e, Heads = Config.NumHeads,
            Queries = _q.AsSpan(0, rows * e), Keys = _k.AsSpan(0, rows * e), Shape = shape, Compute = ctx,
        };
    }
}
