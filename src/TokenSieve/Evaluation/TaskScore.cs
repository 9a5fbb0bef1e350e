namespace TokenSieve.Evaluation;

/// <summary>How free-form answers are parsed before comparison. The two conventions give different
/// numbers on the same outputs, so the choice is recorded with every score.</summary>
public enum AnswerParsing
{
    /// <summary>LLaVA's own eval scripts (the numbers LLaVA-1.5 and most pruning papers print).</summary>
    Llava,
    /// <summary>lmms-eval's task utilities.</summary>
    LmmsEval,
}

/// <summary>The score of one task for one configuration. <see cref="Main"/> is on the scale papers print
/// (percent, or MME points); <see cref="Metrics"/> holds every sub-metric under a stable name.</summary>
public sealed record TaskScore
{
    public required string Task { get; init; }
    public required TaskKind Kind { get; init; }
    public required AnswerParsing Parsing { get; init; }

    /// <summary>Name of the headline metric ("mean_f1", "accuracy", "perception", "img_accuracy", "circular_accuracy").</summary>
    public required string MainMetric { get; init; }
    public required double Main { get; init; }

    /// <summary>Every metric, e.g. <c>random/f1</c>, <c>existence/acc_plus</c>, <c>category/…</c>.</summary>
    public required IReadOnlyDictionary<string, double> Metrics { get; init; }

    /// <summary>Items that had a prediction and were scored.</summary>
    public required int Scored { get; init; }

    /// <summary>Items of the dataset without a prediction or without ground truth (not counted in the metrics).</summary>
    public int Missing { get; init; }

    /// <summary>Per-item score in [0, 1] by question id (VQA accuracy is fractional).</summary>
    public IReadOnlyDictionary<string, double> PerItem { get; init; } = new Dictionary<string, double>();
}
