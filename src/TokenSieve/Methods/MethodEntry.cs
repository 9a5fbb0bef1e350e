namespace TokenSieve.Methods;

/// <summary>Where a method acts (METHODS.md §0.2).</summary>
public enum MethodStage
{
    /// <summary>Inside or at the end of the vision tower, from its taps (PruMerge, FasterVLM, VisionZip, ToMe).</summary>
    Vision,

    /// <summary>On the visual tokens before the decoder (random, pooling, DivPrune).</summary>
    PreLlm,

    /// <summary>Inside the decoder during prefill (FastV, PDrop, SparseVLM, DART and the probes).</summary>
    Decoder,
}

/// <summary>How a method's token count is set.</summary>
public enum BudgetKind
{
    /// <summary>No reduction (<c>none</c>).</summary>
    None,

    /// <summary>Takes a visual-token budget.</summary>
    Budgeted,

    /// <summary>Decides the count itself (PruMerge's IQR outliers); runs once in a budget sweep.</summary>
    Adaptive,

    /// <summary>A preset schedule of stages (PyramidDrop); runs once in a budget sweep unless given a budget template.</summary>
    Preset,
}

/// <summary>One row of the method catalog: everything the verbs, the runner and the help text need
/// to know about a method, and how to build it from its spec.</summary>
public sealed record MethodEntry
{
    /// <summary>The spec's method name (<c>fastv</c>, <c>prumerge+</c>).</summary>
    public required string Name { get; init; }

    public required MethodStage Stage { get; init; }

    public required BudgetKind Budget { get; init; }

    /// <summary>What the method needs from a model, in words (taps, a [CLS] token, the projector).</summary>
    public required string Needs { get; init; }

    /// <summary>The method ranks or clusters one image's tokens against the text after it (DART's
    /// pivots, SparseVLM's raters) and refuses prompts with several images.</summary>
    public bool OneImagePerPrompt { get; init; }

    /// <summary>One line: what it does.</summary>
    public required string Summary { get; init; }

    /// <summary>The spec forms and options, one per line, for --help and `tokensieve methods`.</summary>
    public required string Usage { get; init; }

    /// <summary>The reference it reproduces (METHODS.md section, repository @ commit).</summary>
    public required string Reference { get; init; }

    /// <summary>One of the main methods: shown by `demo` and swept by default by `bench --speed`.</summary>
    public bool Main { get; init; }

    /// <summary>The spec at a token budget, for sweeps and the demo (null: the method takes none).</summary>
    public Func<int, string>? AtBudget { get; init; }

    /// <summary>Builds the method (an <see cref="Reduction.IVisualReducer"/> or a
    /// <see cref="Pruning.IDecoderPruner"/>) from the parsed spec.</summary>
    internal Func<SpecText, object> Create { get; init; } = _ => throw new InvalidOperationException("catalog row without a factory");
}
