using TokenSieve.Models;
using TokenSieve.Pruning;

namespace TokenSieve.Tests.Pruning;

/// <summary>What a naive method sees at a boundary: the prompt part of the sequence (generated rows,
/// if any, are excluded; they always survive), with layer K−1's materialised attention.</summary>
public sealed record NaiveState(int Layer, double[][] Hidden, int[] Positions, int ImageStart, int ImageCount, double[,,] Attention, double[][] Keys, NaiveLlama Model)
{
    public int Length => Hidden.Length;
    public int TextStart => ImageStart + ImageCount;

    /// <summary>Mean over heads of attention row i, over all columns.</summary>
    public double[] HeadMean(int i)
    {
        int heads = Attention.GetLength(0);
        var r = new double[Length];
        for (int j = 0; j < Length; j++)
        {
            double s = 0;
            for (int h = 0; h < heads; h++) s += Attention[h, i, j];
            r[j] = s / heads;
        }
        return r;
    }
}

public abstract class NaiveMethod
{
    public abstract int[] Boundaries { get; }
    public abstract PositionPolicy Policy { get; }
    public virtual void Begin(double[][] embeddings, int imageStart, int imageCount) { }
    /// <summary>Rows of the prompt part to keep (ascending) and merged rows inserted after the kept visual tokens.</summary>
    public abstract (int[] Keep, double[][] Inserted) Decide(NaiveState s);

    /// <summary>Top-k by value descending, ties by lower index (METHODS.md §0.3).</summary>
    public static int[] TopK(IReadOnlyList<double> values, int k) =>
        Enumerable.Range(0, values.Count).OrderByDescending(i => values[i]).ThenBy(i => i).Take(k).ToArray();

    protected static int[] Assemble(NaiveState s, IEnumerable<int> keptVisualRows) =>
        Enumerable.Range(0, s.ImageStart).Concat(keptVisualRows.Order()).Concat(Enumerable.Range(s.TextStart, s.Length - s.TextStart)).ToArray();
}

/// <summary>The result of a naive forward over prompt (+ generated tokens).</summary>
public sealed record NaiveRun(double[][] Logits, int[] OriginalIndices, int[] TokensPerLayer, int[] Positions);

public static class NaivePipeline
{
    /// <summary>Runs the whole decoder with no cache over the prompt embeddings followed by the
    /// generated tokens, applying the method at its boundaries to the prompt part only. With no
    /// generated tokens this is the prefill; with some, it recomputes the pruned sequence from
    /// scratch, the reference that cached decoding must match.</summary>
    public static NaiveRun Run(NaiveLlama model, double[][] prompt, int imageStart, int imageCount, int[] generated, NaiveMethod? method)
    {
        var x = prompt.Select(r => (double[])r.Clone()).Concat(generated.Select(model.EmbedToken)).ToArray();
        int n = x.Length, promptLength = prompt.Length;
        var positions = Enumerable.Range(0, n).ToArray();
        var original = Enumerable.Range(0, n).ToArray();
        var tokens = new int[model.LayerCount];
        method?.Begin(prompt, imageStart, imageCount);
        for (int l = 0; l < model.LayerCount; l++)
        {
            tokens[l] = x.Length;
            var (output, attn, keys) = model.RunLayer(l, x, positions);
            x = output;
            if (method is null || !method.Boundaries.Contains(l + 1)) continue;
            var state = new NaiveState(l + 1, x[..promptLength], positions[..promptLength], imageStart, imageCount, attn, keys[..promptLength], model);
            var (keep, inserted) = method.Decide(state);
            int textStart = imageStart + imageCount;
            int insertAt = keep.Count(r => r < textStart);
            var rows = new List<double[]>();
            var pos = new List<int>();
            var orig = new List<int>();
            for (int i = 0; i < keep.Length; i++)
            {
                if (i == insertAt)
                    foreach (var m in inserted) { rows.Add(m); pos.Add(-1); orig.Add(-1); }
                rows.Add(x[keep[i]]); pos.Add(positions[keep[i]]); orig.Add(original[keep[i]]);
            }
            int keptVisual = keep.Count(r => r >= imageStart && r < textStart);
            promptLength = rows.Count;
            for (int i = state.Length; i < x.Length; i++) { rows.Add(x[i]); pos.Add(positions[i]); orig.Add(original[i]); }
            x = rows.ToArray();
            positions = method.Policy == PositionPolicy.Renumber ? Enumerable.Range(0, x.Length).ToArray() : pos.ToArray();
            original = orig.ToArray();
            imageCount = keptVisual + inserted.Length;
        }
        return new NaiveRun(x.Select(model.Logits).ToArray(), original, tokens, positions);
    }
}

