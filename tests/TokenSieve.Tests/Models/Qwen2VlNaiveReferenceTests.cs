using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Models;

/// <summary>Shapes the fixture does not have, checked against a naive float64 Qwen2-VL written here from the
/// architecture's description (loops, no shared code with the engine): other patch, merge and temporal
/// sizes, vision head dims, activations, M-RoPE sections, GQA ratios, rope θ, pixel bounds, tied and untied
/// lm_head, two images of different sizes, and greedy decoding by recomputing the whole sequence each step
/// with get_rope_index over prompt + generated ids (so the decode-time rope_deltas rule is checked, not
/// assumed). Weights are random (synthetic checkpoints). Tolerance: 1e-4 of max(1, max|ref|), the fixture's
/// (fp32 engine against a float64 reference); positions and greedy ids exact.</summary>
public sealed class Qwen2VlNaiveReferenceTests
{
    public sealed record Shape(string Name, Qwen2VlConfig Config, int MinPixels, int MaxPixels, (int W, int H)[] Images);

    static Qwen2VlConfig Config(Qwen2VlVisionConfig v, LlamaConfig t, int image, int start) =>
        new(v, t, ImageTokenId: image, VideoTokenId: image + 1, VisionStartTokenId: start, VisionEndTokenId: start + 1, Defaulted: [], IgnoredKeys: [], File: null);

    public static TheoryData<string> ShapeNames => new() { "gqa5to1-sections121-gelu-patch7", "merge3-temporal1-sections111-tied" };

    static Shape Get(string name) => name switch
    {
        // patch 7, merge 2 (factor 14), temporal 2; vision 48 wide, 3 heads (hd 16), gelu, mlp x2; decoder 40 wide,
        // 5 query heads / 1 kv head (hd 8), sections [1,2,1], θ 500, untied lm_head.
        "gqa5to1-sections121-gelu-patch7" => new(name, Config(
            new Qwen2VlVisionConfig(2, 48, 40, "gelu", 2, 3, 3, 7, 2, 2),
            new LlamaConfig(96, 40, 72, 3, 5, 1, "silu", 512, 1e-5f, 500f, 80, 81, false) { AttentionBias = true, MropeSection = [1, 2, 1] }, 90, 86),
            14 * 14 * 4, 14 * 14 * 30, [(50, 30), (23, 61)]),
        // patch 4, merge 3 (factor 12), temporal 1; vision 16 wide, 2 heads (hd 8), quick_gelu, mlp x3; decoder 24
        // wide, 4 query / 2 kv heads (hd 6), sections [1,1,1], θ 10000, tied lm_head.
        "merge3-temporal1-sections111-tied" => new(name, Config(
            new Qwen2VlVisionConfig(1, 16, 24, "quick_gelu", 3, 2, 3, 4, 3, 1),
            new LlamaConfig(64, 24, 40, 2, 4, 2, "silu", 512, 1e-6f, 10000f, 50, 51, true) { AttentionBias = true, MropeSection = [1, 1, 1] }, 60, 56),
            144 * 2, 144 * 12, [(40, 25), (13, 70)]),
        _ => throw new ArgumentException(name),
    };

    static RgbImage RandomImage(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var px = new byte[w * h * 3];
        rng.NextBytes(px);
        return new RgbImage(w, h, px);
    }

