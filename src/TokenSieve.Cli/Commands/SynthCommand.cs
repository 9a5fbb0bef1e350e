using System.CommandLine;
using Spectre.Console;
using TokenSieve.Checkpoints;
using TokenSieve.Numerics;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve synth`: random-weight checkpoints of real shapes, for speed and memory benchmarks.</summary>
public static class SynthCommand
{
    public static Command Create()
    {
        var shape = new Option<string>("--shape")
        {
            Description = "named shape: " + string.Join(", ", SyntheticCheckpoint.Shapes.Select(s => $"{s.Name} ({s.Description})")),
            Required = true,
        };
        var output = new Option<string>("--out") { Description = "folder to write (config.json, preprocessor_config.json, model.safetensors)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "f32, f16 or bf16", DefaultValueFactory = _ => "f16" };
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 1UL };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "copy this tokenizer.model into the folder" };
        var cmd = new Command("synth", "Write a random-weight llava-hf checkpoint of a named real shape.") { shape, output, dtype, seed, tokenizer };
        cmd.SetAction(p =>
        {
            var s = SyntheticCheckpoint.Find(p.GetValue(shape)!);
            var dt = ParseDType(p.GetValue(dtype)!);
            string dir = p.GetValue(output)!;
            long total = SyntheticCheckpoint.WeightBytes(s, dt);
            AnsiConsole.MarkupLine($"writing {Markup.Escape(s.Name)} ({Markup.Escape(s.Description)}), {dt}, {CommonOptions.Bytes(total)} to {Markup.Escape(dir)}");
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("weights", maxValue: total);
                SyntheticCheckpoint.Write(dir, s, dt, p.GetValue(seed), new Progress<(long Done, long Total)>(x => task.Value = x.Done));
                task.Value = total;
            });
            if (p.GetValue(tokenizer) is { } tok)
            {
                if (!File.Exists(tok)) throw new InvalidInputException($"{tok}: tokenizer file not found");
                File.Copy(tok, Path.Combine(dir, "tokenizer.model"), overwrite: true);
            }
            return 0;
        });
        return cmd;
    }

    public static DType ParseDType(string s) => s.ToLowerInvariant() switch
    {
        "f32" or "float32" => DType.F32,
        "f16" or "float16" => DType.F16,
        "bf16" or "bfloat16" => DType.BF16,
        _ => throw new InvalidInputException($"unknown dtype '{s}' (f32, f16, bf16)"),
    };
}
