using System.CommandLine;

namespace TokenSieve.Cli;

/// <summary>Exit codes and error printing: every failure is one <c>error:</c> line on stderr and exit
/// code 2 — bad input (a <see cref="TokenSieveException"/> naming the file and field), a usage
/// mistake (unknown option, missing argument), a file the system refuses, and also an unexpected
/// exception (a bug: its type and message, the stack trace only with TOKENSIEVE_DEBUG=1). Never a
/// stack trace by default. Ctrl-C is exit 130.</summary>
public static class CliErrors
{
    public const int Ok = 0;
    /// <summary>Every failure: bad input, bad usage, I/O, or an internal error.</summary>
    public const int InputError = 2;
    public const int Cancelled = 130;

    public static int Invoke(RootCommand root, string[] args)
    {
        ParseResult parse;
        try
        {
            // A bare `tokensieve` shows the help rather than a usage error.
            parse = root.Parse(args.Length == 0 ? ["--help"] : args);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
        if (parse.Errors.Count > 0)
        {
            // System.CommandLine would print every error and the whole help; one line says it.
            string command = string.Join(' ', parse.CommandResult.Command.Name == root.Name
                ? ["tokensieve"] : new[] { "tokensieve", parse.CommandResult.Command.Name });
            Console.Error.WriteLine($"error: {OneLine(parse.Errors[0].Message)} (see `{command} --help`)");
            return InputError;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    static int Fail(Exception e)
    {
        var inner = Unwrap(e);
        switch (inner)
        {
            case TokenSieveException te:
                Console.Error.WriteLine($"error: {OneLine(te.Message)}");
                return InputError;
            case OperationCanceledException:
                Console.Error.WriteLine("cancelled");
                return Cancelled;
            case IOException or UnauthorizedAccessException:
                Console.Error.WriteLine($"error: {OneLine(inner.Message)}");
                return InputError;
            case OutOfMemoryException:
                Console.Error.WriteLine("error: out of memory; use a smaller model, fewer threads or a shorter input");
                return InputError;
            default:
                Console.Error.WriteLine($"error: internal error ({inner.GetType().Name}): {OneLine(inner.Message)}; this is a bug, please report it (TOKENSIEVE_DEBUG=1 prints the stack trace)");
                if (Environment.GetEnvironmentVariable("TOKENSIEVE_DEBUG") is "1" or "true") Console.Error.WriteLine(inner);
                return InputError;
        }
    }

    /// <summary>A message on one line: line breaks become spaces, so the error stays one line.</summary>
    static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerException: not null } or System.Reflection.TargetInvocationException { InnerException: not null })
            e = e.InnerException!;
        return e;
    }
}
