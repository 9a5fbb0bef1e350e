namespace TokenSieve.Models;

/// <summary>How position ids continue after rows are dropped inside the decoder (METHODS.md §0.2).</summary>
public enum PositionPolicy
{
    /// <summary>Survivors keep their original position ids; decoding continues from the original length (FastV, DART).</summary>
    KeepOriginal,

    /// <summary>Position ids are renumbered 0..L'−1 after each drop; a decode token's position in a layer is that layer's cache length (SparseVLM v1.x, PyramidDrop).</summary>
    Renumber,
}

/// <summary>The decoder a hook works with: what it can ask for and how big it is.</summary>
public sealed record DecoderInfo(int Layers, int HiddenSize, int Heads, int KvHeads, int HeadDim)
{
    public int KvDim => KvHeads * HeadDim;
}

/// <summary>What a hook asks one decoder layer to expose while it runs.</summary>
public sealed record DecoderTapRequest
{
    /// <summary>Rows (of the current sequence) whose exact softmax attention is needed, per head.</summary>
    public int[] QueryRows { get; init; } = [];

    /// <summary>Keep the layer's post-RoPE keys of the current sequence.</summary>
    public bool Keys { get; init; }
}

/// <summary>The sequence after one prefill layer ran, as a hook sees it: the layer's output, where
/// each row came from, the taps it asked for, and two services that recompute what a method may
/// need without reaching into the decoder's weights (the final norm; another layer's attention row).</summary>
public sealed class DecoderLayerView
{
    readonly LlamaDecoder _decoder;
    readonly Numerics.ComputeContext _compute;
    readonly Numerics.IRotaryEmbedding _rotary;

    /// <param name="rotary">the sequence's rotary embedding (its M-RoPE positions); null: the decoder's RoPE</param>
    internal DecoderLayerView(LlamaDecoder decoder, Numerics.ComputeContext compute, Numerics.IRotaryEmbedding? rotary = null) =>
        (_decoder, _compute, _rotary) = (decoder, compute, rotary ?? decoder.Rope);

    /// <summary>The layer that just ran (its output is <see cref="Hidden"/>).</summary>
    public required int Layer { get; init; }

    public required int Length { get; init; }

    /// <summary>The layer's output (the next layer's input), [Length, HiddenSize], not final-normed.</summary>
    public required float[] Hidden { get; init; }

    /// <summary>Position id of each row.</summary>
    public required int[] Positions { get; init; }

    /// <summary>Index of each row in the prefill's input sequence; −1 for a row a hook inserted.</summary>
    public required int[] Origins { get; init; }

    /// <summary>Exact softmax rows of the request's query rows: [rows, heads, Length].</summary>
    public float[]? AttentionRows { get; init; }

    /// <summary>The layer's post-RoPE keys of the current sequence, [Length, KvDim], when requested.</summary>
    public float[]? Keys { get; init; }

    public DecoderInfo Decoder => _decoder.Info;

    /// <summary>The compute context the prefill runs on (threads), for a method's own products.</summary>
    public Numerics.ComputeContext Compute => _compute;

    /// <summary>The model's final RMSNorm (with its weight) of <paramref name="rows"/> rows of x.</summary>
    public void FinalNorm(ReadOnlySpan<float> x, int rows, Span<float> normed) => _decoder.FinalNorm(x, rows, normed);

    /// <summary>The per-head softmax attention row that layer <paramref name="layer"/> would compute for
    /// the query at <paramref name="queryRow"/> if <see cref="Hidden"/> entered it at
    /// <see cref="Positions"/>: its input norm, W_q, W_k and RoPE applied here, the query seeing rows
    /// 0..queryRow. Returns [heads, Length] (zeros past the query). PyramidDrop ranks with this.</summary>
    public float[] ProjectedAttentionRow(int layer, int queryRow) =>
        _decoder.ProjectedAttentionRow(_compute, layer, Hidden, Length, Positions, queryRow, _rotary);
}

/// <summary>A hook's answer after a layer: which rows enter the next layer, optionally with new rows
/// inserted among them, and how positions continue.</summary>
public sealed class KeepDecision
{
    /// <summary>Rows of the current sequence to keep, strictly ascending.</summary>
    public required int[] Rows { get; init; }

    /// <summary>New rows [InsertedCount, HiddenSize], placed before kept row <see cref="InsertAt"/>
    /// (an index into <see cref="Rows"/>; Rows.Length appends them).</summary>
    public float[]? Inserted { get; init; }

    public int InsertedCount { get; init; }

    public int InsertAt { get; init; }

    /// <summary>For each inserted row, the current row whose position id it takes when position ids are
    /// kept (a merged token at its cluster centre's place, as SparseVLM's recycling does on M-RoPE
    /// models); ignored when positions are renumbered.</summary>
    public int[]? InsertedPositionRows { get; init; }

    public required PositionPolicy Positions { get; init; }

    /// <summary>Free text for the run report (counts, fallbacks).</summary>
    public string? Note { get; init; }
}

/// <summary>How a method reaches inside the decoder during prefill. Before each layer the hook says
/// whether it acts after that layer and which taps the layer must provide while it runs; after such
/// a layer it sees the sequence and may return a keep decision for the rows entering the next one.
/// The decoder knows no method.</summary>
public interface IDecoderHook
{
    /// <summary>Null: nothing to do at layer <paramref name="layer"/> (which runs over
    /// <paramref name="length"/> rows). A request, possibly without taps: <see cref="AfterLayer"/>
    /// is called once the layer has run. Never asked for the last layer.</summary>
    DecoderTapRequest? Taps(int layer, int length);

    /// <summary>Null keeps every row.</summary>
    KeepDecision? AfterLayer(DecoderLayerView view);
}
