using System.Globalization;
using TokenSieve.Methods;

namespace TokenSieve.Evaluation;

/// <summary>One configuration of the sweep: the reduction spec string the engine parses
/// (<c>none</c>, <c>fastervlm:64</c>, <c>fastv:k=2,keep=64</c>), the method name, and the budget it was
/// expanded with (null for unbudgeted specs).</summary>
public sealed record MethodSpec(string Spec, string Method, int? Budget)
{
    /// <summary>The unpruned baseline.</summary>
    public static MethodSpec None { get; } = new("none", "none", null);

    /// <summary>Methods × budgets. A method containing <c>{budget}</c> gets it substituted
    /// (<c>fastv:k=2,keep={budget}</c>); a bare name of a budgeted method takes its catalog row's
    /// template (<c>pool</c> → <c>pool:64</c>, <c>fastv</c> → <c>fastv:k=2,keep=64</c>); <c>none</c>,
    /// adaptive or preset methods (<c>prumerge</c>, <c>pdrop</c>) and complete specs are used once as
    /// given. Duplicates are dropped; order follows the inputs.</summary>
    /// <remarks><c>{a}</c> is substituted with each of <paramref name="alphas"/> first (the α sweep of
    /// METHODS.md §15.3: <c>alpha:a={a},k=2,keep={budget}</c> with alphas 0, 0.1, …, 1).</remarks>
    public static IReadOnlyList<MethodSpec> Expand(IEnumerable<string> methods, IEnumerable<int> budgets, IEnumerable<double>? alphas = null)
    {
        var budgetList = budgets.ToList();
        var alphaList = alphas?.ToList() ?? [];
        var result = new List<MethodSpec>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(MethodSpec m) { if (seen.Add(m.Spec)) result.Add(m); }
        var expanded = new List<string>();
        foreach (string raw in methods)
        {
            if (!raw.Contains("{a}", StringComparison.Ordinal)) { expanded.Add(raw); continue; }
            if (alphaList.Count == 0) throw new EvaluationException($"method '{raw.Trim()}' has {{a}} but no alphas were given (e.g. --alphas 0,0.1,0.5,1)");
            expanded.AddRange(alphaList.Select(a => raw.Replace("{a}", a.ToString("R", CultureInfo.InvariantCulture))));
        }
        foreach (string raw in expanded)
        {
            string method = raw.Trim();
            if (method.Length == 0) continue;
            string name = method.Split(':')[0];
            if (method.Contains("{budget}", StringComparison.Ordinal) && budgetList.Count == 0)
                throw new EvaluationException($"method '{method}' needs a budget, none given");
            var atBudget = budgetList.Select(b => (Budget: b, Spec: MethodCatalog.AtBudget(method, b))).ToList();
            if (atBudget.Count > 0 && atBudget.All(x => x.Spec is not null))
                foreach (var (b, spec) in atBudget) Add(new MethodSpec(spec!, name, b));
            else
                Add(new MethodSpec(method, name, TrailingBudget(method)));
        }
        return result;
    }

    /// <summary>"name:64" → 64; anything else → null.</summary>
    static int? TrailingBudget(string spec)
    {
        int colon = spec.IndexOf(':');
        return colon > 0 && int.TryParse(spec[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int b) ? b : null;
    }
}

/// <summary>A contiguous slice of a dataset, as LLaVA's <c>--num-chunks/--chunk-idx</c> cut it: chunk size
/// <c>ceil(n / Count)</c>, so shard outputs concatenate in dataset order.</summary>
public readonly record struct Shard(int Index, int Count)
{
    /// <summary>Parses "i/n" with 0 ≤ i &lt; n.</summary>
    public static Shard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out int n) || n < 1 || i < 0 || i >= n)
            throw new EvaluationException($"shard '{text}': expected i/n with 0 ≤ i < n, e.g. 0/4");
        return new Shard(i, n);
    }

    public IEnumerable<T> Select<T>(IReadOnlyList<T> items)
    {
        int chunk = (items.Count + Count - 1) / Count;
        return items.Skip(Index * chunk).Take(chunk);
    }

    public override string ToString() => $"{Index}/{Count}";
}

/// <summary>A run or scoring request is inconsistent (bad shard, a method that needs a budget, …).</summary>
public sealed class EvaluationException : TokenSieveException
{
    public EvaluationException(string message, Exception? inner = null) : base(message, inner) { }
}