/// <summary>FastV in-place, §9: head-mean attention of the last prompt row of layer K−1 over the image span.</summary>
public sealed class NaiveFastV(int k, int keep) : NaiveMethod
{
    public override int[] Boundaries => [k];
    public override PositionPolicy Policy => PositionPolicy.KeepOriginal;

    public override (int[] Keep, double[][] Inserted) Decide(NaiveState s)
    {
        var row = s.HeadMean(s.Length - 1);
        var g = Enumerable.Range(0, s.ImageCount).Select(j => row[s.ImageStart + j]).ToArray();
        return (Assemble(s, TopK(g, keep).Select(j => s.ImageStart + j)), []);
    }
}

/// <summary>PyramidDrop, §11: last row's softmax with the next layer's norm/q/k at the current positions.</summary>
public sealed class NaivePyramidDrop(int[] layers, double[] ratios) : NaiveMethod
{
    int _nv0;
    public override int[] Boundaries => layers;
    public override PositionPolicy Policy => PositionPolicy.Renumber;
    public override void Begin(double[][] embeddings, int imageStart, int imageCount) => _nv0 = imageCount;

    public override (int[] Keep, double[][] Inserted) Decide(NaiveState s)
    {
        var m = s.Model;
        var w = m.Layer[s.Layer];
        int stage = Array.IndexOf(layers, s.Layer), n = s.Length, hd = m.HeadDim, group = m.Heads / m.KvHeads;
        int next = (int)(_nv0 * ratios[stage]);
        var q = m.Rope(NaiveLlama.MatVec(w.Q, m.RmsNorm(s.Hidden[n - 1], w.InputNorm)), s.Positions[n - 1]);
        var keys = Enumerable.Range(0, n).Select(i => m.Rope(NaiveLlama.MatVec(w.K, m.RmsNorm(s.Hidden[i], w.InputNorm)), s.Positions[i])).ToArray();
        var mean = new double[n];
        for (int h = 0; h < m.Heads; h++)
        {
            int g = h / group;
            var logit = new double[n];
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int t = 0; t < hd; t++) dot += q[h * hd + t] * keys[j][g * hd + t];
                logit[j] = dot / Math.Sqrt(hd);
            }
            double max = logit.Max(), sum = logit.Sum(z => Math.Exp(z - max));
            for (int j = 0; j < n; j++) mean[j] += Math.Exp(logit[j] - max) / sum / m.Heads;
        }
        var g2 = Enumerable.Range(0, s.ImageCount).Select(j => mean[s.ImageStart + j]).ToArray();
        return (Assemble(s, TopK(g2, next).Select(j => s.ImageStart + j)), []);
    }
}

/// <summary>SparseVLM v1.5, §10, with the DPC-kNN distance matrix materialised as in the reference.</summary>
public sealed class NaiveSparseVlm(int[] pruneLayers, int[] budgets) : NaiveMethod
{
    int[] _raters = [];
    public override int[] Boundaries => pruneLayers.Select(l => l + 1).ToArray();
    public override PositionPolicy Policy => PositionPolicy.Renumber;
    public int[] Raters => _raters;

    public override void Begin(double[][] e, int s, int nv)
    {
        int tau = s + nv, nt = e.Length - tau;
        var r = new double[nt];
        for (int v = 0; v < nv; v++)
        {
            var g = Enumerable.Range(0, nt).Select(t => e[s + v].Zip(e[tau + t], (a, b) => a * b).Sum()).ToArray();
            double max = g.Max(), sum = g.Sum(z => Math.Exp(z - max));
            for (int t = 0; t < nt; t++) r[t] += Math.Exp(g[t] - max) / sum / nv;
        }
        double mean = r.Average();
        _raters = Enumerable.Range(0, nt).Where(t => r[t] > mean).ToArray();
    }

