using System.CommandLine;
using TokenSieve.Pruning;

namespace TokenSieve.Cli.Commands;

/// <summary>The `--prune SPEC` option shared by run, dump and bench.</summary>
public static class PruneCommandOptions
{
    public static Option<string?> Prune() => new("--prune")
    {
        Description = "decoder-side pruning spec, e.g. fastv:k=2,keep=64, pdrop:layers=8/16/24,lambda=0.5, sparsevlm:192, dart:k=2,keep=128",
    };

    public static IDecoderPruner? Parse(string? spec) => spec is null or "none" ? null : PruningSpec.Parse(spec);
}
