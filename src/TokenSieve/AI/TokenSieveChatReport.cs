using TokenSieve.Pipeline;

namespace TokenSieve.AI;

/// <summary>What a chat request's run did and cost, from its <see cref="RunReport"/>: the visual tokens
/// kept, FLOPs and wall time per stage. Returned in the response's
/// <c>AdditionalProperties["tokensieve.report"]</c> (and by `tokensieve serve` as <c>tokensieve_report</c>).</summary>
public sealed record TokenSieveChatReport
{
    public required string Model { get; init; }
    public required string Family { get; init; }
    public required string Reduction { get; init; }
    public required string Pruning { get; init; }
    public required int Images { get; init; }
    /// <summary>Visual tokens the tower produced, over all images.</summary>
    public required int VisualTokensBefore { get; init; }
    /// <summary>Visual tokens that entered the decoder, over all images.</summary>
    public required int VisualTokens { get; init; }
    /// <summary>Tokens that reached the last decoder layer (after decoder-side pruning).</summary>
    public required int TokensAtLastLayer { get; init; }
    public required int PromptTokens { get; init; }
    public required int GeneratedTokens { get; init; }
    public required double VisionFlops { get; init; }
    public required double ProjectorFlops { get; init; }
    public required double PrefillFlops { get; init; }
    public double TotalFlops => VisionFlops + ProjectorFlops + PrefillFlops;
    public required long KvCacheBytes { get; init; }
    public required double PreprocessMs { get; init; }
    public required double VisionMs { get; init; }
    public required double ReductionMs { get; init; }
    public required double ProjectorMs { get; init; }
    public required double PrefillMs { get; init; }
    public required double TimeToFirstTokenMs { get; init; }
    public required double DecodeMs { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }

    public static TokenSieveChatReport From(RunReport r, string model, string family) => new()
    {
        Model = model, Family = family, Reduction = r.Reduction, Pruning = r.Pruning, Images = r.Images,
        VisualTokensBefore = r.VisualTokensBefore, VisualTokens = r.VisualTokens,
        TokensAtLastLayer = r.TokensPerLayer.Length > 0 ? r.TokensPerLayer[^1] : r.PromptTokens,
        PromptTokens = r.PromptTokens, GeneratedTokens = r.GeneratedTokens,
        VisionFlops = r.VisionFlops, ProjectorFlops = r.ProjectorFlops, PrefillFlops = r.PrefillFlops, KvCacheBytes = r.KvCacheBytes,
        PreprocessMs = r.PreprocessMs, VisionMs = r.VisionMs, ReductionMs = r.ReductionMs, ProjectorMs = r.ProjectorMs,
        PrefillMs = r.PrefillMs, TimeToFirstTokenMs = r.TimeToFirstTokenMs, DecodeMs = r.DecodeMs, Notes = r.Notes,
    };
}
