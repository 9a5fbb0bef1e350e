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

    /// <summary>With several images: <c>keep</c> per image (default; scores min-max normalised per image) or for all together.</summary>
    public BudgetScope Scope { get; }

    public string Spec { get; }

    public PositionPolicy Positions => PositionPolicy.KeepOriginal;

    public IReadOnlyList<int> Boundaries { get; }

    public AlphaScore(double alpha, int layer, int keep, AlphaUniqueness uniqueness = AlphaUniqueness.Last, string? spec = null, BudgetScope scope = BudgetScope.PerImage)
    {
        Spec = spec ?? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"alpha:a={alpha},k={layer},keep={keep}") + (uniqueness == AlphaUniqueness.Mean ? ",unique=mean" : "");
        if (!(alpha >= 0 && alpha <= 1)) throw new MethodSpecException(Spec, $"a = {alpha} must be in [0, 1]");
        if (layer < 1) throw new MethodSpecException(Spec, $"k = {layer} must be >= 1 (the score reads layer K-1)");
        if (keep < 1) throw new MethodSpecException(Spec, $"keep = {keep} must be at least 1");
        Alpha = alpha;
        Layer = layer;
        Keep = keep;
        Uniqueness = uniqueness;
        Scope = scope;
        Boundaries = [layer];
    }

    public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
    {
        if (Layer >= decoder.Layers) throw new MethodSpecException(Spec, $"k = {Layer} but the decoder has {decoder.Layers} layers (K must be 1..{decoder.Layers - 1})");
        var counts = Scope == BudgetScope.Total ? [sequence.ImageTokens] : sequence.Images.Select(i => i.Count).ToArray();
        if (Keep > counts.Min()) throw new MethodSpecException(Spec, $"keep = {Keep} is more than the {counts.Min()} visual tokens{(counts.Length > 1 ? " of an image" : "")} in the sequence");
        return new Run(this);
    }

    sealed class Run(AlphaScore method) : IPrunerRun
    {
        public DecoderTapRequest Request(int boundary, PruneLayout layout) => new() { QueryRows = [layout.Length - 1] };

        public PruneDecision Prune(PruneState state)
        {
            var importance = state.VisualScores(0);
            var uniqueness = UniquenessScores(state, method.Uniqueness);
            // min-max normalisation and selection per image (or over all images together)
            var groups = method.Scope == BudgetScope.Total ? [new VisualSpan(0, importance.Length, 0)] : Offsets(state.Spans);
            var score = new float[importance.Length];
            foreach (var g in groups)
                Combine(importance[g.Start..g.End], uniqueness[g.Start..g.End], (float)method.Alpha).CopyTo(score, g.Start);
            var kept = state.TopVisual(score, method.Keep, method.Scope);
            return new PruneDecision
            {
                Keep = state.KeepVisual(kept),
                Scores = score,
                Note = $"alpha: kept {kept.Length} of {state.ImageCount} visual tokens by {method.Alpha}·importance + {1 - method.Alpha}·uniqueness ({method.Uniqueness.ToString().ToLowerInvariant()}) at layer {state.Layer}",
            };
        }

        /// <summary>Each image's span as offsets into the visual rows.</summary>
        static List<VisualSpan> Offsets(IReadOnlyList<VisualSpan> spans)
        {
            var result = new List<VisualSpan>();
            int offset = 0;
            foreach (var s in spans) { result.Add(new VisualSpan(offset, s.Count, s.Image)); offset += s.Count; }
            return result;
        }
    }

    /// <summary>§15.3 step 3 for every visual row (images one after another) of the hidden states
    /// entering layer K; <c>unique=mean</c> averages over the other tokens of the same image.</summary>
    public static float[] UniquenessScores(PruneState state, AlphaUniqueness kind)
    {
        int d = state.Decoder.HiddenSize;
        var h = state.Hidden;
        var visual = state.VisualRows();
        var uniq = new float[visual.Length];
        if (kind == AlphaUniqueness.Last)
        {
            if (visual.Length == 1) return uniq;
            var last = h.AsSpan((state.Length - 1) * d, d);
            for (int j = 0; j < visual.Length; j++) uniq[j] = -Cosine(h.AsSpan(visual[j] * d, d), last);
            return uniq;
        }
        int offset = 0;
        foreach (var span in state.Spans)
        {
            int nv = span.Count;
            if (nv > 1)
            {
                // cos(h_j, h_i) for all pairs of the image from unit rows: one [nv, nv] product
                var unit = new float[nv * d];
                for (int j = 0; j < nv; j++)
                {
                    var row = h.AsSpan((span.Start + j) * d, d);
                    System.Numerics.Tensors.TensorPrimitives.Multiply(row, 1f / MathF.Max(System.Numerics.Tensors.TensorPrimitives.Norm(row), 1e-12f), unit.AsSpan(j * d, d));
                }
                var cos = new float[nv * nv];
                Gemm.MatMulTransposed(state.View.Compute, unit, nv, d, unit, nv, cos);
                for (int j = 0; j < nv; j++)
                {
                    double sum = 0;
                    for (int i = 0; i < nv; i++)
                        if (i != j) sum += cos[j * nv + i];
                    uniq[offset + j] = (float)(-sum / (nv - 1));
                }
            }
            offset += nv;
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
