namespace TokenSieve.Lab;

/// <summary>A small, explicit PRNG (SplitMix64) so that every scene, question and weight
/// initialisation is a pure function of its seed, on every runtime and machine.</summary>
public sealed class LabRandom
{
    ulong _state;

    public LabRandom(ulong seed) => _state = seed;

    /// <summary>Combines seed parts into one stream seed (the split, family and item index of an
    /// item), so that different streams never share a sequence.</summary>
    public static ulong Mix(params ulong[] parts)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (ulong p in parts)
        {
            h ^= p + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2);
            h = Finalise(h);
        }
        return h;
    }

    static ulong Finalise(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Finalise(_state);
    }

    /// <summary>Uniform integer in [0, n).</summary>
    public int Next(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"n must be positive, got {n}");
        return (int)(NextUInt64() % (ulong)n);
    }

    /// <summary>Uniform integer in [lo, hi] inclusive.</summary>
    public int Range(int lo, int hi) => lo + Next(hi - lo + 1);

    /// <summary>Uniform double in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public bool Chance(double p) => NextDouble() < p;

    /// <summary>Standard normal (Box–Muller), for weight initialisation.</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
