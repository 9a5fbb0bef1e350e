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
            Description = "named shape: " + string.Join(", ", SyntheticCheckpoint.Shapes.Select(s => $"{s.Name} ({s.Description})").Concat(Qwen2VlSynthetic.Shapes.Select(s => $"{s.Name} ({s.Description})"))),
            Required = true,
        };
        var output = new Option<string>("--out") { Description = "folder to write (config.json, preprocessor_config.json, model.safetensors)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "f32, f16 or bf16", DefaultValueFactory = _ => "f16" };
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 1UL };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "copy this tokenizer.model into the folder (Qwen2-VL shapes: a folder whose vocab.json, merges.txt, tokenizer_config.json / tokenizer.json are copied)" };
        var cmd = new Command("synth", "Write a random-weight checkpoint of a named real shape (llava-hf or Qwen2-VL layout).") { shape, output, dtype, seed, tokenizer };
        cmd.SetAction(p =>
        {
            if (Qwen2VlSynthetic.Find(p.GetValue(shape)!) is { } q)
            {
                WriteQwen2Vl(q, ParseDType(p.GetValue(dtype)!), p.GetValue(output)!, p.GetValue(seed), p.GetValue(tokenizer));
                return 0;
            }
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

    static void WriteQwen2Vl(Qwen2VlSynthetic.Shape s, DType dt, string dir, ulong seed, string? tokenizer)
    {
        long total = Qwen2VlSynthetic.WeightBytes(s.Config, dt);
        AnsiConsole.MarkupLine($"writing {Markup.Escape(s.Name)} ({Markup.Escape(s.Description)}), {dt}, {CommonOptions.Bytes(total)} to {Markup.Escape(dir)}");
        AnsiConsole.Progress().Start(ctx =>
        {
            var task = ctx.AddTask("weights", maxValue: total);
            Qwen2VlSynthetic.Write(dir, s.Name, s.Config, dt, seed, new Progress<(long Done, long Total)>(x => task.Value = x.Done));
            task.Value = total;
        });
        if (tokenizer is null) return;
        if (!Directory.Exists(tokenizer)) throw new InvalidInputException($"{tokenizer}: a Qwen2 tokenizer folder (vocab.json, merges.txt, tokenizer_config.json) was expected");
        var files = new[] { "vocab.json", "merges.txt", "tokenizer_config.json", "tokenizer.json" }.Where(f => File.Exists(Path.Combine(tokenizer, f))).ToList();
        if (files.Count == 0) throw new InvalidInputException($"{tokenizer}: no vocab.json, merges.txt or tokenizer.json in the folder");
        foreach (var f in files) File.Copy(Path.Combine(tokenizer, f), Path.Combine(dir, f), overwrite: true);
    }

    public static DType ParseDType(string s) => s.ToLowerInvariant() switch
    {
        "f32" or "float32" => DType.F32,
        "f16" or "float16" => DType.F16,
        "bf16" or "bfloat16" => DType.BF16,
        _ => throw new InvalidInputException($"unknown dtype '{s}' (f32, f16, bf16)"),
    };
}
