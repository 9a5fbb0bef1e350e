using System.CommandLine;
using TokenSieve.Checkpoints;
using TokenSieve.Numerics;
using TokenSieve.Methods;
using TokenSieve.Reduction;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve reduce`: apply a reduction method to tensors stored in a safetensors file, so
/// users of other runtimes can use our methods.</summary>
public static class ReduceCommand
{
    const string InputsHelp = """

        Input tensors (F32/F16/BF16; a leading batch dimension of 1 is accepted):
          image_features  [N,C]   feature-layer output without [CLS] (required). For divprune, random and
                                  pool (stage=post) these are the tokens the method works on (pass
                                  projected embeddings to reproduce the post-projector references).
          q, k            [N+1,C] prumerge/prumerge+: the last layer's raw q_proj / k_proj outputs, [CLS] first
          cls_attention   [H,N+1] fastervlm/visionzip (and prumerge attn=heads): feature-layer [CLS]
                                  softmax rows per head, [CLS] column first
          keys            [N+1,C] visionzip: the feature layer's k_proj output, [CLS] first
          cls_hidden      [C]     visionzip: the [CLS] hidden state
        Outputs (F32): features [1,M,C], kept_indices [K] (in the order the reference emits them),
        provenance_patches / provenance_weights (flattened, with provenance_offsets [M+1]).
        tome merges inside the vision tower and cannot run from stored features.
        """;

    public static Command Create()
    {
        var method = new Option<string>("--method") { Description = "reduction spec", Required = true };
        var input = new Option<string>("--in") { Description = "safetensors file with the input tensors", Required = true };
        var output = new Option<string>("--out") { Description = "safetensors file to write", Required = true };
        var grid = new Option<string?>("--grid") { Description = "patch grid HxW (default: square, sqrt(N))" };
        var heads = new Option<int?>("--heads") { Description = "attention heads (default: rows of cls_attention, else 1)" }.Range(1, 1 << 16);
        var seed = new Option<ulong>("--seed") { Description = "seed for random when the spec names none", DefaultValueFactory = _ => 0UL };
        var threads = CommonOptions.Threads();
        var cmd = new Command("reduce", "Apply a visual-token reduction method to tensors stored in a safetensors file.\n\n" + MethodCatalog.HelpText(MethodStage.Vision, MethodStage.PreLlm) + InputsHelp)
        {
            method, input, output, grid, heads, seed, threads,
        };
        cmd.SetAction(p =>
        {
            var reducer = MethodCatalog.ParseVision(p.GetValue(method)!);
            if (reducer.Needs.HasFlag(VisionNeeds.TokenMerging)) throw new MethodSpecException(reducer.Name, "ToMe merges inside the vision tower; use `tokensieve run --reduce` with a model");
            string inPath = p.GetValue(input)!;
            using var file = SafetensorsFile.Open(inPath);
            var (features, n, c) = Matrix(file, "image_features", inPath);
            var (gh, gw) = Grid(p.GetValue(grid), n);
            float[]? clsAttention = file.Contains("cls_attention") ? file.Get("cls_attention").ToFloats() : null;
            int h = p.GetValue(heads) ?? (clsAttention is not null ? clsAttention.Length / (n + 1) : 1);
            var rin = new ReductionInput
            {
                Features = features, GridHeight = gh, GridWidth = gw, Channels = c, Heads = h,
                LastLayerQueries = Optional(file, "q", n + 1, c, inPath), LastLayerKeys = Optional(file, "k", n + 1, c, inPath),
                FeatureLayerClsAttention = clsAttention, FeatureLayerKeys = Optional(file, "keys", n + 1, c, inPath),
                ClsHiddenState = file.Contains("cls_hidden") ? file.Get("cls_hidden").ToFloats() : null,
                // Stored features stand for the projector's output here: the projector is per token.
                Project = (f, rows) => (float[])f.Clone(),
                Seed = p.GetValue(seed),
            };
            var result = reducer.Reduce(rin, CommonOptions.Compute(p.GetValue(threads)));
            var offsets = new float[result.Provenance.Length + 1];
            var patches = new List<float>();
            var weights = new List<float>();
            for (int i = 0; i < result.Provenance.Length; i++)
            {
                patches.AddRange(result.Provenance[i].Patches.Select(x => (float)x));
                weights.AddRange(result.Provenance[i].Weights);
                offsets[i + 1] = patches.Count;
            }
            var w = new SafetensorsWriter().AddMetadata("method", reducer.Name)
                .Add("features", result.Tokens, [1, result.TokenCount, result.Width])
                .Add("kept_indices", result.KeptIndices.Select(x => (float)x).ToArray(), [result.KeptIndices.Length])
                .Add("provenance_offsets", offsets, [offsets.Length])
                .Add("provenance_patches", patches.ToArray(), [patches.Count])
                .Add("provenance_weights", weights.ToArray(), [weights.Count]);
            if (result.AdaptiveCount is { } a) w.AddMetadata("adaptive_count", a.ToString());
            if (result.Note is { } note) w.AddMetadata("note", note);
            w.Write(p.GetValue(output)!);
            Console.WriteLine($"{reducer.Name}: {n} -> {result.TokenCount} tokens{(result.AdaptiveCount is { } ac ? $" (adaptive count {ac})" : "")}; wrote {p.GetValue(output)}");
            if (result.Note is { } n2) Console.WriteLine($"note: {n2}");
            return 0;
        });
        return cmd;
    }

    static (float[] Values, int Rows, int Cols) Matrix(SafetensorsFile file, string name, string path)
    {
        if (!file.Contains(name)) throw new InvalidInputException($"{path}: required tensor '{name}' is missing");
        var t = file.Get(name);
        int[] shape = t.Shape;
        if (shape.Length == 3 && shape[0] == 1) shape = shape[1..];
        if (shape.Length != 2) throw new InvalidInputException($"{path}: tensor '{name}' has shape {t.ShapeText}, expected [N,C] or [1,N,C]");
        return (t.ToFloats(), shape[0], shape[1]);
    }

    static float[]? Optional(SafetensorsFile file, string name, int rows, int cols, string path)
    {
        if (!file.Contains(name)) return null;
        var (v, r, c) = Matrix(file, name, path);
        if (r != rows || c != cols) throw new InvalidInputException($"{path}: tensor '{name}' is [{r},{c}], expected [{rows},{cols}] (N+1 rows with [CLS] first, C as image_features)");
        return v;
    }

    static (int, int) Grid(string? text, int n)
    {
        if (text is null)
        {
            int g = (int)Math.Round(Math.Sqrt(n));
            if (g * g != n) throw new InvalidInputException($"{n} patches do not form a square grid; pass --grid HxW");
            return (g, g);
        }
        var parts = text.ToLowerInvariant().Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int h) || !int.TryParse(parts[1], out int w) || h <= 0 || w <= 0)
            throw new InvalidInputException($"--grid '{text}' is not HxW");
        if (h * w != n) throw new InvalidInputException($"--grid {h}x{w} has {h * w} cells but image_features has {n} rows");
        return (h, w);
    }
}
