using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>FastV, in-place variant (<c>fast_v_inplace</c>, METHODS.md §9): layers 0..K−1 see every
/// token; the head-mean attention of the last prompt token in layer K−1 ranks the visual tokens; the
/// top <c>keep</c> survive with their original position ids and layers K.. run on the shorter
/// sequence. Only that one attention row per head is computed (a row tap), never the L×L map.</summary>
public sealed class FastV : IDecoderPruner
{
    /// <summary>K: the first layer that runs on the pruned sequence (≥ 1).</summary>
    public int Layer { get; }
    /// <summary>Visual tokens kept (ATTENTION_RANK), or null to use <see cref="DropRatio"/>.</summary>
    public int? Keep { get; }
    /// <summary>Drop ratio R of the HF variant: keep = round(n_v·(1−R)), Python rounding.</summary>
    public double DropRatio { get; }
    /// <summary>Absolute start of the ranked window instead of the detected image start. The official
    /// scripts' SYS_LENGTH = 36 with the image at 35 is <c>start=36</c> (quirk, §9).</summary>
    public int? StartOverride { get; }

    public string Spec { get; }
    public PositionPolicy Positions => PositionPolicy.KeepOriginal;
    public IReadOnlyList<int> Boundaries { get; }

    public FastV(int layer = 2, int? keep = null, double dropRatio = 0.5, int? startOverride = null, string? spec = null)
    {
        Spec = spec ?? $"fastv:k={layer}," + (keep is { } m ? $"keep={m}" : $"ratio={dropRatio}") + (startOverride is { } s ? $",start={s}" : "");
        if (layer < 1) throw new ReductionSpecException(Spec, $"k = {layer}: the in-place variant needs K >= 1 (it reads the attention of layer K-1)");
        if (keep is < 1) throw new ReductionSpecException(Spec, $"keep = {keep} must be at least 1");
        if (dropRatio is < 0 or >= 1) throw new ReductionSpecException(Spec, $"ratio = {dropRatio} must be in [0, 1)");
        Layer = layer;
        Keep = keep;
        DropRatio = dropRatio;
        StartOverride = startOverride;
        Boundaries = [layer];
    }

    internal static FastV FromSpec(SpecOptions o)
    {
        int k = o.Int("k", 2, 1, 4096);
        int? keep = o.OptionalInt("keep", 1, int.MaxValue);
        double? ratio = o.OptionalDouble("ratio", 0, 1);
        int? start = o.OptionalInt("start", 0, int.MaxValue);
        string variant = o.Choice("variant", "inplace", "inplace", "mask");
        o.EnsureAllUsed("k", "keep", "ratio", "start", "variant");
        if (variant == "mask")
            throw new ReductionSpecException(o.Spec, "variant=mask is not supported: it keeps the pruned rows as queries and needs an attention key mask the fused kernel does not take; "
                + "its logits at the kept rows equal the in-place variant's (METHODS.md §9), so use variant=inplace");
        if (keep is not null && ratio is not null) throw new ReductionSpecException(o.Spec, "give either keep or ratio, not both");
        if (ratio is >= 1) throw new ReductionSpecException(o.Spec, $"ratio = {ratio} drops every visual token");
        return new FastV(k, keep, ratio ?? 0.5, start, o.Spec);
    }

    public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
    {
        if (Layer >= decoder.Layers) throw new ReductionSpecException(Spec, $"k = {Layer} but the decoder has {decoder.Layers} layers (K must be 1..{decoder.Layers - 1})");
        int nv = sequence.ImageTokens;
        int keep = Keep ?? (int)Math.Round(nv * (1 - DropRatio), MidpointRounding.ToEven);
        if (keep > nv) throw new ReductionSpecException(Spec, $"keep = {keep} is more than the {nv} visual tokens in the sequence");
        if (keep < 1) throw new ReductionSpecException(Spec, $"ratio = {DropRatio} keeps no visual token of {nv}");
        if (StartOverride is { } s && s + nv > sequence.Length)
            throw new ReductionSpecException(Spec, $"start = {s}: the ranked window [{s}, {s + nv}) runs past the sequence of {sequence.Length} tokens");
        return new Run(this, keep);
    }

    sealed class Run(FastV method, int keep) : IPrunerRun
    {
        public DecoderTapRequest Request(int boundary, int length, int imageStart, int imageCount) => new() { QueryRows = [length - 1] };

        public PruneDecision Prune(PruneState state)
        {
            int start = method.StartOverride ?? state.ImageStart, nv = state.ImageCount;
            // The code ranks by the last token's row only (the paper says "attention received from all tokens").
            var lastRow = state.HeadMeanRow(0);
            var kept = Selection.TopKAscending(lastRow.AsSpan(start, nv), keep);
            return new PruneDecision
            {
                Keep = state.KeepWindow(start, nv, kept),
                Note = $"fastv: kept {keep} of {nv} visual tokens by the last token's head-mean attention in layer {state.Layer - 1}",
            };
        }
    }
}
