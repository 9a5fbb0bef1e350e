using TokenSieve.Checkpoints;

namespace TokenSieve.Tests.Pruning;

/// <summary>A deliberately plain LLaMA forward for the pruning tests: double precision, nested
/// loops, and the full softmax attention matrix of every layer materialised ([heads, n, n]). It
/// shares no code with the engine (weights are read straight from the safetensors file), so the
/// engine's fused attention, row taps and cache can be checked against it.</summary>
public sealed class NaiveLlama
{
    public int D { get; }
    public int Heads { get; }
    public int KvHeads { get; }
    public int HeadDim => D / Heads;
    public int KvDim => KvHeads * HeadDim;
    public int M { get; }
    public int Vocab { get; }
    public int LayerCount { get; }
    readonly double _eps;
    readonly float[] _invFreq;

    public sealed record LayerWeights(double[] InputNorm, double[,] Q, double[,] K, double[,] V, double[,] O, double[] PostNorm, double[,] Gate, double[,] Up, double[,] Down);

    public LayerWeights[] Layer { get; }
    public double[,] Embed { get; }
    public double[] FinalNorm { get; }
    public double[,] LmHead { get; }

    public NaiveLlama(string folder)
    {
        var cfg = LlavaConfig.Load(Path.Combine(folder, "config.json")).Text;
        D = cfg.HiddenSize; Heads = cfg.NumAttentionHeads; KvHeads = cfg.NumKeyValueHeads; M = cfg.IntermediateSize;
        Vocab = cfg.VocabSize; LayerCount = cfg.NumHiddenLayers; _eps = cfg.RmsNormEps;
        // inv_freq in float32, as transformers computes it.
        _invFreq = new float[HeadDim / 2];
        for (int i = 0; i < _invFreq.Length; i++) _invFreq[i] = 1f / MathF.Pow(cfg.RopeTheta, (float)(2 * i) / HeadDim);
        using var f = SafetensorsFile.Open(Path.Combine(folder, "model.safetensors"));
        double[,] Mat(string name, int rows, int cols)
        {
            var v = f.Get(name).ToFloats();
            var a = new double[rows, cols];
            for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) a[r, c] = v[r * cols + c];
            return a;
        }
        double[] Vec(string name) => f.Get(name).ToFloats().Select(x => (double)x).ToArray();
        Embed = Mat(TensorNames.EmbedTokens, Vocab, D);
        FinalNorm = Vec(TensorNames.FinalNorm);
        LmHead = Mat(TensorNames.LmHead, Vocab, D);
        Layer = new LayerWeights[LayerCount];
        for (int l = 0; l < LayerCount; l++)
        {
            string p = TensorNames.LlmLayer(l);
            Layer[l] = new LayerWeights(Vec(p + "input_layernorm.weight"), Mat(p + "self_attn.q_proj.weight", D, D), Mat(p + "self_attn.k_proj.weight", KvDim, D),
                Mat(p + "self_attn.v_proj.weight", KvDim, D), Mat(p + "self_attn.o_proj.weight", D, D), Vec(p + "post_attention_layernorm.weight"),
                Mat(p + "mlp.gate_proj.weight", M, D), Mat(p + "mlp.up_proj.weight", M, D), Mat(p + "mlp.down_proj.weight", D, M));
        }
    }

    public double[] EmbedToken(int id) => Enumerable.Range(0, D).Select(c => Embed[id, c]).ToArray();

    public double[] RmsNorm(double[] x, double[] w)
    {
        double ss = 0;
        foreach (double t in x) ss += t * t;
        double inv = 1 / Math.Sqrt(ss / x.Length + _eps);
        return x.Select((t, i) => w[i] * t * inv).ToArray();
    }

    /// <summary>y = W·x for W [out, in].</summary>
    public static double[] MatVec(double[,] w, double[] x)
    {
        var y = new double[w.GetLength(0)];
        for (int o = 0; o < y.Length; o++)
        {
            double s = 0;
            for (int i = 0; i < x.Length; i++) s += w[o, i] * x[i];
            y[o] = s;
        }
        return y;
    }

    /// <summary>HF rotate_half RoPE of every head in v (length heads·HeadDim), at position pos.</summary>
    public double[] Rope(double[] v, int pos)
    {
        var r = (double[])v.Clone();
        int half = HeadDim / 2;
        for (int h = 0; h < v.Length / HeadDim; h++)
            for (int i = 0; i < half; i++)
            {
                double angle = pos * _invFreq[i];
                double c = Math.Cos(angle), s = Math.Sin(angle);
                double a = v[h * HeadDim + i], b = v[h * HeadDim + i + half];
                r[h * HeadDim + i] = a * c - b * s;
                r[h * HeadDim + i + half] = b * c + a * s;
            }
        return r;
    }

    /// <summary>One decoder layer over the whole sequence (causal, no cache).</summary>
    public (double[][] Output, double[,,] Attention, double[][] Keys) RunLayer(int l, double[][] x, int[] positions)
    {
        var w = Layer[l];
        int n = x.Length, hd = HeadDim, group = Heads / KvHeads;
        var q = new double[n][];
        var k = new double[n][];
        var v = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var xn = RmsNorm(x[i], w.InputNorm);
            q[i] = Rope(MatVec(w.Q, xn), positions[i]);
            k[i] = Rope(MatVec(w.K, xn), positions[i]);
            v[i] = MatVec(w.V, xn);
        }
        var attn = new double[Heads, n, n];
        var output = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var o = new double[D];
            for (int h = 0; h < Heads; h++)
            {
                int g = h / group;
                var logits = new double[i + 1];
                for (int j = 0; j <= i; j++)
                {
                    double s = 0;
                    for (int t = 0; t < hd; t++) s += q[i][h * hd + t] * k[j][g * hd + t];
                    logits[j] = s / Math.Sqrt(hd);
                }
                double max = logits.Max(), sum = 0;
                for (int j = 0; j <= i; j++) sum += Math.Exp(logits[j] - max);
                for (int j = 0; j <= i; j++) attn[h, i, j] = Math.Exp(logits[j] - max) / sum;
                for (int j = 0; j <= i; j++)
                    for (int t = 0; t < hd; t++) o[h * hd + t] += attn[h, i, j] * v[j][g * hd + t];
            }
            var attnOut = MatVec(w.O, o);
            var h1 = x[i].Select((t, c) => t + attnOut[c]).ToArray();
            var hn = RmsNorm(h1, w.PostNorm);
            var gate = MatVec(w.Gate, hn);
            var up = MatVec(w.Up, hn);
            var act = gate.Select((g, c) => g / (1 + Math.Exp(-g)) * up[c]).ToArray();
            var down = MatVec(w.Down, act);
            output[i] = h1.Select((t, c) => t + down[c]).ToArray();
        }
        return (output, attn, k);
    }

    public double[] Logits(double[] hidden) => MatVec(LmHead, RmsNorm(hidden, FinalNorm));
}
