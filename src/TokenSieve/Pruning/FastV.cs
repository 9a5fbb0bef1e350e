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
        if (layer < 1) throw new MethodSpecException(Spec, $"k = {layer}: the in-place variant needs K >= 1 (it reads the attention of layer K-1)");
        if (keep is < 1) throw new MethodSpecException(Spec, $"keep = {keep} must be at least 1");
        if (dropRatio is < 0 or >= 1) throw new MethodSpecException(Spec, $"ratio = {dropRatio} must be in [0, 1)");
        Layer = layer;
        Keep = keep;
        DropRatio = dropRatio;
        StartOverride = startOverride;
        Boundaries = [layer];
    }

    public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
    {
        if (Layer >= decoder.Layers) throw new MethodSpecException(Spec, $"k = {Layer} but the decoder has {decoder.Layers} layers (K must be 1..{decoder.Layers - 1})");
        int nv = sequence.ImageTokens;
        int keep = Keep ?? (int)Math.Round(nv * (1 - DropRatio), MidpointRounding.ToEven);
        if (keep > nv) throw new MethodSpecException(Spec, $"keep = {keep} is more than the {nv} visual tokens in the sequence");
        if (keep < 1) throw new MethodSpecException(Spec, $"ratio = {DropRatio} keeps no visual token of {nv}");
        if (StartOverride is { } s && s + nv > sequence.Length)
            throw new MethodSpecException(Spec, $"start = {s}: the ranked window [{s}, {s + nv}) runs past the sequence of {sequence.Length} tokens");
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
