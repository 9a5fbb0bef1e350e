using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Checkpoints;
using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;
using TokenSieve.Numerics;

namespace TokenSieve.Lab.Training;

/// <summary>Writes and reads the lab model as a llava-hf folder: config.json and
/// preprocessor_config.json (the library's one config writer; CLIPImageProcessor at the model's
/// size), model.safetensors (exact llava-hf names, F32 or F16), generation_config.json,
/// added_tokens.json (&lt;image&gt;, &lt;pad&gt;) and tokenizer.model (written by the caller's
/// SentencePiece writer from <see cref="LabVocabulary.Pieces"/>).</summary>
public static class LabCheckpoint
{
    public const string ConfigFile = "config.json", WeightsFile = "model.safetensors", PreprocessorFile = "preprocessor_config.json",
        GenerationFile = "generation_config.json", AddedTokensFile = "added_tokens.json", TokenizerFile = "tokenizer.model";

    /// <param name="tokenizerModel">Serialises the vocabulary to SentencePiece's tokenizer.model bytes
    /// (TokenSieve's SentencePiece writer); when null, tokenizer.model is not written.</param>
    public static void Save(LabModel model, string directory, DType dtype = DType.F32, Func<IReadOnlyList<LabPiece>, byte[]>? tokenizerModel = null)
    {
        Directory.CreateDirectory(directory);
        var c = model.Config;
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        foreach (var p in model.Parameters.List)
        {
            if (!p.Exported) continue;
            writer.Add(p.Name, model.Parameters.Data.AsSpan(p.Offset, p.Length).ToArray(), p.Shape, dtype);
        }
        writer.Write(Path.Combine(directory, WeightsFile));
        File.WriteAllText(Path.Combine(directory, ConfigFile), LlavaConfigWriter.ToJson(c.ToLlava(), dtype));
        File.WriteAllText(Path.Combine(directory, PreprocessorFile), LlavaConfigWriter.PreprocessorJson(c.ImageSize));
        File.WriteAllText(Path.Combine(directory, GenerationFile), Indented(new JsonObject
        {
            ["bos_token_id"] = c.BosTokenId, ["eos_token_id"] = c.EosTokenId, ["pad_token_id"] = c.PadTokenId,
        }));
        File.WriteAllText(Path.Combine(directory, AddedTokensFile), Indented(new JsonObject
        {
            ["<image>"] = c.ImageTokenIndex, ["<pad>"] = c.PadTokenId,
        }));
        if (tokenizerModel is not null) File.WriteAllBytes(Path.Combine(directory, TokenizerFile), tokenizerModel(LabVocabulary.Pieces));
    }

    static string Indented(JsonNode n) => n.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Loads the exported tensors of a llava-hf folder (any supported dtype) into a lab
    /// model built from its config.json. Missing or mis-shaped tensors are errors; tensors the lab
    /// model does not have are ignored only if they are known buffers.</summary>
    public static LabModel Load(string directory)
    {
        var config = LlavaConfig.Load(directory);
        var model = new LabModel(LabModelConfig.FromLlava(config));
        using var reader = CheckpointReader.Open(directory);
        foreach (var p in model.Parameters.List)
        {
            if (!p.Exported) continue;
            if (!reader.Contains(p.Name)) throw new CheckpointException(directory, p.Name, "missing from the checkpoint");
            var t = reader.Get(p.Name).ExpectShape(p.Shape);
            t.ToFloats().AsSpan().CopyTo(model.Parameters.Data.AsSpan(p.Offset, p.Length));
        }
        foreach (var name in reader.Names)
            if (!model.Parameters.Contains(TensorNames.Canonical(name)) && !TensorNames.IsIgnoredBuffer(name))
                throw new CheckpointException(directory, name, "unexpected tensor (not part of a LLaVA with this config)");
        model.RefreshTransposed();
        return model;
    }
}
