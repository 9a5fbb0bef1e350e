using System.CommandLine;
using TokenSieve.Cli;
using TokenSieve.Cli.Commands;

var root = new RootCommand("TokenSieve: run LLaVA-style models in pure C# and reduce their visual tokens.");
foreach (var command in new[]
{
    InspectCommand.Create(),
    SynthCommand.Create(),
})
    root.Subcommands.Add(command);
return CliErrors.Invoke(root, args);
