using System.CommandLine;
using TokenSieve.Cli.Commands;

namespace TokenSieve.Cli;

/// <summary>The `tokensieve` command tree (DESIGN.md §4). Tests invoke it in-process.</summary>
public static class CliApp
{
    public static RootCommand Root()
    {
        var root = new RootCommand("TokenSieve: run LLaVA-style models in pure C# and reduce their visual tokens.");
        foreach (var command in new[]
        {
            RunCommand.Create(),
            MethodsCommand.Create(),
            AnalyzeCommand.Create(),
            RethinkCommand.Create(),
            DumpCommand.Create(),
            ReduceCommand.Create(),
            DemoCommand.Create(),
            TrainLabCommand.Create(),
            BenchCommand.Create(),
            ScoreCommand.Create(),
            InspectCommand.Create(),
            SynthCommand.Create(),
            ServeCommand.Create(),
            QuantizeCommand.Create(),
        })
            root.Subcommands.Add(command);
        return root;
    }

    /// <summary>Runs a command line in-process, as `tokensieve args` would; returns the exit code.</summary>
    public static int Run(params string[] args) => CliErrors.Invoke(Root(), args);
}
