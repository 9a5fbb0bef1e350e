namespace TokenSieve.Cli;

/// <summary>Progress lines written at once, in order, on the reporting thread. <see cref="Progress{T}"/>
/// posts each report to the thread pool, which both compute threads keep busy during a long prefill:
/// lines then arrive late and out of order.</summary>
sealed class ConsoleProgress : IProgress<string>
{
    public static ConsoleProgress Instance { get; } = new();

    public void Report(string value) => Console.WriteLine(value);
}
