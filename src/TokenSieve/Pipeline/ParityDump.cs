using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Pruning;

namespace TokenSieve.Pipeline;

/// <summary>The named intermediate tensors of one run, named as the fixtures' golden.json names them
/// (`preprocess.pixel_values`, `vision.hidden_states.&lt;i&gt;`, `image_features.selected`,
/// `projector.*`, LLaVA-NeXT's `image_features.{grid,unpadded_grid,packed}.image&lt;i&gt;`,
/// `image_features.packed` and `image_newline`, `llm.*`, `generate.step_logits`, `generated_ids`;
/// with a pruner the remaining positions' logits and `kept_positions`), for parity checks against
/// reference implementations. Views of every input are stacked on the first axis ([T, …]: one
/// image's view, LLaVA-NeXT's base view and tiles of every image in order, a video's frames); a
/// prompt mixing images and videos writes each kind under an `image.` / `video.` prefix, as the
/// Video-LLaVA fixture names its two cases. Runs the same stages as <see cref="LlavaPipeline"/>,
/// with recording hooks; the tokens that enter the decoder are the pipeline's own.</summary>
public static class ParityDump
{
    /// <summary>Greedy decoding of <paramref name="maxNew"/> steps from a fresh prefill (no EOS stop at the
    /// decoder's eos): <c>generate.step_logits</c> [steps, V] and <c>generated_ids</c>.</summary>
    internal static GenerationResult Generate(Dictionary<string, (float[] Values, int[] Shape)> result, InferenceSession session, SplicedSequence seq, int maxNew,
        IDecoderPruner? pruner, CancellationToken cancel)
    {
        var text = session.Decoder.Config;
        var gen = session.Generate(seq, new GenerationOptions { MaxNewTokens = maxNew, KeepStepLogits = true, EosTokenId = text.EosTokenId }, pruner, cancel);
        var steps = gen.StepLogits!;
        var flat = new float[steps.Count * text.VocabSize];
        for (int i = 0; i < steps.Count; i++) steps[i].CopyTo(flat, i * text.VocabSize);
        result["generate.step_logits"] = (flat, [steps.Count, text.VocabSize]);
        result["generated_ids"] = (gen.Tokens.Select(x => (float)x).ToArray(), [gen.Tokens.Length]);
        return gen;
    }

    public static Dictionary<string, (float[] Values, int[] Shape)> Run(LlavaPipeline pipeline, float[] pixels, int[] ids, int slot, int maxNew,
        IDecoderPruner? pruner = null, CancellationToken cancel = default) =>
        Run(pipeline, [PreparedVisual.Image(pixels)], ids, [slot], maxNew, pruner, cancel);

