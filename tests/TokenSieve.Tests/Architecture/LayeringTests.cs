using System.Reflection;
using System.Text.RegularExpressions;

namespace TokenSieve.Tests.Architecture;

/// <summary>The library's folders form the layers of DESIGN.md §3: each may use only the folders
/// below it, so models know no method and there is no cycle. Checked on the source (using
/// directives, qualified and relative references such as <c>Pipeline.X</c>) and on the compiled
/// signatures (field, property, parameter and return types, base types).</summary>
public sealed class LayeringTests
{
    /// <summary>The layers, lowest first; a folder may depend on folders of a lower rank only.</summary>
    static readonly Dictionary<string, int> Rank = new()
    {
        ["Numerics"] = 1, ["Checkpoints"] = 2, ["Imaging"] = 2, ["Text"] = 2,
        ["Models"] = 3, ["Reduction"] = 4, ["Pruning"] = 4, ["Cost"] = 4,
        ["Methods"] = 5, ["Pipeline"] = 6, ["Evaluation"] = 7, ["AI"] = 8,
    };

    static string LibrarySource()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TokenSieve.slnx"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, "src", "TokenSieve");
    }

    static Dictionary<string, HashSet<string>> SourceDependencies()
    {
        string root = LibrarySource();
        var names = string.Join("|", Rank.Keys);
        var qualified = new Regex($@"(?<![\w.])(?:global::)?TokenSieve\.({names})\b");
        // Relative references (Models.LlavaModel inside namespace TokenSieve.X) count only when the
        // name after the dot is a type of that layer (Text.HiddenSize is a property, not a layer).
        var relative = new Regex($@"(?<![\w.])({names})\.([A-Z]\w*)");
        var typesOf = typeof(TokenSieveException).Assembly.GetTypes().Where(t => t.Namespace?.StartsWith("TokenSieve.", StringComparison.Ordinal) == true)
            .GroupBy(t => t.Namespace!["TokenSieve.".Length..].Split('.')[0]).ToDictionary(g => g.Key, g => g.Select(t => t.Name.Split('`')[0]).ToHashSet());
        var deps = Rank.Keys.ToDictionary(k => k, _ => new HashSet<string>());
        foreach (var folder in Rank.Keys)
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, folder), "*.cs", SearchOption.AllDirectories))
        {
            foreach (var line in File.ReadLines(file))
            {
                string code = line.TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal) || code.StartsWith("namespace ", StringComparison.Ordinal)) continue;
                foreach (Match m in qualified.Matches(line)) deps[folder].Add(m.Groups[1].Value);
                foreach (Match m in relative.Matches(line))
                    if (typesOf.TryGetValue(m.Groups[1].Value, out var types) && types.Contains(m.Groups[2].Value)) deps[folder].Add(m.Groups[1].Value);
            }
            deps[folder].Remove(folder);
        }
        return deps;
    }

    [Fact]
    public void Every_folder_uses_only_the_layers_below_it_in_the_source()
    {
        var deps = SourceDependencies();
        var violations = deps.SelectMany(d => d.Value.Where(to => Rank[to] >= Rank[d.Key]).Select(to => $"{d.Key} -> {to}")).ToList();
        Assert.True(violations.Count == 0, "layering violations: " + string.Join(", ", violations));
        Assert.DoesNotContain("Reduction", deps["Models"]);
        Assert.DoesNotContain("Pruning", deps["Models"]);
        Assert.DoesNotContain("Methods", deps["Models"]);
    }

    [Fact]
    public void Compiled_signatures_respect_the_layers()
    {
        var asm = typeof(TokenSieveException).Assembly;
        string Layer(Type t) => t.Namespace is { } ns && ns.StartsWith("TokenSieve.", StringComparison.Ordinal) ? ns["TokenSieve.".Length..].Split('.')[0] : "";
        var violations = new List<string>();
        foreach (var type in asm.GetTypes())
        {
            string from = Layer(type);
            if (!Rank.ContainsKey(from)) continue;
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            var used = new List<Type>();
            if (type.BaseType is { } b) used.Add(b);
            used.AddRange(type.GetInterfaces());
            used.AddRange(type.GetFields(all).Select(f => f.FieldType));
            used.AddRange(type.GetProperties(all).Select(p => p.PropertyType));
            foreach (var m in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                used.AddRange(m.GetParameters().Select(p => p.ParameterType));
                if (m is MethodInfo mi) used.Add(mi.ReturnType);
            }
            foreach (var u in used.SelectMany(Flatten))
            {
                string to = Layer(u);
                if (Rank.TryGetValue(to, out int r) && to != from && r >= Rank[from]) violations.Add($"{type.FullName} -> {u.FullName}");
            }
        }
        Assert.True(violations.Count == 0, "layering violations: " + string.Join(", ", violations.Distinct().Take(20)));
    }

    static IEnumerable<Type> Flatten(Type t)
    {
        if (t.HasElementType) return Flatten(t.GetElementType()!);
        return t.IsGenericType ? [t, .. t.GetGenericArguments().SelectMany(Flatten)] : [t];
    }
}
