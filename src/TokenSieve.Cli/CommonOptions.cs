using System.CommandLine;
using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Cli;

/// <summary>Options shared by several verbs, defined once.</summary>
public static class CommonOptions
{
    public static Option<string> Model(bool required = true) => new("--model")
    {
        Description = "llava-hf model folder (config.json, model.safetensors or shards + index, tokenizer.model, preprocessor_config.json)",
        Required = required,
    };

    public static Option<int> Threads() => new Option<int>("--threads")
    {
        Description = "compute threads (0 = all cores)",
        DefaultValueFactory = _ => 0,
    }.Range(0, ComputeContext.MaxThreads);

    public static Option<bool> AllowUnknownConfigKeys() => new("--allow-unknown-config-keys")
    {
        Description = "ignore config.json keys TokenSieve does not know (they are listed in the report) instead of failing",
    };

    public static Option<string?> WeightsFile() => new("--weights")
    {
        Description = "q8_0 or q4_0: quantise the language model's matrices to that GGML block type while loading (docs/quantization.md); "
            + "any other value names a .safetensors (or quantised .gguf) file of the folder to load instead of model.safetensors / the shard index",
    };

    public static Option<string> Attention(bool allowBoth = false) => new("--attention")
    {
        Description = "fused (default): streaming attention with exact row taps; eager: materialise every layer's softmax matrix as frameworks without row taps do (METHODS.md §15.4)"
            + (allowBoth ? "; both: measure each configuration both ways" : ""),
        DefaultValueFactory = _ => "fused",
    };

    public static AttentionMode ParseAttention(string text) => text.ToLowerInvariant() switch
    {
        "fused" => AttentionMode.Fused,
        "eager" => AttentionMode.Eager,
        _ => throw new InvalidInputException($"--attention must be fused or eager, got '{text}'"),
    };

    public static Option<string> VisionBudget() => new("--vision-budget")
    {
        Description = "for inputs of several views (LLaVA-NeXT tiles, video frames): per-view (each tile/frame keeps the method's budget; default) or per-input (the budget is for the whole image/video, split over its views)",
        DefaultValueFactory = _ => "per-view",
    };

    public static Pipeline.VisionBudgetScope ParseVisionBudget(string text) => text.ToLowerInvariant() switch
    {
        "per-view" or "view" => Pipeline.VisionBudgetScope.PerView,
        "per-input" or "input" or "total" => Pipeline.VisionBudgetScope.PerInput,
        _ => throw new InvalidInputException($"--vision-budget must be per-view or per-input, got '{text}'"),
    };

    public static ComputeContext Compute(int threads, AttentionMode attention = AttentionMode.Fused)
    {
        if (threads < 0 || threads > ComputeContext.MaxThreads)
            throw new InvalidInputException($"--threads must be 0..{ComputeContext.MaxThreads} (0 = all {Environment.ProcessorCount} cores), got {threads}");
        return new ComputeContext(threads, attention);
    }

    /// <summary>Loads a model folder; <paramref name="weights"/> is --weights: a weight type to quantise to, or a weights file.</summary>
    public static Option<string?> Mmproj() => new("--mmproj")
    {
        Description = "llama.cpp's LLaVA-1.5 pair: the mmproj GGUF (CLIP tower + projector); --model is then the language model GGUF (docs/quantization.md)",
    };

    public static LlavaModel LoadModel(string folder, bool allowUnknownKeys, string? weights, ComputeContext? compute = null, string? mmproj = null)
    {
        DType? type = weights is not null && QuantizedWeights.IsTypeName(weights) ? QuantizedWeights.Parse(weights) : null;
        if (mmproj is not null)
        {
            if (weights is not null && type is null) throw new InvalidInputException($"--weights {weights}: with --mmproj only q8_0 or q4_0 (quantise at load) applies");
            return LlavaModel.LoadGgufPair(folder, mmproj, new ModelLoadOptions { WeightType = type, Compute = compute });
        }
        if (File.Exists(folder) && folder.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            throw new InvalidInputException($"--model {folder} is a GGUF file: a llama.cpp LLaVA-1.5 pair also needs its image encoder, --mmproj MMPROJ.gguf");
        return LlavaModel.Load(folder, new ModelLoadOptions
        {
            AllowUnknownConfigKeys = allowUnknownKeys, WeightsFile = type is null ? weights : null, WeightType = type, Compute = compute,
        });
    }

    public static string Bytes(double bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / (1L << 10):F1} KiB",
        _ => $"{bytes:F0} B",
    };

    /// <summary>A number for a table or line; NaN (nothing measured, e.g. scored foreign predictions) as "–", as the reports print it.</summary>
    public static string Number(double value, string format) => double.IsNaN(value) ? "–" : value.ToString(format, System.Globalization.CultureInfo.InvariantCulture);

    public static string Flops(double flops) => flops switch
    {
        double.NaN => "–",
        >= 1e12 => $"{flops / 1e12:F2} TFLOP",
        >= 1e9 => $"{flops / 1e9:F2} GFLOP",
        >= 1e6 => $"{flops / 1e6:F1} MFLOP",
        _ => $"{flops:F0} FLOP",
    };
}

/// <summary>Spectre output bound to the current Console.Out (so in-process callers that redirect
/// Console see the tables too).</summary>
public static class CliConsole
{
    public static Spectre.Console.IAnsiConsole Out =>
        Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(Console.Out) });
}

/// <summary>Range checks on numeric options: a value outside is a usage error (one `error:` line, exit
/// 2) naming the option, before anything runs.</summary>
public static class OptionRanges
{
    public static Option<int> Range(this Option<int> o, int min, int max)
    {
        o.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < min || v > max) r.AddError($"{o.Name} must be {min}..{max}, got {v}");
        });
        return o;
    }

    public static Option<int?> Range(this Option<int?> o, int min, int max)
    {
        o.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is int v && (v < min || v > max)) r.AddError($"{o.Name} must be {min}..{max}, got {v}");
        });
        return o;
    }

    public static Option<float> Range(this Option<float> o, float min, float max)
    {
        o.Validators.Add(r =>
        {
            float v = r.GetValueOrDefault<float>();
            if (!(v >= min && v <= max)) r.AddError($"{o.Name} must be a number in {min}..{max}, got {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        });
        return o;
    }
}
