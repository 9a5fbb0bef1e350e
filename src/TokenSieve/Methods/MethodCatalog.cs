using System.Text;
using TokenSieve.Pruning;
using TokenSieve.Reduction;

namespace TokenSieve.Methods;

/// <summary>The one place that names methods: every method's catalog row, and the parser that turns
/// a spec into a configured method. Verbs, the evaluation runner and every help text read it.</summary>
public static class MethodCatalog
{
    /// <summary>Every row, vision-side and pre-LLM methods first, then the decoder-side ones.</summary>
    public static IReadOnlyList<MethodEntry> Entries { get; } = [.. VisionMethods.All(), .. DecoderMethods.All()];

    /// <summary>The row of a method name (case-insensitive), or null.</summary>
    public static MethodEntry? Find(string name) =>
        Entries.FirstOrDefault(e => string.Equals(e.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The row named by a spec's method part, or null.</summary>
    public static MethodEntry? ForSpec(string spec) => Find(SpecText.MethodOf(spec));

    static bool IsDecoder(MethodEntry e) => e.Stage == MethodStage.Decoder;

    /// <summary>A vision-side or pre-LLM method (<c>--reduce</c>).</summary>
    public static IVisualReducer ParseVision(string spec)
    {
        var o = SpecText.Parse(spec);
        var entry = Find(o.Method);
        if (entry is null || IsDecoder(entry))
            throw o.Error($"unknown method '{o.Method}' for the vision side{(entry is null ? "" : $" ({o.Method} is a decoder pruner: use --prune)")}; known: {Names(e => !IsDecoder(e))}");
        return (IVisualReducer)entry.Create(o);
    }

    /// <summary>A decoder-side method (<c>--prune</c>).</summary>
    public static IDecoderPruner ParseDecoder(string spec)
    {
        var o = SpecText.Parse(spec);
        var entry = Find(o.Method);
        if (entry is null || !IsDecoder(entry))
            throw o.Error($"unknown decoder pruning method '{o.Method}'{(entry is null ? "" : $" ({o.Method} is a vision-side method: use --reduce)")}; known: {Names(IsDecoder)}");
        return (IDecoderPruner)entry.Create(o);
    }

    static string Names(Func<MethodEntry, bool> which) => string.Join(", ", Entries.Where(which).Select(e => e.Name));

    /// <summary>The usage text of the methods of some stages, for --help.</summary>
    public static string HelpText(params MethodStage[] stages)
    {
        var sb = new StringBuilder();
        if (stages.Any(s => s != MethodStage.Decoder))
            sb.AppendLine("Vision-side and pre-LLM specs: METHOD[:BUDGET][:OPTION=VALUE][,OPTION=VALUE]...")
              .AppendLine("(options may be separated by ':' or ','; N = patches, 576 for LLaVA-1.5)").AppendLine();
        foreach (var e in Entries.Where(e => stages.Contains(e.Stage)).OrderBy(e => e.Stage == MethodStage.Decoder))
        {
            if (e.Stage == MethodStage.Decoder && sb.Length > 0 && !sb.ToString().Contains("Decoder pruners"))
                sb.AppendLine().AppendLine("Decoder pruners (inside the LLM; combine with at most one vision-side method as VISION|PRUNER):");
            foreach (var line in e.Usage.TrimEnd().Split('\n')) sb.Append("  ").AppendLine(line.TrimEnd());
        }
        return sb.ToString();
    }

    /// <summary>All usage texts.</summary>
    public static string FullHelpText => HelpText(MethodStage.Vision, MethodStage.PreLlm, MethodStage.Decoder);

    /// <summary>The main methods at budget <paramref name="budget"/>, in catalog order: adaptive ones as
    /// they are, budgeted ones through their template; decoder methods only when the decoder has
    /// more than <paramref name="minDecoderLayers"/> layers (they prune at layer 2).</summary>
    public static List<string> MainSpecs(int budget, int decoderLayers, int minDecoderLayers = 2) =>
        Entries.Where(e => e.Main && (e.Stage != MethodStage.Decoder || decoderLayers > minDecoderLayers))
            .Select(e => e.Budget == BudgetKind.Budgeted && e.AtBudget is { } at ? at(budget) : e.Name).ToList();

    /// <summary>A method at a budget: a bare name of a budgeted method through its row's template
    /// (<c>fastv</c> → <c>fastv:k=2,keep=64</c>), <c>{budget}</c> substituted in a full spec; null
    /// when the spec takes no budget (adaptive, preset, already complete).</summary>
    public static string? AtBudget(string spec, int budget)
    {
        string text = spec.Trim();
        if (text.Contains("{budget}", StringComparison.Ordinal)) return text.Replace("{budget}", budget.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (text.Contains(':') || text.Contains('|')) return null;
        var entry = Find(text);
        return entry is { Budget: BudgetKind.Budgeted, AtBudget: { } at } ? at(budget) : null;
    }
}
