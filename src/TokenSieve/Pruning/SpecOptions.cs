using System.Globalization;

namespace TokenSieve.Pruning;

/// <summary>The parsed text of one spec, <c>method[:item,item,…]</c>, where an item is
/// <c>key=value</c> or a bare positional value. Every accessor validates and names the option;
/// <see cref="EnsureAllUsed"/> rejects options the method does not know.</summary>
internal sealed class SpecOptions
{
    public string Spec { get; }
    public string Method { get; }
    readonly List<string> _positional = new();
    readonly Dictionary<string, string> _named = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);
    int _positionalUsed;

    SpecOptions(string spec, string method)
    {
        Spec = spec;
        Method = method;
    }

    public static SpecOptions Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string text = spec.Trim();
        int colon = text.IndexOf(':');
        string method = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        if (method.Length == 0) throw new ReductionSpecException(spec, "no method name");
        var o = new SpecOptions(spec, method);
        if (colon < 0) return o;
        string rest = text[(colon + 1)..];
        if (rest.Trim().Length == 0) throw new ReductionSpecException(spec, $"nothing after '{method}:'");
        foreach (var raw in rest.Split(','))
        {
            string item = raw.Trim();
            if (item.Length == 0) throw new ReductionSpecException(spec, "empty option (two commas in a row, or a trailing comma)");
            int eq = item.IndexOf('=');
            if (eq < 0)
            {
                if (o._named.Count > 0) throw new ReductionSpecException(spec, $"positional value '{item}' after named options");
                o._positional.Add(item);
                continue;
            }
            string key = item[..eq].Trim().ToLowerInvariant(), value = item[(eq + 1)..].Trim();
            if (key.Length == 0 || value.Length == 0) throw new ReductionSpecException(spec, $"option '{item}' needs both a name and a value");
            if (!o._named.TryAdd(key, value)) throw new ReductionSpecException(spec, $"option '{key}' given twice");
        }
        return o;
    }

    public bool Has(string key) => _named.ContainsKey(key);

    /// <summary>The next positional value, or null.</summary>
    public string? Positional() => _positionalUsed < _positional.Count ? _positional[_positionalUsed++] : null;

    string? Raw(string key)
    {
        if (!_named.TryGetValue(key, out var v)) return null;
        _used.Add(key);
        return v;
    }

    public int Int(string key, int fallback, int min, int max) => Raw(key) is { } v ? ParseInt(key, v, min, max) : fallback;

    public int? OptionalInt(string key, int min, int max) => Raw(key) is { } v ? ParseInt(key, v, min, max) : null;

    public int ParseInt(string what, string value, int min, int max)
    {
        if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n))
            throw new ReductionSpecException(Spec, $"{what} '{value}' is not an integer");
        if (n < min || n > max) throw new ReductionSpecException(Spec, $"{what} = {n} is out of range {min}..{max}");
        return n;
    }

    /// <summary>A double in [min, max] (or (min, max] when <paramref name="exclusiveMin"/>).</summary>
    public double? OptionalDouble(string key, double min, double max, bool exclusiveMin = false)
    {
        if (Raw(key) is not { } v) return null;
        return ParseDouble(key, v, min, max, exclusiveMin);
    }

    public double ParseDouble(string what, string value, double min, double max, bool exclusiveMin = false)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.IsFinite(x))
            throw new ReductionSpecException(Spec, $"{what} '{value}' is not a number");
        if (x < min || x > max || (exclusiveMin && x == min))
            throw new ReductionSpecException(Spec, $"{what} = {value} is out of range {(exclusiveMin ? "(" : "[")}{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
        return x;
    }

    /// <summary>A '/'-separated list of integers, e.g. <c>layers=8/16/24</c>.</summary>
    public int[]? IntList(string key, int min, int max) =>
        Raw(key) is { } v ? v.Split('/').Select(p => ParseInt($"{key} item", p.Trim(), min, max)).ToArray() : null;

    public double[]? DoubleList(string key, double min, double max, bool exclusiveMin = false) =>
        Raw(key) is { } v ? v.Split('/').Select(p => ParseDouble($"{key} item", p.Trim(), min, max, exclusiveMin)).ToArray() : null;

    public string Choice(string key, string fallback, params string[] choices)
    {
        if (Raw(key) is not { } v) return fallback;
        v = v.ToLowerInvariant();
        if (!choices.Contains(v)) throw new ReductionSpecException(Spec, $"{key} = '{v}' is not one of {string.Join(", ", choices)}");
        return v;
    }

    public bool Bool(string key, bool fallback) => Raw(key) is { } v
        ? v.ToLowerInvariant() switch
        {
            "true" or "on" or "yes" or "1" => true,
            "false" or "off" or "no" or "0" => false,
            _ => throw new ReductionSpecException(Spec, $"{key} = '{v}' is not true/false"),
        }
        : fallback;

    /// <summary>Fails on any option or positional value the method did not read.</summary>
    public void EnsureAllUsed(params string[] known)
    {
        if (_positionalUsed < _positional.Count)
            throw new ReductionSpecException(Spec, $"unexpected value '{_positional[_positionalUsed]}' ({Method} takes {(_positionalUsed == 0 ? "no positional value" : "one positional value")})");
        foreach (var key in _named.Keys)
            if (!_used.Contains(key))
                throw new ReductionSpecException(Spec, $"unknown option '{key}' for {Method} (known: {string.Join(", ", known)})");
    }
}
