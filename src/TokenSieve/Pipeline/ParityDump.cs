using TokenSieve.Models;
using TokenSieve.Pruning;

namespace TokenSieve.Pipeline;

/// <summary>The named intermediate tensors of one run, named as the fixtures' golden.json names them
/// (`vision.hidden_states.&lt;i&gt;`, `image_features.selected`, `projector.*`, `llm.*`,
/// `generate.step_logits`, `generated_ids`; with a pruner the remaining positions' logits and
/// `kept_positions`), for parity checks against reference implementations. Runs the same stages as
/// <see cref="LlavaPipeline"/>, with recording hooks.</summary>
public static class ParityDump
{
    public static Dictionary<string, (float[] Values, int[] Shape)> Run(LlavaPipeline pipeline, float[] pixels, int[] ids, int slot, int maxNew,
        IDecoderPruner? pruner = null, CancellationToken cancel = default)
    {
        var m = pipeline.Model;
        var session = pipeline.Session;
        var cfg = m.Config;
        var ctx = session.Compute;
        var result = new Dictionary<string, (float[], int[])>();
        int s = cfg.Vision.ImageSize, c = cfg.Vision.HiddenSize, t = cfg.Vision.SequenceLength, d = cfg.Text.HiddenSize, v = cfg.Text.VocabSize;
        result["preprocess.pixel_values"] = (pixels, [1, cfg.Vision.NumChannels, s, s]);
        var recorder = new VisionRecorder();
        var vision = m.Vision.Forward(ctx, pixels, recorder, cancel);
        result["vision.embeddings"] = (recorder.Embeddings!, [1, t, c]);
        for (int i = 0; i < recorder.HiddenStates.Count; i++) result[$"vision.hidden_states.{i}"] = (recorder.HiddenStates[i], [1, t, c]);
        int rows = cfg.ImageTokensPerImage;
        var selected = (cfg.KeepClsFeature ? vision.FeatureHidden.AsSpan(0, rows * c) : vision.PatchFeatures).ToArray();
        result["image_features.selected"] = (selected, [1, rows, c]);
        float[] l1 = new float[rows * d], gelu = new float[rows * d], projected = new float[rows * d];
        m.Projector.Forward(ctx, selected, rows, projected, l1, gelu);
        result["projector.linear_1"] = (l1, [1, rows, d]);
        result["projector.gelu"] = (gelu, [1, rows, d]);
        result["projector.output"] = (projected, [1, rows, d]);

        var seq = session.Splice(ids, slot, projected, rows);
        result["llm.inputs_embeds"] = (seq.Embeddings, [1, seq.Length, d]);
        result["llm.position_ids"] = (seq.Positions.Select(x => (float)x).ToArray(), [1, seq.Length]);
        var prefill = session.Prefill(seq, 0, new PrefillOptions { HiddenStates = pruner is null, AllLogits = true }, pruner, cancel);
        if (prefill.HiddenStates is { } hs)
            for (int i = 0; i < hs.Count; i++) result[$"llm.hidden_states.{i}"] = (hs[i], [1, seq.Length, d]);
        result["llm.logits"] = (prefill.AllLogits!, [1, prefill.FinalLength, v]);
        if (pruner is not null)
            result["kept_positions"] = (prefill.KeptOriginalIndices.Select(x => (float)x).ToArray(), [prefill.KeptOriginalIndices.Length]);

        if (maxNew > 0)
        {
            var gen = session.Generate(seq, new GenerationOptions { MaxNewTokens = maxNew, KeepStepLogits = true, EosTokenId = cfg.Text.EosTokenId }, pruner, cancel);
            var steps = gen.StepLogits!;
            var flat = new float[steps.Count * v];
            for (int i = 0; i < steps.Count; i++) steps[i].CopyTo(flat, i * v);
            result["generate.step_logits"] = (flat, [steps.Count, v]);
            result["generated_ids"] = (gen.Tokens.Select(x => (float)x).ToArray(), [gen.Tokens.Length]);
        }
        return result;
    }
}
