using System.Globalization;

namespace TokenSieve.Methods;

/// <summary>The one spec grammar (DESIGN.md §2): <c>method[:item[(:|,)item]…]</c>, an item being a
/// positional value (a budget such as <c>64</c> or <c>54+10</c>, which must come first) or
/// <c>key=value</c>; lists inside a value use '/'. Method names and keys are case-insensitive.
/// Every accessor validates and names the option at fault; <see cref="Done"/> rejects whatever the
/// method did not read. Errors are <see cref="MethodSpecException"/>s carrying the text given.</summary>
internal sealed class SpecText
{
    readonly List<string> _positional = new();
    readonly Dictionary<string, string> _named = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);
    int _positionalUsed;

    public string Spec { get; }

    public string Method { get; }

    SpecText(string spec, string method)
    {
        Spec = spec;
        Method = method;
    }

    /// <summary>The method name of a spec, lower-cased ("" when there is none).</summary>
    public static string MethodOf(string spec) => (spec ?? "").Split(':', 2)[0].Trim().ToLowerInvariant();

    public static SpecText Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new MethodSpecException(spec ?? "", "empty spec; try 'none', 'prumerge', 'pool:144' or 'fastv:k=2,keep=64' (see `tokensieve methods`)");
        string text = spec.Trim();
        int colon = text.IndexOf(':');
        string method = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        if (method.Length == 0) throw new MethodSpecException(spec, "no method name before ':'");
        var o = new SpecText(spec, method);
        if (colon < 0) return o;
        string rest = text[(colon + 1)..];
        if (rest.Trim().Length == 0) throw new MethodSpecException(spec, $"nothing after '{method}:'");
        foreach (var raw in rest.Split([':', ',']))
        {
            string item = raw.Trim();
            if (item.Length == 0) throw new MethodSpecException(spec, "empty item (doubled ':' or ',', or a trailing one)");
            int eq = item.IndexOf('=');
            if (eq < 0)
            {
                if (o._named.Count > 0) throw new MethodSpecException(spec, $"'{item}': the budget must come before the options");
                o._positional.Add(item);
                continue;
            }
            string key = item[..eq].Trim().ToLowerInvariant(), value = item[(eq + 1)..].Trim();
            if (key.Length == 0) throw new MethodSpecException(spec, $"option '{item}' has no name");
            if (value.Length == 0) throw new MethodSpecException(spec, $"option '{key}' has no value");
            if (!o._named.TryAdd(key, value)) throw new MethodSpecException(spec, $"option '{key}' given twice");
        }
        return o;
    }

    public MethodSpecException Error(string reason) => new(Spec, reason);

    public bool Has(string key) => _named.ContainsKey(key);

    public int PositionalCount => _positional.Count;

    /// <summary>The next positional value, or null.</summary>
    public string? Positional() => _positionalUsed < _positional.Count ? _positional[_positionalUsed++] : null;

    /// <summary>The positional budget: required, a whole number ≥ 1.</summary>
    public int Budget()
    {
        string v = Positional() ?? throw Error($"{Method} needs a budget, e.g. {Method}:64");
        int k = ParseInt("budget", v);
        if (k < 1) throw Error($"budget must be at least 1, got {k}");
        return k;
    }

    string? Raw(string key)
    {
        if (!_named.TryGetValue(key, out var v)) return null;
        _used.Add(key);
        return v;
    }

    public int ParseInt(string what, string value)
    {
        if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n))
            throw Error($"{what} '{value}' is not a whole number");
        return n;
    }

    int ParseInt(string what, string value, int min, int max)
    {
        int n = ParseInt(what, value);
        if (n < min || n > max) throw Error($"{what} = {n} is out of range {min}..{max}");
        return n;
    }

    /// <summary>An integer option without a range check (the method validates it).</summary>
    public int? Int(string key) => Raw(key) is { } v ? ParseInt(key, v) : null;

    public int Int(string key, int fallback, int min, int max) => Raw(key) is { } v ? ParseInt(key, v, min, max) : fallback;

    public int? OptionalInt(string key, int min, int max) => Raw(key) is { } v ? ParseInt(key, v, min, max) : null;

    public ulong? ULong(string key)
    {
        if (Raw(key) is not { } v) return null;
        if (!ulong.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong x))
            throw Error($"{key} '{v}' is not a non-negative whole number");
        return x;
    }

    double ParseDouble(string what, string value)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.IsFinite(x))
            throw Error($"{what} '{value}' is not a number");
        return x;
    }

    double ParseDouble(string what, string value, double min, double max, bool exclusiveMin)
    {
        double x = ParseDouble(what, value);
        if (x < min || x > max || (exclusiveMin && x == min))
            throw Error($"{what} = {value} is out of range {(exclusiveMin ? "(" : "[")}{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
        return x;
    }

    /// <summary>A number option without a range check (the method validates it).</summary>
    public double? Double(string key) => Raw(key) is { } v ? ParseDouble(key, v) : null;

    /// <summary>A number in [min, max] (or (min, max] when <paramref name="exclusiveMin"/>).</summary>
    public double? OptionalDouble(string key, double min, double max, bool exclusiveMin = false) =>
        Raw(key) is { } v ? ParseDouble(key, v, min, max, exclusiveMin) : null;

    /// <summary>A '/'-separated list of integers, e.g. <c>layers=8/16/24</c>.</summary>
    public int[]? IntList(string key, int min, int max) =>
        Raw(key) is { } v ? v.Split('/').Select(p => ParseInt($"{key} item", p.Trim(), min, max)).ToArray() : null;

    public double[]? DoubleList(string key, double min, double max, bool exclusiveMin = false) =>
        Raw(key) is { } v ? v.Split('/').Select(p => ParseDouble($"{key} item", p.Trim(), min, max, exclusiveMin)).ToArray() : null;

    /// <summary>One of named values (case-insensitive), or <paramref name="fallback"/> when absent.</summary>
    public T Choice<T>(string key, T fallback, params (string Name, T Value)[] choices)
    {
        if (Raw(key) is not { } v) return fallback;
        foreach (var (name, value) in choices)
            if (string.Equals(name, v, StringComparison.OrdinalIgnoreCase)) return value;
        throw Error($"{key}='{v}' is not one of {string.Join(", ", choices.Select(c => c.Name).Distinct())}");
    }

    public bool Bool(string key, bool fallback) => Choice(key, fallback, ("true", true), ("on", true), ("yes", true), ("1", true), ("false", false), ("off", false), ("no", false), ("0", false));

    /// <summary>Returns <paramref name="method"/> once every positional value and option was read
    /// (see <see cref="CheckAllUsed"/>).</summary>
    public T Done<T>(T method)
    {
        CheckAllUsed();
        return method;
    }

    /// <summary>Names the first positional value or option the method did not read.</summary>
    public void CheckAllUsed()
    {
        if (_positionalUsed < _positional.Count)
            throw Error(_positionalUsed == 0
                ? $"{Method} takes no budget ('{_positional[0]}')"
                : $"unexpected '{_positional[_positionalUsed]}' after the budget");
        foreach (var key in _named.Keys)
            if (!_used.Contains(key))
                throw Error($"unknown option '{key}' for {Method} (see `tokensieve methods`)");
    }
}