    [Theory]
    [MemberData(nameof(ShapeNames))]
    public void Engine_matches_a_naive_float64_reference(string shapeName)
    {
        var shape = Get(shapeName);
        var c = shape.Config;
        using var dir = TestData.TempDir();
        Qwen2VlSynthetic.Write(dir.Path, shape.Name, c, DType.F32, seed: 5, minPixels: shape.MinPixels, maxPixels: shape.MaxPixels);
        using var model = Qwen2VlModel.Load(dir.Path);
        var pipeline = new Qwen2VlPipeline(model, new ComputeContext(2));
        var images = shape.Images.Select((s, i) => pipeline.Prepare(RandomImage(s.W, s.H, 100 + i))).ToList();
        Assert.NotEqual(images[0].Grid, images[1].Grid);

        // <bos> text <|vision_start|> pads <|vision_end|> text <|vision_start|> pads <|vision_end|> text
        var ids = new List<int> { c.Text.BosTokenId, 5, 6, c.VisionStartTokenId };
        ids.AddRange(Enumerable.Repeat(c.ImageTokenId, images[0].MergedTokenCount));
        ids.AddRange([c.VisionEndTokenId, 7, 8, 9, c.VisionStartTokenId]);
        ids.AddRange(Enumerable.Repeat(c.ImageTokenId, images[1].MergedTokenCount));
        ids.AddRange([c.VisionEndTokenId, 10, 11, 12]);
        const int steps = 4;
        var dump = Qwen2VlParityDump.Run(pipeline, images, ids.ToArray(), steps);

        var naive = new NaiveQwen2Vl(Path.Combine(dir.Path, "model.safetensors"), c);
        var grids = images.Select(i => (i.Grid.T, i.Grid.H, i.Grid.W)).ToList();
        var embeddings = naive.Vision(images.Select(i => i.PixelValues).ToList(), grids);
        Assert.True(Qwen2VlTinyParityTests.Error(ToFloat(embeddings.SelectMany(e => e).ToArray()), dump["vision.merger.output"].Values) <= 1e-4, "vision.merger.output");

        var (logits, positions) = naive.Decoder(ids.ToArray(), embeddings, grids);
        Assert.Equal(positions.Select(p => (float)p), dump["llm.position_ids"].Values);
        double error = Qwen2VlTinyParityTests.Error(ToFloat(logits), dump["llm.logits"].Values);
        Assert.True(error <= 1e-4, $"llm.logits: {error:g3} of max(1, max|ref|)");

        // Greedy decoding, recomputed from scratch each step with positions from get_rope_index.
        var seq = ids.ToList();
        int v = c.Text.VocabSize;
        var stepLogits = dump["generate.step_logits"].Values;
        for (int s = 0; s < steps; s++)
        {
            var (all, _) = naive.Decoder(seq.ToArray(), embeddings, grids);
            var last = all.AsSpan((seq.Count - 1) * v, v).ToArray();
            double stepError = Qwen2VlTinyParityTests.Error(ToFloat(last), stepLogits.AsSpan(s * v, v));
            Assert.True(stepError <= 1e-4, $"step {s} logits: {stepError:g3} of max(1, max|ref|)");
            int next = Array.IndexOf(last, last.Max());
            Assert.Equal(next, (int)dump["generated_ids"].Values[s]);
            seq.Add(next);
        }
    }

    /// <summary>FastV at K = 1 on both images (keep 3 per image): the remaining rows' logits and positions
    /// against the naive model pruned the same way, each kept row keeping its original 3-D position.</summary>
    [Theory]
    [MemberData(nameof(ShapeNames))]
    public void FastV_keeps_original_mrope_positions(string shapeName)
    {
        var shape = Get(shapeName);
        var c = shape.Config;
        using var dir = TestData.TempDir();
        Qwen2VlSynthetic.Write(dir.Path, shape.Name, c, DType.F32, seed: 9, minPixels: shape.MinPixels, maxPixels: shape.MaxPixels);
        using var model = Qwen2VlModel.Load(dir.Path);
        var pipeline = new Qwen2VlPipeline(model, new ComputeContext(2));
        var images = shape.Images.Select((s, i) => pipeline.Prepare(RandomImage(s.W, s.H, 200 + i))).ToList();
        var ids = new List<int> { c.Text.BosTokenId, 5, c.VisionStartTokenId };
        ids.AddRange(Enumerable.Repeat(c.ImageTokenId, images[0].MergedTokenCount));
        ids.AddRange([c.VisionEndTokenId, 7, c.VisionStartTokenId]);
        ids.AddRange(Enumerable.Repeat(c.ImageTokenId, images[1].MergedTokenCount));
        ids.AddRange([c.VisionEndTokenId, 10, 11]);
        var dump = Qwen2VlParityDump.Run(pipeline, images, ids.ToArray(), 0, TokenSieve.Methods.MethodCatalog.ParseDecoder("fastv:k=1,keep=3"));

        var naive = new NaiveQwen2Vl(Path.Combine(dir.Path, "model.safetensors"), c);
        var grids = images.Select(i => (i.Grid.T, i.Grid.H, i.Grid.W)).ToList();
        var (logits, kept) = naive.PrunedDecoder(ids.ToArray(), naive.Vision(images.Select(i => i.PixelValues).ToList(), grids), grids, layer: 1, keepPerImage: 3);
        Assert.Equal(kept.Select(k => (float)k), dump["kept_positions"].Values);
        Assert.Equal(ids.Count - images.Sum(i => i.MergedTokenCount) + 6, kept.Length);
        double error = Qwen2VlTinyParityTests.Error(ToFloat(logits), dump["llm.logits"].Values);
        Assert.True(error <= 1e-4, $"pruned llm.logits: {error:g3} of max(1, max|ref|)");
    }

