namespace TokenSieve.Numerics;

/// <summary>How many threads the kernels may use. Every public compute entry point takes one, so
/// `--threads N` reaches every kernel; results never depend on the thread count.</summary>
public sealed class ComputeContext
{
    public int Threads { get; }

    readonly ParallelOptions _options;

    public ComputeContext(int threads = 0)
    {
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(threads), "thread count must be >= 0 (0 = all cores)");
        Threads = threads == 0 ? Environment.ProcessorCount : threads;
        _options = new ParallelOptions { MaxDegreeOfParallelism = Threads };
    }

    public static ComputeContext Default { get; } = new(0);

    public static ComputeContext SingleThread { get; } = new(1);

    /// <summary>Runs body(i) for i in [0, count); serial when one thread is allowed or count is 1.</summary>
    public void For(int count, Action<int> body)
    {
        if (count <= 0) return;
        if (Threads == 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, _options, body);
    }
}
