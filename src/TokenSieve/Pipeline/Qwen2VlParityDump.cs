using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Pruning;

namespace TokenSieve.Pipeline;

/// <summary>The named intermediate tensors of one Qwen2-VL run, named as the qwen2-vl-tiny fixture's
/// golden.json names them: <c>preprocess.image{k}.{pixel_values, image_grid_thw, resized_hwc}</c>,
/// <c>vision.rotary_pos_emb</c>, <c>vision.hidden_states.{0..depth}</c>, <c>vision.merger.{ln_q, mlp.0,
/// output}</c>, <c>llm.{inputs_embeds, position_ids, rope_deltas, hidden_states.*, logits}</c>,
/// <c>generate.{step_logits, decode_position_ids}</c>, <c>generated_ids</c>; with a pruner the remaining
/// rows' logits and <c>kept_positions</c>. Runs the same stages as <see cref="Qwen2VlPipeline"/> with
/// recording hooks. The ids are the exact model input: each image's pad run already expanded.</summary>
public static class Qwen2VlParityDump
{
    public static Dictionary<string, (float[] Values, int[] Shape)> Run(Qwen2VlPipeline pipeline, IReadOnlyList<Qwen2VlImagePatches> images, int[] ids, int maxNew,
        IDecoderPruner? pruner = null, CancellationToken cancel = default)
    {
        var m = pipeline.Model;
        var session = pipeline.Session;
        var ctx = session.Compute;
        var v = m.Config.Vision;
        var t = m.Config.Text;
        int e = v.EmbedDim, d = t.HiddenSize, vocab = t.VocabSize;
        var result = new Dictionary<string, (float[], int[])>();
        for (int k = 0; k < images.Count; k++)
        {
            var im = images[k];
            result[$"preprocess.image{k}.pixel_values"] = (im.PixelValues, [im.PatchCount, im.PatchLength]);
            result[$"preprocess.image{k}.image_grid_thw"] = ([im.Grid.T, im.Grid.H, im.Grid.W], [3]);
            result[$"preprocess.image{k}.resized_hwc"] = (im.Resized.Pixels.Select(b => (float)b).ToArray(), [im.Resized.Height, im.Resized.Width, 3]);
        }
        var grids = images.Select(i => i.Grid).ToList();
        int n = grids.Sum(g => g.PatchCount), tokens = n / v.MergeUnit;
        result["vision.rotary_pos_emb"] = (m.Vision.RotaryAngles(grids), [n, v.HeadDim / 2]);
        var recorder = new VisionRecorder();
        var pixels = images.SelectMany(i => i.PixelValues).ToArray();
        var hidden = m.Vision.Encode(ctx, pixels, grids, recorder, cancel);
        for (int i = 0; i < recorder.HiddenStates.Count; i++) result[$"vision.hidden_states.{i}"] = (recorder.HiddenStates[i], [n, e]);
        float[] ln = new float[n * e], fc1 = new float[tokens * v.MergedDim];
        var merged = m.Vision.Merge(ctx, hidden, n, ln, fc1);
        result["vision.merger.ln_q"] = (ln, [n, e]);
        result["vision.merger.mlp.0"] = (fc1, [tokens, v.MergedDim]);
        result["vision.merger.output"] = (merged, [tokens, d]);

        var perImage = new List<Qwen2VlImageTokens>(images.Count);
        int at = 0;
        foreach (var g in grids)
        {
            int count = g.PatchCount / v.MergeUnit;
            perImage.Add(new Qwen2VlImageTokens(merged.AsSpan(at * d, count * d).ToArray(), count, g));
            at += count;
        }
        var seq = m.Splice(ids, perImage);
        var mrope = seq.Mrope!;
        int s = seq.Length;
        result["llm.inputs_embeds"] = (seq.Embeddings, [1, s, d]);
        result["llm.position_ids"] = (mrope.Coordinates.Select(x => (float)x).ToArray(), [3, 1, s]);
        result["llm.rope_deltas"] = ([mrope.Delta], [1, 1]);
        var prefill = session.Prefill(seq, 0, new PrefillOptions { HiddenStates = pruner is null, AllLogits = true }, pruner, cancel);
        if (prefill.HiddenStates is { } hs)
            for (int i = 0; i < hs.Count; i++) result[$"llm.hidden_states.{i}"] = (hs[i], [1, s, d]);
        result["llm.logits"] = (prefill.AllLogits!, [1, prefill.FinalLength, vocab]);
        if (pruner is not null)
            result["kept_positions"] = (prefill.KeptOriginalIndices.Select(x => (float)x).ToArray(), [prefill.KeptOriginalIndices.Length]);

        if (maxNew > 0)
        {
            var steps = ParityDump.Generate(result, session, seq, maxNew, pruner, cancel).StepLogits!;
            // The token fed at decode step k (cache index s + k − 1) sits at s + k − 1 + rope_deltas on every axis.
            int fed = Math.Max(0, steps.Count - 1);
            var decodePositions = new float[3 * fed];
            for (int a = 0; a < 3; a++)
                for (int k = 0; k < fed; k++) decodePositions[a * fed + k] = s + k + mrope.Delta;
            result["generate.decode_position_ids"] = (decodePositions, [3, 1, fed]);
        }
        return result;
    }
}