    static float[] ToFloat(double[] a) => a.Select(x => (float)x).ToArray();
}

/// <summary>Qwen2-VL in float64 loops, from the architecture's description: PatchEmbed as a matrix product
/// over flattened patches; per image, blocks of pre-norm attention (fused qkv, 2-D rotary on q and k by
/// each patch's (row, column), full attention) and MLP; PatchMerger over each merge window's rows;
/// get_rope_index by scanning the ids for vision starts; a Qwen2 decoder with q/k/v biases, M-RoPE
/// (frequency i turned by the t, h or w position its section names), GQA, causal attention, SwiGLU.</summary>
sealed class NaiveQwen2Vl
{
    readonly Dictionary<string, double[]> _w = new();
    readonly Qwen2VlConfig _c;

    public NaiveQwen2Vl(string weights, Qwen2VlConfig config)
    {
        _c = config;
        using var file = SafetensorsFile.Open(weights);
        foreach (var name in file.Names) _w[name] = file.Get(name).ToFloats().Select(x => (double)x).ToArray();
    }

    double[] W(string name) => _w[name];

    /// <summary>y[n, out] = x[n, in] W[out, in]ᵀ + b.</summary>
    static double[] Linear(double[] x, int n, double[] w, double[]? b, int outputs)
    {
        int inputs = w.Length / outputs;
        var y = new double[n * outputs];
        for (int r = 0; r < n; r++)
            for (int o = 0; o < outputs; o++)
            {
                double s = b?[o] ?? 0;
                for (int i = 0; i < inputs; i++) s += x[r * inputs + i] * w[o * inputs + i];
                y[r * outputs + o] = s;
            }
        return y;
    }

