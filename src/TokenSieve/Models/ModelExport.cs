using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Numerics;
using TokenSieve.Text;

namespace TokenSieve.Models;

/// <summary>Writes a llava-hf model folder in other weight layouts: TokenSieve's quantised folder
/// (<c>tokensieve quantize</c>), and llama.cpp's LLaVA-1.5 GGUF pair (language model + mmproj), the files llama.cpp
/// users have on disk and the ones the side-by-side benchmark runs in both engines.</summary>
public static class ModelExport
{
    /// <summary>Writes <paramref name="outDir"/>: every file of the model folder except its weights (config.json,
    /// tokenizer, preprocessor config…), and <see cref="QuantizedWeights.FileName"/> with the language model's matrices
    /// in <paramref name="type"/> and every other tensor as stored. Returns the GGUF's path.</summary>
    public static string Quantize(string modelDir, string outDir, DType type, string? weightsFile = null)
    {
        if (!DTypes.IsQuantized(type)) throw new InvalidInputException($"quantize writes a GGML block type (q8_0, q4_0), not {DTypes.Name(type)}");
        var config = LlavaConfig.Load(Path.Combine(modelDir, "config.json"));
        if (Path.GetFullPath(modelDir).TrimEnd('/') == Path.GetFullPath(outDir).TrimEnd('/'))
            throw new InvalidInputException("--out must be a different folder from --model");
        using var weights = CheckpointReader.Open(modelDir, weightsFile);
        Directory.CreateDirectory(outDir);
        foreach (var file in Directory.EnumerateFiles(modelDir))
        {
            string name = Path.GetFileName(file);
            if (name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)
                || name == CheckpointReader.IndexFile) continue;
            File.Copy(file, Path.Combine(outDir, name), overwrite: true);
        }
        string path = Path.Combine(outDir, QuantizedWeights.FileName);
        QuantizedWeights.Write(weights, config, type, path, Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/')));
        return path;
    }

    /// <summary>Writes llama.cpp's pair for a LLaVA-1.5 folder: <c>{name}-{type}.gguf</c> (architecture llama, Q/K rows
    /// interleaved for llama.cpp's RoPE, every matrix in <paramref name="type"/>) and <c>mmproj-{name}-f16.gguf</c>
    /// (the CLIP layers up to the feature layer and the projector, F16 matrices). The vocabulary comes from
    /// tokenizer.model and added_tokens.json, padded with [PADn] tokens to the embedding rows as llama.cpp's converter
    /// does; a folder without a tokenizer (synthetic benchmarks) gets <see cref="GgufVocabulary.Synthetic"/>.
    /// <paramref name="projectorType"/> F32 keeps the mmproj's matrices in float32 (<c>mmproj-{name}-f32.gguf</c>), as the
    /// converter's <c>--use-f32</c> does.</summary>
    public static (string LanguageModel, string Projector) ExportLlamaCpp(string modelDir, string outDir, DType type, string? weightsFile = null, DType projectorType = DType.F16)
    {
        if (projectorType is not (DType.F16 or DType.F32)) throw new InvalidInputException($"the mmproj is written in F16 or F32, not {DTypes.Name(projectorType)}");
        var config = LlavaConfig.Load(Path.Combine(modelDir, "config.json"));
        using var weights = CheckpointReader.Open(modelDir, weightsFile);
        string name = Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/'));
        Directory.CreateDirectory(outDir);
        var vocab = Vocabulary(modelDir, config.Text.VocabSize);
        string lm = Path.Combine(outDir, $"{name}-{DTypes.Name(type)}.gguf");
        LlamaCppLlava.WriteLanguageModel(weights, config, vocab, type, lm, name);
        string mmproj = Path.Combine(outDir, $"mmproj-{name}-{(projectorType == DType.F32 ? "f32" : "f16")}.gguf");
        var (mean, std) = ImageNormalisation(modelDir);
        LlamaCppLlava.WriteProjector(weights, config, mmproj, name, projectorType, mean, std);
        return (lm, mmproj);
    }

    internal static GgufVocabulary Vocabulary(string modelDir, int size)
    {
        string path = Path.Combine(modelDir, "tokenizer.model");
        if (!File.Exists(path)) return GgufVocabulary.Synthetic(size);
        var sp = SentencePieceModel.Load(path);
        var tokens = new List<string>(size);
        var scores = new List<float>(size);
        var types = new List<int>(size);
        foreach (var piece in sp.Pieces)
        {
            tokens.Add(piece.Piece);
            scores.Add(piece.Score);
            types.Add((int)piece.Type);
        }
        string added = Path.Combine(modelDir, "added_tokens.json");
        if (File.Exists(added))
        {
            Dictionary<string, int>? map;
            try { map = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(added)); }
            catch (JsonException e) { throw new TokenizerException($"{added}: expected a JSON object of token text → id ({e.Message})", e); }
            foreach (var (text, id) in (map ?? []).OrderBy(kv => kv.Value))
            {
                if (id != tokens.Count) throw new TokenizerException($"{added}: '{text}' has id {id}, expected the next id {tokens.Count}");
                tokens.Add(text);
                scores.Add(0f);
                types.Add(GgufVocabulary.UserDefined);
            }
        }
        if (tokens.Count > size) throw new TokenizerException($"{path}: {tokens.Count} tokens for {size} embedding rows");
        for (int i = tokens.Count; i < size; i++)
        {
            tokens.Add($"[PAD{i}]");
            scores.Add(0f);
            types.Add(GgufVocabulary.UserDefined);
        }
        return new GgufVocabulary(tokens, scores, types, sp.BosId, sp.EosId, sp.UnkId, sp.PadId >= 0 ? sp.PadId : null);
    }

    /// <summary>image_mean / image_std of preprocessor_config.json (CLIP's when absent).</summary>
    static (float[]? Mean, float[]? Std) ImageNormalisation(string modelDir)
    {
        string path = Path.Combine(modelDir, "preprocessor_config.json");
        if (!File.Exists(path)) return (null, null);
        var p = Imaging.ImageProcessorConfig.Load(path);
        return (p.ImageMean.Select(v => (float)v).ToArray(), p.ImageStd.Select(v => (float)v).ToArray());
    }
}