    public static Dictionary<string, (float[] Values, int[] Shape)> Run(LlavaPipeline pipeline, IReadOnlyList<PreparedVisual> visuals, int[] ids, IReadOnlyList<int> slots,
        int maxNew, IDecoderPruner? pruner = null, CancellationToken cancel = default)
    {
        var m = pipeline.Model;
        var session = pipeline.Session;
        var cfg = m.Config;
        var ctx = session.Compute;
        var result = new Dictionary<string, (float[], int[])>();
        if (visuals.Count != slots.Count)
            throw new InvalidInputException($"{visuals.Count} image(s)/video(s) for {slots.Count} placeholder(s) in the input ids");
        int s = cfg.Vision.ImageSize, c = cfg.Vision.HiddenSize, t = cfg.Vision.SequenceLength, d = cfg.Text.HiddenSize, v = cfg.Text.VocabSize;
        bool mixed = visuals.Select(x => x.Kind).Distinct().Count() > 1;

        foreach (var kind in visuals.Select(x => x.Kind).Distinct())
        {
            string prefix = mixed ? (kind == VisualKind.Video ? "video." : "image.") : "";
            var ofKind = visuals.Where(x => x.Kind == kind).ToList();
            var tower = kind == VisualKind.Video ? m.VideoVision! : m.Vision;
            bool keepCls = kind == VisualKind.Video || cfg.KeepClsFeature;
            int rows = cfg.Vision.NumPatches + (keepCls ? 1 : 0);
            var views = ofKind.SelectMany(x => x.Views).ToList();
            int n = views.Count;
            var pixels = new List<float[]>();
            var embeddings = new List<float[]>();
            var hidden = new List<List<float[]>>();
            var selected = new List<float[]>();
            var l1 = new List<float[]>();
            var gelu = new List<float[]>();
            var projected = new List<float[]>();
            foreach (var px in views)
            {
                var recorder = new VisionRecorder();
                var vision = tower.Forward(ctx, px, recorder, cancel);
                pixels.Add(px);
                embeddings.Add(recorder.Embeddings!);
                for (int i = 0; i < recorder.HiddenStates.Count; i++)
                {
                    if (hidden.Count <= i) hidden.Add([]);
                    hidden[i].Add(recorder.HiddenStates[i]);
                }
                var sel = (keepCls ? vision.FeatureHidden.AsSpan(0, rows * c) : vision.PatchFeatures).ToArray();
                selected.Add(sel);
                float[] a = new float[rows * d], b = new float[rows * d], z = new float[rows * d];
                m.Projector.Forward(ctx, sel, rows, z, a, b);
                l1.Add(a);
                gelu.Add(b);
                projected.Add(z);
            }
            result[prefix + "preprocess.pixel_values"] = (Concat(pixels), [n, cfg.Vision.NumChannels, s, s]);
            result[prefix + "vision.embeddings"] = (Concat(embeddings), [n, t, c]);
            for (int i = 0; i < hidden.Count; i++) result[$"{prefix}vision.hidden_states.{i}"] = (Concat(hidden[i]), [n, t, c]);
            result[prefix + "image_features.selected"] = (Concat(selected), [n, rows, c]);
            result[prefix + "projector.linear_1"] = (Concat(l1), [n, rows, d]);
            result[prefix + "projector.gelu"] = (Concat(gelu), [n, rows, d]);
            result[prefix + "projector.output"] = (Concat(projected), [n, rows, d]);

            // LLaVA-NeXT: the tiles arranged on the feature grid, the unpadded grid, and the packed rows.
            if (kind == VisualKind.Image && ofKind.Any(x => x.AnyRes is not null))
            {
                int g = cfg.Vision.GridSize, view = 0;
                var sizes = new List<float>();
                for (int i = 0; i < ofKind.Count; i++)
                {
                    var plan = ofKind[i].AnyRes!;
                    sizes.Add(plan.Height);
                    sizes.Add(plan.Width);
                    result[$"{prefix}preprocess.image{i}.best_resolution"] = ([plan.Best.Height, plan.Best.Width], [2]);
                    var (gh, gw) = plan.FeatureGrid;
                    var grid = new float[gh * gw * d];
                    for (int r = 0; r < gh; r++)
                    for (int col = 0; col < gw; col++)
                    {
                        int tile = 1 + r / g * plan.Tiles.Cols + col / g, patch = r % g * g + col % g;
                        projected[view + tile].AsSpan(patch * d, d).CopyTo(grid.AsSpan((r * gw + col) * d, d));
                    }
                    result[$"{prefix}image_features.grid.image{i}"] = (grid, [gh, gw, d]);
                    var (top, ur, left, uc) = plan.Unpadded;
                    var unpadded = new float[ur * uc * d];
                    for (int r = 0; r < ur; r++)
                        grid.AsSpan(((top + r) * gw + left) * d, uc * d).CopyTo(unpadded.AsSpan(r * uc * d));
                    result[$"{prefix}image_features.unpadded_grid.image{i}"] = (unpadded, [ur, uc, d]);
                    view += plan.TileCount;
                }
                result[prefix + "preprocess.image_sizes"] = (sizes.ToArray(), [ofKind.Count, 2]);
                if (m.ImageNewline is { } newline) result[prefix + "image_newline"] = (newline, [d]);
            }
        }

        var encoded = visuals.Select((x, i) => pipeline.Encode(x, null, (ulong)i, cancel)).ToList();
        if (cfg.Variant == LlavaVariant.LlavaNext)
        {
            var images = visuals.Select((x, i) => (x, i)).Where(p => p.x.Kind == VisualKind.Image).ToList();
            for (int k = 0; k < images.Count; k++)
            {
                var e = encoded[images[k].i];
                result[$"image_features.packed.image{k}"] = (e.Tokens.AsSpan(0, e.Count * d).ToArray(), [e.Count, d]);
            }
            var all = images.SelectMany(p => encoded[p.i].Tokens.Take(encoded[p.i].Count * d)).ToArray();
            result["image_features.packed"] = (all, [all.Length / d, d]);
        }

        var seq = session.Splice(ids, encoded.Select((e, i) => new SplicedImage(slots[i], e.Tokens, e.Count, e.Layout)).ToList());
        result["llm.inputs_embeds"] = (seq.Embeddings.AsSpan(0, seq.Length * d).ToArray(), [1, seq.Length, d]);
        result["llm.position_ids"] = (seq.Positions.Select(x => (float)x).ToArray(), [1, seq.Length]);
        var prefill = session.Prefill(seq, 0, new PrefillOptions { HiddenStates = pruner is null, AllLogits = true }, pruner, cancel);
        if (prefill.HiddenStates is { } hs)
            for (int i = 0; i < hs.Count; i++) result[$"llm.hidden_states.{i}"] = (hs[i], [1, seq.Length, d]);
        result["llm.logits"] = (prefill.AllLogits!, [1, prefill.FinalLength, v]);
        if (pruner is not null)
            result["kept_positions"] = (prefill.KeptOriginalIndices.Select(x => (float)x).ToArray(), [prefill.KeptOriginalIndices.Length]);

        if (maxNew > 0) Generate(result, session, seq, maxNew, pruner, cancel);
        return result;
    }

    static float[] Concat(List<float[]> parts)
    {
        if (parts.Count == 1) return parts[0];
        var all = new float[parts.Sum(p => p.Length)];
        int o = 0;
        foreach (var p in parts)
        {
            p.CopyTo(all, o);
            o += p.Length;
        }
        return all;
    }
}
