using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Reduction;

namespace TokenSieve.Pipeline;

/// <summary>What one run did and cost: tokens per stage, wall time per stage, FLOPs, KV bytes, and
/// what the reduction kept. Every field is measured or counted, never estimated from a spec.</summary>
public sealed record RunReport
{
    public required string Reduction { get; init; }
    public required string Pruning { get; init; }
    public required int Threads { get; init; }
    /// <summary>The type the language model's matrices ran in ("f16", "q4_0", …).</summary>
    public string Weights { get; init; } = "";
    /// <summary>Fused or eager attention (METHODS.md §15.4).</summary>
    public AttentionMode Attention { get; init; }
    /// <summary>Images in the prompt.</summary>
    public int Images { get; init; } = 1;
    /// <summary>Visual tokens before reduction (patches the tower produced), over all images.</summary>
    public required int VisualTokensBefore { get; init; }
    /// <summary>Visual tokens entering the decoder, over all images.</summary>
    public required int VisualTokens { get; init; }
    /// <summary>Vision patches before the model's own merge (Qwen2-VL: merge² patches per visual token),
    /// over all images; null for models without one. Budgets count visual tokens, not these.</summary>
    public int? PatchesBeforeMerge { get; init; }
    public int? AdaptiveCount { get; init; }
    public required int PromptTokens { get; init; }
    public required int GeneratedTokens { get; init; }
    public required int[] TokensPerLayer { get; init; }
    public required double PreprocessMs { get; init; }
    public required double VisionMs { get; init; }
    public required double ReductionMs { get; init; }
    public required double ProjectorMs { get; init; }
    public required double PrefillMs { get; init; }
    /// <summary>From the image to the first generated token: preprocessing, vision tower, reduction,
    /// projector, prefill and the first sample (what a user waits for, not the prefill alone).</summary>
    public required double TimeToFirstTokenMs { get; init; }
    public required double DecodeMs { get; init; }
    public double DecodeTokensPerSecond => GeneratedTokens > 1 && DecodeMs > 0 ? (GeneratedTokens - 1) / (DecodeMs / 1000) : 0;
    public required double VisionFlops { get; init; }
    public required double ProjectorFlops { get; init; }
    public required double PrefillFlops { get; init; }
    public required long KvCacheBytes { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }
    /// <summary>The first image's reduction output with provenance (null for `none`).</summary>
    public ReductionResult? ReductionResult { get; init; }
    /// <summary>Where each visual token entering the decoder came from (patches of the tower's grid and
    /// their weights), in sequence order; single patches without reduction.</summary>
    public required IReadOnlyList<TokenProvenance> VisualSources { get; init; }
    /// <summary>Each image's (first row, token count) in the prompt, in order; <see cref="VisualSources"/>
    /// lists their tokens one image after another.</summary>
    public IReadOnlyList<(int Start, int Count)> ImageSpans { get; init; } = [];
    public required PatchGrid Grid { get; init; }
    /// <summary>The scores decoder pruners ranked the visual tokens by, one entry per pruning stage that has one.</summary>
    public IReadOnlyList<StageRanking> DecoderRankings { get; init; } = [];
    /// <summary>Original sequence index of each token that reached the last decoder layer.</summary>
    public required int[] KeptPositions { get; init; }
    public required int ImageStart { get; init; }
}
