namespace TokenSieve.Evaluation;

/// <summary>VQA soft accuracy (TextVQA): prediction and answers go through <see cref="VqaNormalizer"/>;
/// the score is the mean over i of <c>min(1, #{j ≠ i : gt[j] == pred} / 3)</c>.</summary>
internal static class VqaAccuracy
{
    /// <summary>Score of one question in [0, 1]. LLaVA asserts exactly ten answers; any non-empty list
    /// is accepted here and the formula is the same.</summary>
    public static double Score(string prediction, IReadOnlyList<string> groundTruth)
    {
        if (groundTruth.Count == 0) return 0;
        string pred = VqaNormalizer.Normalize(prediction);
        var gts = new string[groundTruth.Count];
        for (int i = 0; i < gts.Length; i++) gts[i] = VqaNormalizer.Normalize(groundTruth[i]);
        int total = 0;
        for (int i = 0; i < gts.Length; i++) if (gts[i] == pred) total++;
        if (total == 0) return 0;
        double sum = 0;
        for (int i = 0; i < gts.Length; i++)
        {
            int others = total - (gts[i] == pred ? 1 : 0);
            sum += Math.Min(1.0, others / 3.0);
        }
        return sum / gts.Length;
    }
}
