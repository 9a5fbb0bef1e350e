namespace TokenSieve.Models;

/// <summary>Next-token choice: greedy (temperature 0) or temperature + nucleus (top-p) sampling
/// with an explicit seed, so runs are reproducible.</summary>
internal sealed class Sampler
{
    public float Temperature { get; }
    public float TopP { get; }
    readonly Random _random;

    public Sampler(float temperature = 0f, float topP = 1f, int seed = 0)
    {
        if (temperature < 0 || float.IsNaN(temperature)) throw new InvalidInputException($"temperature must be >= 0, got {temperature}");
        if (!(topP > 0 && topP <= 1)) throw new InvalidInputException($"top-p must be in (0, 1], got {topP}");
        Temperature = temperature;
        TopP = topP;
        _random = new Random(seed);
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        for (int i = 0; i < logits.Length; i++)
            if (!float.IsFinite(logits[i])) throw new InvalidInputException($"logit {i} is {logits[i]}: the model produced a non-finite value (corrupt weights or overflow)");
        // Greedy: first maximal index, as torch.argmax.
        if (Temperature == 0f) return System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);

        var probs = new float[logits.Length];
        float max = System.Numerics.Tensors.TensorPrimitives.Max(logits);
        double sum = 0;
        for (int i = 0; i < probs.Length; i++)
        {
            probs[i] = MathF.Exp((logits[i] - max) / Temperature);
            sum += probs[i];
        }
        var order = Enumerable.Range(0, probs.Length).ToArray();
        Array.Sort(order, (a, b) => probs[b] != probs[a] ? probs[b].CompareTo(probs[a]) : a.CompareTo(b));
        // Nucleus: the smallest prefix whose mass reaches top-p (the top token always stays).
        double cumulative = 0;
        int keep = 0;
        while (keep < order.Length)
        {
            cumulative += probs[order[keep]] / sum;
            keep++;
            if (cumulative >= TopP) break;
        }
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += probs[order[i]];
        double u = _random.NextDouble() * kept;
        double acc = 0;
        for (int i = 0; i < keep; i++)
        {
            acc += probs[order[i]];
            if (u < acc) return order[i];
        }
        return order[keep - 1];
    }
}
