using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>How the α score measures a token's uniqueness (METHODS.md §15.3).</summary>
public enum AlphaUniqueness
{
    /// <summary>−cos(h_j, h_last): unlike the last sequence position (the notes' wording; default).</summary>
    Last,

    /// <summary>−mean over the other image tokens of cos(h_j, h_i): a duplication measure (ours).</summary>
    Mean,
}

/// <summary>The rethinking paper's importance-vs-uniqueness probe, <c>alpha:a=A,k=K,keep=M</c>
/// (METHODS.md §15.3): at layer K the score s_j = A·minmax(imp)_j + (1 − A)·minmax(uniq)_j over the
/// image tokens, imp being FastV's last-position head-mean attention in layer K−1 and uniq the
/// negative cosine of the hidden states entering layer K; the top M stay with their original
/// position ids (FastV's conventions). A = 1 is FastV's selection.</summary>
public sealed class AlphaScore : IDecoderPruner
{
    public double Alpha { get; }

    public int Layer { get; }

    public int Keep { get; }

    public AlphaUniqueness Uniqueness { get; }

    public string Spec { get; }

    public PositionPolicy Positions => PositionPolicy.KeepOriginal;

    public IReadOnlyList<int> Boundaries { get; }

    public AlphaScore(double alpha, int layer, int keep, AlphaUniqueness uniqueness = AlphaUniqueness.Last, string? spec = null)
    {
        Spec = spec ?? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"alpha:a={alpha},k={layer},keep={keep}") + (uniqueness == AlphaUniqueness.Mean ? ",unique=mean" : "");
        if (!(alpha >= 0 && alpha <= 1)) throw new MethodSpecException(Spec, $"a = {alpha} must be in [0, 1]");
        if (layer < 1) throw new MethodSpecException(Spec, $"k = {layer} must be >= 1 (the score reads layer K-1)");
        if (keep < 1) throw new MethodSpecException(Spec, $"keep = {keep} must be at least 1");
        Alpha = alpha;
        Layer = layer;
        Keep = keep;
        Uniqueness = uniqueness;
        Boundaries = [layer];
    }

    public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
    {
        if (Layer >= decoder.Layers) throw new MethodSpecException(Spec, $"k = {Layer} but the decoder has {decoder.Layers} layers (K must be 1..{decoder.Layers - 1})");
        if (Keep > sequence.ImageTokens) throw new MethodSpecException(Spec, $"keep = {Keep} is more than the {sequence.ImageTokens} visual tokens in the sequence");
        return new Run(this);
    }

    sealed class Run(AlphaScore method) : IPrunerRun
    {
        public DecoderTapRequest Request(int boundary, int length, int imageStart, int imageCount) => new() { QueryRows = [length - 1] };

        public PruneDecision Prune(PruneState state)
        {
            int s = state.ImageStart, nv = state.ImageCount;
            var importance = state.HeadMeanRow(0).AsSpan(s, nv).ToArray();
            var uniqueness = UniquenessScores(state, method.Uniqueness);
            var score = Combine(importance, uniqueness, (float)method.Alpha);
            return new PruneDecision
            {
                Keep = state.KeepWindow(s, nv, Selection.TopKAscending(score, method.Keep)),
                Scores = score,
                Note = $"alpha: kept {method.Keep} of {nv} visual tokens by {method.Alpha}·importance + {1 - method.Alpha}·uniqueness ({method.Uniqueness.ToString().ToLowerInvariant()}) at layer {state.Layer}",
            };
        }
    }

    /// <summary>§15.3 step 3 over the image rows of the hidden states entering layer K.</summary>
    public static float[] UniquenessScores(PruneState state, AlphaUniqueness kind)
    {
        int s = state.ImageStart, nv = state.ImageCount, d = state.Decoder.HiddenSize;
        var h = state.Hidden;
        var uniq = new float[nv];
        if (nv == 1) return uniq;
        if (kind == AlphaUniqueness.Last)
        {
            var last = h.AsSpan((state.Length - 1) * d, d);
            for (int j = 0; j < nv; j++) uniq[j] = -Cosine(h.AsSpan((s + j) * d, d), last);
            return uniq;
        }
        // cos(h_j, h_i) for all pairs from unit rows: one [nv, nv] product
        var unit = new float[nv * d];
        for (int j = 0; j < nv; j++)
        {
            var row = h.AsSpan((s + j) * d, d);
            System.Numerics.Tensors.TensorPrimitives.Multiply(row, 1f / MathF.Max(System.Numerics.Tensors.TensorPrimitives.Norm(row), 1e-12f), unit.AsSpan(j * d, d));
        }
        var cos = new float[nv * nv];
        Gemm.MatMulTransposed(state.View.Compute, unit, nv, d, unit, nv, cos);
        for (int j = 0; j < nv; j++)
        {
            double sum = 0;
            for (int i = 0; i < nv; i++)
                if (i != j) sum += cos[j * nv + i];
            uniq[j] = (float)(-sum / (nv - 1));
        }
        return uniq;
    }

    /// <summary>§15.3 steps 4–5: s = a·minmax(imp) + (1 − a)·minmax(uniq), float32; a constant
    /// input normalises to all zeros.</summary>
    public static float[] Combine(float[] importance, float[] uniqueness, float a)
    {
        var imp = MinMax(importance);
        var uniq = MinMax(uniqueness);
        var s = new float[imp.Length];
        for (int j = 0; j < s.Length; j++) s[j] = a * imp[j] + (1 - a) * uniq[j];
        return s;
    }

    static float[] MinMax(float[] x)
    {
        float min = x.Min(), max = x.Max();
        var y = new float[x.Length];
        if (max > min)
            for (int i = 0; i < x.Length; i++) y[i] = (x[i] - min) / (max - min);
        return y;
    }

    static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return (float)(dot / Math.Max(Math.Sqrt(na * nb), 1e-12));
    }
}
