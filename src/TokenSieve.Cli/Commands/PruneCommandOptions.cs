using System.CommandLine;
using TokenSieve.Methods;
using TokenSieve.Pruning;

namespace TokenSieve.Cli.Commands;

/// <summary>The `--prune SPEC` option shared by run, dump and bench.</summary>
public static class PruneCommandOptions
{
    public static Option<string?> Prune() => new("--prune")
    {
        Description = "decoder-side method spec (" + string.Join(", ", MethodCatalog.Entries.Where(e => e.Stage == MethodStage.Decoder).Select(e => e.Name)) + "), e.g. fastv:k=2,keep=64; see `tokensieve methods`",
    };

    public static IDecoderPruner? Parse(string? spec) => spec is null or "none" ? null : MethodCatalog.ParseDecoder(spec);
}
