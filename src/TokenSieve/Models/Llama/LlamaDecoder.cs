using TokenSieve.Checkpoints;
using TokenSieve.Numerics;

namespace TokenSieve.Models;

/// <summary>What a layer exposes to a tap while it runs: its post-RoPE queries for the rows being
/// processed and the layer's whole cache (keys post-RoPE), so exact attention rows can be
/// recomputed for any query without materialising an attention matrix.</summary>
internal readonly ref struct LayerAttentionView
{
    public int Layer { get; init; }
    /// <summary>Queries of the rows processed in this call, [Rows, Heads·HeadDim], post-RoPE.</summary>
    public ReadOnlySpan<float> Queries { get; init; }
    public int Rows { get; init; }
    /// <summary>All keys in the layer's cache including this call's rows, [KeyCount, KvDim], post-RoPE.</summary>
    public ReadOnlySpan<float> Keys { get; init; }
    public int KeyCount { get; init; }
    public AttentionShape Shape { get; init; }
    /// <summary>The layer's input (residual stream before the layer), [Rows, Hidden].</summary>
    public ReadOnlySpan<float> Input { get; init; }
}

internal delegate void LayerTap(in LayerAttentionView view);

/// <summary>LLaMA decoder (LlamaForCausalLM as LLaVA uses it): token embeddings, pre-RMSNorm layers
/// with RoPE attention (GQA) and a SiLU-gated MLP, final RMSNorm, lm_head. The sequence is
/// processed layer by layer so that pruners can shorten it between layers. Qwen2 (Qwen2-VL's
/// decoder) is the same with q/k/v biases (<see cref="LlamaConfig.AttentionBias"/>) and M-RoPE
/// (<see cref="LlamaConfig.MropeSection"/>: a prompt's 3-D positions come with its sequence).</summary>
public sealed class LlamaDecoder
{
    sealed record Layer(NormWeights InputNorm, Linear Q, Linear K, Linear V, Linear O, NormWeights PostNorm, Linear Gate, Linear Up, Linear Down);

    public LlamaConfig Config { get; }
    internal WeightMatrix EmbedTokens { get; }
    internal WeightMatrix LmHead { get; }
    internal Rope Rope { get; }
    public int LayerCount => _layers.Length;

    /// <summary>Every matrix one decode step reads, in the order it reads them (benchmarks).</summary>
    internal IEnumerable<WeightMatrix> DecodeMatrices() =>
        _layers.SelectMany(l => new[] { l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down }.Select(x => x.Weight)).Append(LmHead);

    readonly Layer[] _layers;
    readonly NormWeights _finalNorm;

    float[] _xn = [], _q = [], _att = [], _gate = [], _up = [];

    internal LlamaDecoder(ITensorSource source, LlamaConfig config) : this(source, config, DecoderTensorNames.Llava) { }

    /// <summary>A decoder whose tensors are named under <paramref name="names"/> (LLaVA's language_model.*, Qwen2-VL's model.*).
    /// <paramref name="interleavedQk"/>: q_proj / k_proj rows are stored in llama.cpp's per-head interleaved order
    /// (<see cref="LlamaCppLlava.InterleavedRows"/>); their outputs are put back in Hugging Face's order after each GEMM.</summary>
    internal LlamaDecoder(ITensorSource source, LlamaConfig config, DecoderTensorNames names, bool interleavedQk = false)
    {
        Config = config;
        int d = config.HiddenSize, kv = config.KvDim, m = config.IntermediateSize;
        EmbedTokens = source.Get(names.EmbedTokens).ExpectShape(config.VocabSize, d).AsMatrix();
        LmHead = config.TieWordEmbeddings && !source.Contains(names.LmHead)
            ? EmbedTokens
            : source.Get(names.LmHead).ExpectShape(config.VocabSize, d).AsMatrix();
        _finalNorm = NormWeights.LoadRmsNorm(source, names.FinalNorm, d, config.RmsNormEps);
        _layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
        {
            var n = names.Layer(i);
            _layers[i] = new Layer(
                NormWeights.LoadRmsNorm(source, n.InputNorm, d, config.RmsNormEps),
                QueryKey(source, n.Q, d, config.NumAttentionHeads),
                QueryKey(source, n.K, kv, config.NumKeyValueHeads),
                Linear.Load(source, n.V, kv, d, config.AttentionBias),
                Linear.Load(source, n.O, d, d, false),
                NormWeights.LoadRmsNorm(source, n.PostNorm, d, config.RmsNormEps),
                Linear.Load(source, n.Gate, m, d, false),
                Linear.Load(source, n.Up, m, d, false),
                Linear.Load(source, n.Down, d, m, false));
        }
        Linear QueryKey(ITensorSource src, string prefix, int outputs, int heads)
        {
            var l = Linear.Load(src, prefix, outputs, d, config.AttentionBias);
            return interleavedQk ? new Linear(l.Weight, l.Bias) { OutputOrder = LlamaCppLlava.InterleavedRows(outputs, heads) } : l;
        }
        Rope = new Rope(config.HeadDim, config.RopeTheta);
        if (config.MropeSection is { } sections) _mrope = new SectionedRope(Rope.InverseFrequencies, sections);
        Info = new DecoderInfo(config.NumHiddenLayers, d, config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim);
    }

