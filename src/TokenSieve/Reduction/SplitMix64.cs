namespace TokenSieve.Reduction;

/// <summary>SplitMix64 (Steele, Lea, Flood 2014; the constants of Vigna's reference C code). Our
/// own generator, so seeded results are identical on every .NET version and platform, unlike
/// System.Random.</summary>
internal struct SplitMix64
{
    ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform integer in [0, bound) without modulo bias (rejection on the top range).</summary>
    public ulong NextBelow(ulong bound)
    {
        if (bound == 0) throw new ArgumentOutOfRangeException(nameof(bound));
        ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
        ulong x;
        do x = Next(); while (x >= limit);
        return x % bound;
    }
}
