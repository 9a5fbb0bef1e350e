using System.CommandLine;
using Spectre.Console;
using TokenSieve.Checkpoints;
using TokenSieve.Models;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve quantize`: a quantised copy of a model folder (TokenSieve's format, docs/quantization.md), or
/// llama.cpp's LLaVA-1.5 GGUF pair with <c>--format llama.cpp</c>.</summary>
public static class QuantizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var type = new Option<string>("--type") { Description = "q8_0 or q4_0 (GGML block types)", Required = true };
        var output = new Option<string>("--out") { Description = "folder to write", Required = true };
        var format = new Option<string>("--format")
        {
            Description = "tokensieve (default): the model folder with model.gguf holding llava-hf tensor names; "
                + "llama.cpp: the language-model GGUF + mmproj GGUF that llama.cpp's LLaVA tools and llama-bench read (also accepts f16 as --type)",
            DefaultValueFactory = _ => "tokensieve",
        };
        var cmd = new Command("quantize", "Write a quantised copy of a model folder, or llama.cpp's GGUF pair for it.") { model, type, output, format };
        cmd.SetAction(p =>
        {
            string dir = p.GetValue(model)!, outDir = p.GetValue(output)!, typeText = p.GetValue(type)!;
            if (Qwen2VlCommands.Is(dir))
                throw new InvalidInputException($"{dir} holds a Qwen2-VL model; quantize writes LLaVA-family folders (llava, llava_next, video_llava)");
            switch (p.GetValue(format)!.ToLowerInvariant())
            {
                case "tokensieve":
                {
                    var t = QuantizedWeights.Parse(typeText);
                    string path = ModelExport.Quantize(dir, outDir, t);
                    AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)} ({CommonOptions.Bytes(new FileInfo(path).Length)})");
                    break;
                }
                case "llama.cpp" or "llamacpp":
                {
                    var t = typeText.ToLowerInvariant() switch
                    {
                        "f16" => Numerics.DType.F16,
                        "f32" => Numerics.DType.F32,
                        _ => QuantizedWeights.Parse(typeText),
                    };
                    var (lm, mmproj) = ModelExport.ExportLlamaCpp(dir, outDir, t);
                    AnsiConsole.MarkupLine($"wrote {Markup.Escape(lm)} ({CommonOptions.Bytes(new FileInfo(lm).Length)}) and {Markup.Escape(mmproj)} ({CommonOptions.Bytes(new FileInfo(mmproj).Length)})");
                    break;
                }
                default:
                    throw new InvalidInputException($"--format must be tokensieve or llama.cpp, got '{p.GetValue(format)}'");
            }
            return 0;
        });
        return cmd;
    }
}
