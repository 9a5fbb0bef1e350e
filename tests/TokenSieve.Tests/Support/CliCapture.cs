using TokenSieve.Cli;

namespace TokenSieve.Tests.Support;

/// <summary>Runs `tokensieve` in-process with Console.Out/Error captured. Tests that use it share
/// the "console" collection so they never redirect the console at the same time.</summary>
public static class CliCapture
{
    public static (int Rc, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(o);
        Console.SetError(e);
        try { return (CliApp.Run(args), o.ToString(), e.ToString()); }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }
}

[CollectionDefinition("console", DisableParallelization = true)]
public sealed class ConsoleCollection;