    static double[] LayerNorm(double[] x, int n, double[] g, double[] b, double eps)
    {
        int d = g.Length;
        var y = new double[x.Length];
        for (int r = 0; r < n; r++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < d; i++) mean += x[r * d + i];
            mean /= d;
            for (int i = 0; i < d; i++) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
            var /= d;
            for (int i = 0; i < d; i++) y[r * d + i] = (x[r * d + i] - mean) / Math.Sqrt(var + eps) * g[i] + b[i];
        }
        return y;
    }

    static double[] RmsNorm(double[] x, int n, double[] g, double eps)
    {
        int d = g.Length;
        var y = new double[x.Length];
        for (int r = 0; r < n; r++)
        {
            double ms = 0;
            for (int i = 0; i < d; i++) ms += x[r * d + i] * x[r * d + i];
            ms /= d;
            for (int i = 0; i < d; i++) y[r * d + i] = x[r * d + i] / Math.Sqrt(ms + eps) * g[i];
        }
        return y;
    }

    static double Erf(double x)
    {
        // The Maclaurin series (Abramowitz-Stegun 7.1.26 is too coarse for 1e-4); past |x| = 5, erf is ±1 within 2e-12.
        if (Math.Abs(x) > 5) return Math.Sign(x);
        double sum = x, term = x;
        for (int n = 1; n < 200; n++)
        {
            term *= -x * x / n;
            sum += term / (2 * n + 1);
            if (Math.Abs(term) < 1e-17) break;
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    static double QuickGelu(double x) => x / (1 + Math.Exp(-1.702 * x));

    /// <summary>Rotates one head vector v (length hd) by angles a (length hd/2) in rotate_half form.</summary>
    static void Rotate(Span<double> v, double[] a)
    {
        int half = v.Length / 2;
        for (int i = 0; i < half; i++)
        {
            double x1 = v[i], x2 = v[i + half];
            v[i] = x1 * Math.Cos(a[i]) - x2 * Math.Sin(a[i]);
            v[i + half] = x2 * Math.Cos(a[i]) + x1 * Math.Sin(a[i]);
        }
    }

    /// <summary>softmax(q·kᵀ/√hd (+ causal)) v for one head; q [n, hd], k/v [n, hd].</summary>
    static double[] Attend(double[][] q, double[][] k, double[][] v, bool causal)
    {
        int n = q.Length, hd = q[0].Length;
        var o = new double[n * hd];
        for (int i = 0; i < n; i++)
        {
            int last = causal ? i : n - 1;
            var s = new double[last + 1];
            double max = double.NegativeInfinity;
            for (int j = 0; j <= last; j++)
            {
                for (int t = 0; t < hd; t++) s[j] += q[i][t] * k[j][t];
                s[j] /= Math.Sqrt(hd);
                max = Math.Max(max, s[j]);
            }
            double sum = 0;
            for (int j = 0; j <= last; j++) sum += s[j] = Math.Exp(s[j] - max);
            for (int j = 0; j <= last; j++)
                for (int t = 0; t < hd; t++) o[i * hd + t] += s[j] / sum * v[j][t];
        }
        return o;
    }

    /// <summary>Each image's merged tokens [n/merge², D] from its flattened patches.</summary>
    public List<double[]> Vision(IReadOnlyList<float[]> pixels, IReadOnlyList<(int T, int H, int W)> grids)
    {
        var v = _c.Vision;
        int e = v.EmbedDim, heads = v.NumHeads, hd = e / heads, m = v.SpatialMergeSize;
        var result = new List<double[]>();
        for (int img = 0; img < grids.Count; img++)
        {
            var (gt, gh, gw) = grids[img];
            int n = gt * gh * gw;
            var x = Linear(pixels[img].Select(p => (double)p).ToArray(), n, W("visual.patch_embed.proj.weight"), null, e);
            // (row, column) of each patch row: windows row-major, inside a window row-major.
            var rowOf = new int[n];
            var colOf = new int[n];
            int r0 = 0;
            for (int t = 0; t < gt; t++)
                for (int wh = 0; wh < gh / m; wh++)
                    for (int ww = 0; ww < gw / m; ww++)
                        for (int mh = 0; mh < m; mh++)
                            for (int mw = 0; mw < m; mw++, r0++)
                            {
                                rowOf[r0] = wh * m + mh;
                                colOf[r0] = ww * m + mw;
                            }
            int quarter = hd / 4;
            var angles = new double[n][];
            for (int r = 0; r < n; r++)
            {
                angles[r] = new double[hd / 2];
                for (int j = 0; j < quarter; j++)
                {
                    double inv = 1 / Math.Pow(10000, 2.0 * j / (hd / 2));
                    angles[r][j] = rowOf[r] * inv;
                    angles[r][quarter + j] = colOf[r] * inv;
                }
            }
            for (int l = 0; l < v.Depth; l++)
            {
                string p = $"visual.blocks.{l}.";
                var xn = LayerNorm(x, n, W(p + "norm1.weight"), W(p + "norm1.bias"), 1e-6);
                var qkv = Linear(xn, n, W(p + "attn.qkv.weight"), W(p + "attn.qkv.bias"), 3 * e);
                var att = new double[n * e];
                for (int h = 0; h < heads; h++)
                {
                    var q = new double[n][];
                    var k = new double[n][];
                    var val = new double[n][];
                    for (int r = 0; r < n; r++)
                    {
                        q[r] = qkv.AsSpan(r * 3 * e + h * hd, hd).ToArray();
                        k[r] = qkv.AsSpan(r * 3 * e + e + h * hd, hd).ToArray();
                        val[r] = qkv.AsSpan(r * 3 * e + 2 * e + h * hd, hd).ToArray();
                        Rotate(q[r], angles[r]);
                        Rotate(k[r], angles[r]);
                    }
                    var o = Attend(q, k, val, causal: false);
                    for (int r = 0; r < n; r++) o.AsSpan(r * hd, hd).CopyTo(att.AsSpan(r * e + h * hd));
                }
                var proj = Linear(att, n, W(p + "attn.proj.weight"), W(p + "attn.proj.bias"), e);
                for (int i = 0; i < x.Length; i++) x[i] += proj[i];
                xn = LayerNorm(x, n, W(p + "norm2.weight"), W(p + "norm2.bias"), 1e-6);
                var f = Linear(xn, n, W(p + "mlp.fc1.weight"), W(p + "mlp.fc1.bias"), v.MlpHiddenSize);
                for (int i = 0; i < f.Length; i++) f[i] = v.HiddenAct == "gelu" ? Gelu(f[i]) : QuickGelu(f[i]);
                var down = Linear(f, n, W(p + "mlp.fc2.weight"), W(p + "mlp.fc2.bias"), e);
                for (int i = 0; i < x.Length; i++) x[i] += down[i];
            }
            var ln = LayerNorm(x, n, W("visual.merger.ln_q.weight"), W("visual.merger.ln_q.bias"), 1e-6);
            int unit = m * m, tokens = n / unit;
            var hidden = Linear(ln, tokens, W("visual.merger.mlp.0.weight"), W("visual.merger.mlp.0.bias"), e * unit);
            for (int i = 0; i < hidden.Length; i++) hidden[i] = Gelu(hidden[i]);
            result.Add(Linear(hidden, tokens, W("visual.merger.mlp.2.weight"), W("visual.merger.mlp.2.bias"), v.HiddenSize));
        }
        return result;
    }

    /// <summary>get_rope_index: scan for each vision start; the text before the image counts on from the
    /// last position + 1; the image's t·h·w/merge² ids get (t, h, w) on its merged grid plus that base.</summary>
    public int[] RopeIndex(int[] ids, IReadOnlyList<(int T, int H, int W)> grids)
    {
        int m = _c.Vision.SpatialMergeSize, s = ids.Length;
        var pos = new int[3, s];
        int st = 0, next = 0, image = 0;
        for (int i = 0; i < s; i++)
        {
            if (ids[i] != _c.VisionStartTokenId || i + 1 >= s || ids[i + 1] != _c.ImageTokenId) continue;
            int ed = i + 1;
            for (; st < ed; st++, next++) pos[0, st] = pos[1, st] = pos[2, st] = next;
            var (gt, gh, gw) = grids[image++];
            int lh = gh / m, lw = gw / m, max = 0;
            for (int t = 0; t < gt; t++)
                for (int h = 0; h < lh; h++)
                    for (int w = 0; w < lw; w++, st++)
                    {
                        pos[0, st] = next + t;
                        pos[1, st] = next + h;
                        pos[2, st] = next + w;
                        max = Math.Max(max, Math.Max(t, Math.Max(h, w)));
                    }
            next += max + 1;
        }
        for (; st < s; st++, next++) pos[0, st] = pos[1, st] = pos[2, st] = next;
        var flat = new int[3 * s];
        for (int a = 0; a < 3; a++)
            for (int i = 0; i < s; i++) flat[a * s + i] = pos[a, i];
        return flat;
    }

    /// <summary>Logits [S, V] of every position, and the 3-D positions used.</summary>
    public (double[] Logits, int[] Positions) Decoder(int[] ids, IReadOnlyList<double[]> images, IReadOnlyList<(int T, int H, int W)> grids)
    {
        var (logits, _, positions) = Run(ids, images, grids, null);
        return (logits, positions);
    }

    /// <summary>FastV in place: after layer K−1 the head-mean softmax row of the last position ranks each
    /// image's rows; the best <paramref name="keepPerImage"/> of each (higher score, then lower index) and all
    /// text go on to layer K with their original positions. Logits of the remaining rows and their indices.</summary>
    public (double[] Logits, int[] Kept) PrunedDecoder(int[] ids, IReadOnlyList<double[]> images, IReadOnlyList<(int T, int H, int W)> grids, int layer, int keepPerImage)
    {
        var (logits, kept, _) = Run(ids, images, grids, (layer, keepPerImage));
        return (logits, kept);
    }

    (double[] Logits, int[] Kept, int[] Positions) Run(int[] ids, IReadOnlyList<double[]> images, IReadOnlyList<(int T, int H, int W)> grids, (int Layer, int Keep)? fastV)
    {
        var t = _c.Text;
        int s = ids.Length, d = t.HiddenSize, heads = t.NumAttentionHeads, kvh = t.NumKeyValueHeads, hd = d / heads, kv = kvh * hd;
        var x = new double[s * d];
        var emb = W("model.embed_tokens.weight");
        int image = 0, row = 0;
        for (int i = 0; i < s; i++)
        {
            if (ids[i] == _c.ImageTokenId)
            {
                images[image].AsSpan(row * d, d).CopyTo(x.AsSpan(i * d));
                if (++row * d == images[image].Length) { image++; row = 0; }
            }
            else emb.AsSpan(ids[i] * d, d).CopyTo(x.AsSpan(i * d));
        }
        var positions = RopeIndex(ids, grids);
        double[]? lastRow = null;
        // M-RoPE: frequency j turns with the position of the axis whose section holds j.
        var axis = new int[hd / 2];
        for (int a = 0, j = 0; a < 3; a++)
            for (int k = 0; k < t.MropeSection![a]; k++) axis[j++] = a;
        var angles = new double[s][];
        for (int i = 0; i < s; i++)
        {
            angles[i] = new double[hd / 2];
            for (int j = 0; j < hd / 2; j++) angles[i][j] = positions[axis[j] * s + i] / Math.Pow(t.RopeTheta, 2.0 * j / hd);
        }
        var rows = Enumerable.Range(0, s).ToArray();
        for (int l = 0; l < t.NumHiddenLayers; l++)
        {
            if (fastV is { } f && l == f.Layer)
            {
                var keep = FastVKeep(ids, rows, f.Keep, lastRow!);
                x = keep.SelectMany(r => x.AsSpan(r * d, d).ToArray()).ToArray();
                angles = keep.Select(r => angles[r]).ToArray();
                rows = keep.Select(r => rows[r]).ToArray();
                s = keep.Length;
            }
            string p = $"model.layers.{l}.";
            var xn = RmsNorm(x, s, W(p + "input_layernorm.weight"), t.RmsNormEps);
            var q = Linear(xn, s, W(p + "self_attn.q_proj.weight"), W(p + "self_attn.q_proj.bias"), d);
            var k = Linear(xn, s, W(p + "self_attn.k_proj.weight"), W(p + "self_attn.k_proj.bias"), kv);
            var v = Linear(xn, s, W(p + "self_attn.v_proj.weight"), W(p + "self_attn.v_proj.bias"), kv);
            var att = new double[s * d];
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvh);
                var qh = new double[s][];
                var kh = new double[s][];
                var vh = new double[s][];
                for (int i = 0; i < s; i++)
                {
                    qh[i] = q.AsSpan(i * d + h * hd, hd).ToArray();
                    kh[i] = k.AsSpan(i * kv + g * hd, hd).ToArray();
                    vh[i] = v.AsSpan(i * kv + g * hd, hd).ToArray();
                    Rotate(qh[i], angles[i]);
                    Rotate(kh[i], angles[i]);
                }
                if (fastV is { } fv && l == fv.Layer - 1)
                {
                    // softmax of the last query over every key, averaged over heads
                    lastRow ??= new double[s];
                    var logit = new double[s];
                    for (int j = 0; j < s; j++)
                    {
                        for (int u = 0; u < hd; u++) logit[j] += qh[s - 1][u] * kh[j][u];
                        logit[j] /= Math.Sqrt(hd);
                    }
                    double max = logit.Max(), sum = logit.Sum(z => Math.Exp(z - max));
                    for (int j = 0; j < s; j++) lastRow[j] += Math.Exp(logit[j] - max) / sum / heads;
                }
                var o = Attend(qh, kh, vh, causal: true);
                for (int i = 0; i < s; i++) o.AsSpan(i * hd, hd).CopyTo(att.AsSpan(i * d + h * hd));
            }
            var proj = Linear(att, s, W(p + "self_attn.o_proj.weight"), null, d);
            for (int i = 0; i < x.Length; i++) x[i] += proj[i];
            xn = RmsNorm(x, s, W(p + "post_attention_layernorm.weight"), t.RmsNormEps);
            var gate = Linear(xn, s, W(p + "mlp.gate_proj.weight"), null, t.IntermediateSize);
            var up = Linear(xn, s, W(p + "mlp.up_proj.weight"), null, t.IntermediateSize);
            for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
            var down = Linear(gate, s, W(p + "mlp.down_proj.weight"), null, d);
            for (int i = 0; i < x.Length; i++) x[i] += down[i];
        }
        var normed = RmsNorm(x, s, W("model.norm.weight"), t.RmsNormEps);
        var head = t.TieWordEmbeddings ? emb : W("lm_head.weight");
        return (Linear(normed, s, head, null, t.VocabSize), rows, positions);
    }

    /// <summary>The rows kept by FastV: every text row, and per run of image pads the best
    /// <paramref name="keep"/> by <paramref name="score"/>, ascending.</summary>
    int[] FastVKeep(int[] ids, int[] rows, int keep, double[] score)
    {
        var result = new List<int>();
        for (int i = 0; i < rows.Length; i++)
        {
            if (ids[rows[i]] != _c.ImageTokenId) { result.Add(i); continue; }
            int end = i;
            while (end + 1 < rows.Length && ids[rows[end + 1]] == _c.ImageTokenId) end++;
            var run = Enumerable.Range(i, end - i + 1).OrderByDescending(r => score[r]).ThenBy(r => r).Take(keep);
            result.AddRange(run);
            i = end;
        }
        result.Sort();
        return result.ToArray();
    }
}
