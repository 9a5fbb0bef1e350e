using TokenSieve.Lab.Scenes;

namespace TokenSieve.Lab.Training;

/// <summary>How the trained tower looks to [CLS]-attention methods: PruMerge's surrogate [CLS]
/// attention (last layer's raw q_proj/k_proj on hidden_states[-2], one full-width head, scale
/// 1/√D, softmax over all keys, [CLS] column dropped without renormalising — METHODS.md §1) and
/// its IQR outlier count (numpy linear percentiles, strict &gt; upper fence).</summary>
public static class LabDiagnostics
{
    public static float[] PruMergeClsAttention(LabModel model, VisionActivations a)
    {
        var c = model.Config;
        int n = c.VisionTokens, d = c.VisionHidden;
        var (q, k) = a.QueryKey(c.VisionLayers - 1);
        var scores = new double[n];
        double max = double.NegativeInfinity;
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int i = 0; i < d; i++) s += (double)q[i] * k[j * d + i];
            scores[j] = s / Math.Sqrt(d);
            max = Math.Max(max, scores[j]);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) { scores[j] = Math.Exp(scores[j] - max); sum += scores[j]; }
        var attn = new float[n - 1];
        for (int j = 1; j < n; j++) attn[j - 1] = (float)(scores[j] / sum);
        return attn;
    }

    /// <summary>Number of patches PruMerge keeps: #{a_j &gt; Q3 + 1.5·(Q3 − Q1)}.</summary>
    public static int IqrOutliers(ReadOnlySpan<float> attention)
    {
        var v = attention.ToArray();
        Array.Sort(v);
        double Q(double p)
        {
            double h = (v.Length - 1) * p;
            int lo = (int)Math.Floor(h);
            return lo + 1 < v.Length ? v[lo] + (h - lo) * (v[lo + 1] - v[lo]) : v[lo];
        }
        double q1 = Q(0.25), q3 = Q(0.75), fence = q3 + 1.5 * (q3 - q1);
        int count = 0;
        foreach (float x in attention) if (x > fence) count++;
        return count;
    }

    /// <summary>PruMerge's kept-token counts over <paramref name="count"/> validation scenes (standard
    /// and haystack), with how many patches the scenes' objects and cards cover.</summary>
    public static IReadOnlyList<(Scene Scene, int Kept)> PruMergeKeptCounts(LabModel model, int count, ulong seed = LabDataset.DefaultSeed)
    {
        var c = model.Config;
        var a = new VisionActivations(c);
        var result = new List<(Scene, int)>();
        for (int i = 0; i < count; i++)
        {
            var family = i % 4 == 3 ? LabFamily.Retrieval : LabFamily.Counting;
            var scene = LabDataset.Item(seed, LabSplit.Validation, family, i).Scene;
            model.VisionForward(LabImage.ToPixelValues(scene.Render(), c.ImageSize), a, c.VisionLayers);
            result.Add((scene, IqrOutliers(PruMergeClsAttention(model, a))));
        }
        return result;
    }
}
