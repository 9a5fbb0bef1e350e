namespace TokenSieve.Pruning;

/// <summary>Deterministic top-k shared by the decoder pruners (METHODS.md §0.3): higher score first,
/// then lower index first. The references use CUDA <c>topk</c>, whose tie order is unspecified.</summary>
public static class Ranking
{
    /// <summary>Indices of the <paramref name="k"/> largest scores in topk (descending) order.</summary>
    public static int[] TopK(ReadOnlySpan<float> scores, int k)
    {
        if ((uint)k > (uint)scores.Length) throw new ArgumentOutOfRangeException(nameof(k), $"top-{k} of {scores.Length} scores");
        var order = new int[scores.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var copy = scores.ToArray();
        Array.Sort(order, (a, b) =>
        {
            int c = copy[b].CompareTo(copy[a]);
            return c != 0 ? c : a.CompareTo(b);
        });
        return order[..k];
    }

    /// <summary>The same indices as <see cref="TopK"/>, sorted ascending (original order).</summary>
    public static int[] TopKAscending(ReadOnlySpan<float> scores, int k)
    {
        var top = TopK(scores, k);
        Array.Sort(top);
        return top;
    }
}
