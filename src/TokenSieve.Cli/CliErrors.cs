using System.CommandLine;

namespace TokenSieve.Cli;

/// <summary>Exit codes and error printing: a TokenSieve error is one line on stderr and a non-zero
/// exit, never a stack trace.</summary>
public static class CliErrors
{
    public const int Ok = 0;
    public const int UsageError = 1;
    public const int InputError = 2;
    public const int Cancelled = 130;

    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (Unwrap(e) is TokenSieveException te)
        {
            Console.Error.WriteLine($"error: {te.Message}");
            return InputError;
        }
        catch (Exception e) when (Unwrap(e) is OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return Cancelled;
        }
        catch (Exception e) when (Unwrap(e) is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {Unwrap(e).Message}");
            return InputError;
        }
    }

    static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerException: not null } a) e = a.InnerException!;
        return e;
    }
}
