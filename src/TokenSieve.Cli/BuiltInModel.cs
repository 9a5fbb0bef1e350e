namespace TokenSieve.Cli;

/// <summary>Where the built-in lab model lives: <c>models/lab</c> in the repository (found from the
/// working directory or from the executable's location upwards).</summary>
public static class BuiltInModel
{
    public const string RelativePath = "models/lab";

    public static string? Find()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, RelativePath);
                if (File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
            }
        }
        return null;
    }

    public static string Resolve(string? given) =>
        given ?? Find() ?? throw new InvalidInputException(
            $"no --model given and the built-in lab model ({RelativePath}) was not found; build it with `tokensieve train-lab` or pass --model DIR");
}
