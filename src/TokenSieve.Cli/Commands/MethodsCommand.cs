using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using TokenSieve.Methods;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve methods`: the method catalog, as a table or as JSON.</summary>
public static class MethodsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print the catalog as a JSON array" };
        var verbose = new Option<bool>("--usage") { Description = "also print every method's spec forms and options" };
        var cmd = new Command("methods", "List every token-reduction method: stage, budget kind, what it needs from a model, reference.") { json, verbose };
        cmd.SetAction(p =>
        {
            if (p.GetValue(json))
            {
                var rows = MethodCatalog.Entries.Select(e => new
                {
                    name = e.Name, stage = Stage(e.Stage), budget = e.Budget.ToString().ToLowerInvariant(), needs = e.Needs, summary = e.Summary,
                    example = e.AtBudget?.Invoke(64) ?? e.Name, reference = e.Reference, usage = e.Usage.TrimEnd(),
                });
                Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("method", "stage", "budget", "example", "needs from the model");
            foreach (var e in MethodCatalog.Entries)
                table.AddRow(Markup.Escape(e.Name), Stage(e.Stage), e.Budget.ToString().ToLowerInvariant(), Markup.Escape(e.AtBudget?.Invoke(64) ?? e.Name),
                    Markup.Escape(e.Needs));
            var console = CliConsole.Out;
            console.Write(table);
            console.MarkupLine("Combine one vision-side or pre-LLM method with one decoder method as [bold]VISION|DECODER[/], e.g. [bold]prumerge+|fastv:k=2,keep=64[/].");
            if (p.GetValue(verbose)) Console.WriteLine(MethodCatalog.FullHelpText);
            else console.MarkupLine("Options of every method: [bold]tokensieve methods --usage[/].");
            return 0;
        });
        return cmd;
    }

    static string Stage(MethodStage s) => s switch
    {
        MethodStage.Vision => "vision",
        MethodStage.PreLlm => "pre-llm",
        _ => "decoder",
    };
}