    public override (int[] Keep, double[][] Inserted) Decide(NaiveState s)
    {
        int stage = Array.IndexOf(Boundaries, s.Layer), nv = s.ImageCount;
        var rel = new double[nv];
        foreach (int t in _raters)
        {
            var row = s.HeadMean(s.TextStart + t);
            for (int j = 0; j < nv; j++) rel[j] += row[s.ImageStart + j] / _raters.Length;
        }
        var kept = TopK(rel, Math.Min(budgets[stage], nv - 1));
        var pruned = Enumerable.Range(0, nv).Except(kept).Order().ToArray();
        int q = (int)(pruned.Length * 0.3) + 1;
        var chosen = TopK(pruned.Select(j => rel[j]).ToArray(), q).Select(i => pruned[i]).ToArray();
        int c = q / 10 + 1;
        var merged = ClusterAndMerge(chosen.Select(j => s.Hidden[s.ImageStart + j]).ToArray(), c);
        return (Assemble(s, kept.Select(j => s.ImageStart + j)), merged);
    }

    public static double[][] ClusterAndMerge(double[][] x, int c)
    {
        int n = x.Length, dim = x[0].Length;
        var dist = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                dist[i, j] = Math.Sqrt(x[i].Zip(x[j], (a, b) => (a - b) * (a - b)).Sum()) / Math.Sqrt(dim);
        var density = new double[n];
        for (int i = 0; i < n; i++)
            density[i] = Math.Exp(-Enumerable.Range(0, n).Select(j => dist[i, j]).Order().Take(c).Select(z => z * z).Average());
        double distMax = dist.Cast<double>().Max();
        var score = new double[n];
        for (int i = 0; i < n; i++)
        {
            double delta = distMax;
            for (int j = 0; j < n; j++) if (density[j] > density[i]) delta = Math.Min(delta, dist[i, j]);
            score[i] = delta * density[i];
        }
        var centres = TopK(score, c);
        var cluster = new int[n];
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            for (int k = 1; k < c; k++) if (dist[centres[k], i] < dist[centres[best], i]) best = k;
            cluster[i] = best;
        }
        for (int k = 0; k < c; k++) cluster[centres[k]] = k;
        var merged = new double[c][];
        for (int k = 0; k < c; k++)
        {
            var members = Enumerable.Range(0, n).Where(i => cluster[i] == k).ToArray();
            merged[k] = Enumerable.Range(0, dim).Select(t => members.Sum(i => x[i][t]) / (members.Length + 1e-6)).ToArray();
        }
        return merged;
    }
}

/// <summary>DART, §8: L1 norms of the post-RoPE keys of layer K−1, pivots in CPython set order, greedy
/// exclusive claims of the least-similar (final-norm cosine) visual tokens.</summary>
public sealed class NaiveDart(int k, int maxTokens, int pv = 4, int pt = 4) : NaiveMethod
{
    public override int[] Boundaries => [k];
    public override PositionPolicy Policy => PositionPolicy.KeepOriginal;

    public override (int[] Keep, double[][] Inserted) Decide(NaiveState s)
    {
        var l1 = s.Keys.Select(key => key.Sum(Math.Abs)).ToArray();
        var image = TopK(l1[s.ImageStart..s.TextStart], pv).Select(j => s.ImageStart + j).ToList();
        var text = TopK(l1[s.TextStart..], pt).Select(j => s.TextStart + j).ToList();
        var order = CPythonSetOrder.Of(image.Concat(text));
        var normed = s.Hidden.Select(h => s.Model.RmsNorm(h, s.Model.FinalNorm)).ToArray();
        var pool = Enumerable.Range(s.ImageStart, s.ImageCount).Except(image).ToList();
        var retained = new HashSet<int>(image.Concat(text));
        int tau = maxTokens / (pv + pt);
        foreach (int pivot in order)
        {
            var negCos = pool.Select(u => -Cos(normed[pivot], normed[u])).ToArray();
            var picks = TopK(negCos, tau).Select(i => pool[i]).ToArray();
            retained.UnionWith(picks);
            pool.RemoveAll(picks.Contains);
        }
        retained.ExceptWith(text);
        return (Assemble(s, retained), []);
    }

    static double Cos(double[] a, double[] b)
    {
        double dot = a.Zip(b, (x, y) => x * y).Sum(), na = Math.Sqrt(a.Sum(x => x * x)), nb = Math.Sqrt(b.Sum(x => x * x));
        return dot / (Math.Max(na, 1e-8) * Math.Max(nb, 1e-8));
    }
}