    /// <summary>Depth and widths, for hooks.</summary>
    public DecoderInfo Info { get; }

    readonly SectionedRope? _mrope;

    /// <summary>The rotary embedding of a sequence: plain RoPE, or for an M-RoPE decoder the prompt's
    /// 3-D positions (ids past the prompt continue at id + rope delta on every axis).</summary>
    internal IRotaryEmbedding RotaryFor(SplicedSequence sequence)
    {
        if (sequence.Mrope is not { } p) return _mrope is null ? Rope
            : throw new InvalidInputException("this decoder uses M-RoPE: the sequence needs 3-D position ids (get_rope_index)");
        if (_mrope is null) throw new InvalidInputException("the sequence has 3-D M-RoPE positions, but this decoder uses 1-D RoPE");
        if (p.Length != sequence.Length) throw new InvalidInputException($"M-RoPE positions for {p.Length} rows, the sequence has {sequence.Length}");
        return new MultimodalRope(_mrope, p.Coordinates, p.Length, p.Delta);
    }

    internal KvCache CreateCache(int capacity) => new(_layers.Length, Config.KvDim, capacity);

    /// <summary>Writes the embedding rows of <paramref name="ids"/> into <paramref name="destination"/> [ids, Hidden].</summary>
    public void Embed(ReadOnlySpan<int> ids, Span<float> destination)
    {
        int d = Config.HiddenSize;
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)Config.VocabSize)
                throw new InvalidInputException($"token id {ids[i]} at position {i} is outside the vocabulary 0..{Config.VocabSize - 1}");
            EmbedTokens.ReadRow(ids[i], destination.Slice(i * d, d));
        }
    }

    void EnsureWorkspace(int rows)
    {
        int d = Config.HiddenSize, m = Config.IntermediateSize;
        if (_xn.Length >= rows * d) return;
        _xn = new float[rows * d];
        _q = new float[rows * d];
        _att = new float[rows * d];
        _gate = new float[rows * m];
        _up = new float[rows * m];
    }

    /// <summary>Runs layer <paramref name="l"/> in place on x [rows, Hidden] whose rows have the given
    /// position ids; appends the rows' keys/values to the layer's cache and attends causally over
    /// the whole cache. <paramref name="tap"/> sees queries and keys after RoPE.</summary>
    internal void RunLayer(ComputeContext ctx, int l, Span<float> x, int rows, ReadOnlySpan<int> positions, KvCache cache, LayerTap? tap = null, IRotaryEmbedding? rotary = null)
    {
        var cfg = Config;
        int d = cfg.HiddenSize, kvDim = cfg.KvDim, hd = cfg.HeadDim, m = cfg.IntermediateSize;
        if (positions.Length != rows) throw new ArgumentException($"{positions.Length} position ids for {rows} rows");
        EnsureWorkspace(rows);
        var layer = _layers[l];
        var xs = x.Slice(0, rows * d);
        var xn = _xn.AsSpan(0, rows * d);
        layer.InputNorm.RmsNorm(xs, rows, xn);
        var q = _q.AsSpan(0, rows * d);
        layer.Q.Forward(ctx, xn, rows, q);
        int start = cache.Append(l, rows);
        var newK = cache.KeyRows(l, start, rows);
        var newV = cache.ValueRows(l, start, rows);
        layer.K.Forward(ctx, xn, rows, newK);
        layer.V.Forward(ctx, xn, rows, newV);
        if (rotary is null)
        {
            Rope.Apply(q, rows, d, cfg.NumAttentionHeads, positions);
            Rope.Apply(newK, rows, kvDim, cfg.NumKeyValueHeads, positions);
        }
        else
        {
            rotary.Apply(ComputeContext.SingleThread, q, rows, d, cfg.NumAttentionHeads, positions);
            rotary.Apply(ComputeContext.SingleThread, newK, rows, kvDim, cfg.NumKeyValueHeads, positions);
        }

        int keyCount = cache.Length(l);
        var shape = new AttentionShape(rows, keyCount, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, hd, 1f / MathF.Sqrt(hd), Causal: true);
        if (tap is not null)
            tap(new LayerAttentionView { Layer = l, Queries = q, Rows = rows, Keys = cache.Keys(l), KeyCount = keyCount, Shape = shape, Input = xs });
        var att = _att.AsSpan(0, rows * d);
        Attention.Forward(ctx, q, d, cache.Keys(l), cache.Values(l), kvDim, att, d, shape);
        layer.O.Forward(ctx, att, rows, xn);
        System.Numerics.Tensors.TensorPrimitives.Add(xs, xn, xs);

        layer.PostNorm.RmsNorm(xs, rows, xn);
        var gate = _gate.AsSpan(0, rows * m);
        var up = _up.AsSpan(0, rows * m);
        layer.Gate.Forward(ctx, xn, rows, gate);
        layer.Up.Forward(ctx, xn, rows, up);
        Activations.SwiGlu(gate, up);
        layer.Down.Forward(ctx, gate, rows, xn);
        System.Numerics.Tensors.TensorPrimitives.Add(xs, xn, xs);
    }

    /// <summary>Final RMSNorm of rows of x into <paramref name="normed"/>.</summary>
    public void FinalNorm(ReadOnlySpan<float> x, int rows, Span<float> normed) => _finalNorm.RmsNorm(x, rows, normed);

    /// <summary>logits[rows, Vocab] from final-normed hidden rows.</summary>
    public void Logits(ComputeContext ctx, ReadOnlySpan<float> normed, int rows, Span<float> logits) =>
        Gemm.Linear(ctx, normed, rows, LmHead, default, logits);

    /// <summary>The per-head softmax row layer <paramref name="l"/> would compute for the query at
    /// <paramref name="queryRow"/> if <paramref name="hidden"/> [n, Hidden] entered it at
    /// <paramref name="positions"/>: its input norm, W_q, W_k and RoPE, the query attending to rows
    /// 0..queryRow (causal). [heads, n], zeros past the query. Memory O(n·KvDim).</summary>
    public float[] ProjectedAttentionRow(ComputeContext ctx, int l, ReadOnlySpan<float> hidden, int n, ReadOnlySpan<int> positions, int queryRow) =>
        ProjectedAttentionRow(ctx, l, hidden, n, positions, queryRow, Rope);

    internal float[] ProjectedAttentionRow(ComputeContext ctx, int l, ReadOnlySpan<float> hidden, int n, ReadOnlySpan<int> positions, int queryRow, IRotaryEmbedding rotary)
    {
        if ((uint)l >= (uint)_layers.Length) throw new ArgumentOutOfRangeException(nameof(l), $"layer {l} outside 0..{_layers.Length - 1}");
        if ((uint)queryRow >= (uint)n) throw new ArgumentOutOfRangeException(nameof(queryRow));
        var cfg = Config;
        int d = cfg.HiddenSize, kv = cfg.KvDim, keys = queryRow + 1, heads = cfg.NumAttentionHeads;
        var layer = _layers[l];
        var normed = new float[n * d];
        layer.InputNorm.RmsNorm(hidden.Slice(0, n * d), n, normed);
        var k = new float[keys * kv];
        layer.K.Forward(ctx, normed, keys, k);
        var query = new float[d];
        layer.Q.Forward(ctx, normed.AsSpan(queryRow * d, d), 1, query);
        rotary.Apply(ComputeContext.SingleThread, k, keys, kv, cfg.NumKeyValueHeads, positions.Slice(0, keys));
        rotary.Apply(ComputeContext.SingleThread, query, 1, d, heads, positions.Slice(queryRow, 1));
        // One query that sits at the last key: with Causal, query 0 sees keys 0..queryRow.
        var shape = new AttentionShape(1, keys, heads, cfg.NumKeyValueHeads, cfg.HeadDim, 1f / MathF.Sqrt(cfg.HeadDim), Causal: true);
        var probs = new float[heads * keys];
        Attention.RowProbabilities(ctx, query, d, k, kv, [0], shape, probs);
        if (keys == n) return probs;
        var row = new float[heads * n];
        for (int h = 0; h < heads; h++) probs.AsSpan(h * keys, keys).CopyTo(row.AsSpan(h * n, keys));
        return row;
    }
}
