using System.Diagnostics;
using TokenSieve.Numerics;

namespace TokenSieve.Models;

public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 128;
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1f;
    public int Seed { get; init; }
    /// <summary>Stop when this id is produced (null: the config's eos_token_id).</summary>
    public int? EosTokenId { get; init; }
    /// <summary>Keep each step's logits (parity dumps).</summary>
    public bool KeepStepLogits { get; init; }
    /// <summary>Called with each generated id (not the EOS) as soon as it is sampled, before the next
    /// decode step: streaming and stop sequences. Returning false ends generation after this id.</summary>
    public Func<int, bool>? OnToken { get; init; }
}

public sealed class GenerationResult
{
    public required int[] Tokens { get; init; }
    public required bool StoppedAtEos { get; init; }
    public bool StoppedAtContextLimit { get; init; }
    public List<float[]>? StepLogits { get; init; }
    public double PrefillMs { get; init; }
    public double DecodeMs { get; init; }
    /// <summary>Prefill plus the first sampled token.</summary>
    public double TimeToFirstTokenMs { get; init; }
    public int PromptTokens { get; init; }
    public long KvCacheBytes { get; init; }
    /// <summary>Tokens entering each decoder layer during prefill.</summary>
    public int[] TokensPerLayer { get; init; } = [];
    public IReadOnlyList<string> PrefillNotes { get; init; } = [];
    /// <summary>Original sequence index of every row that reached the last layer (−1: merged token).</summary>
    public int[] KeptOriginalIndices { get; init; } = [];

    /// <summary>The last sampled token, which was not fed back (the EOS, or the token at the limit);
    /// a following <see cref="InferenceSession.Continue"/> starts with it. Null when nothing was sampled.</summary>
    public int? UnfedToken { get; init; }
}

public sealed record PrefillOptions
{
    public static readonly PrefillOptions Default = new();
    /// <summary>Collect hidden_states 0..L as transformers reports them (the last after the final norm).</summary>
    public bool HiddenStates { get; init; }
    /// <summary>Logits of every remaining position, [FinalLength, Vocab].</summary>
    public bool AllLogits { get; init; }
}

public sealed class PrefillResult
{
    public required float[] LastLogits { get; init; }
    public float[]? AllLogits { get; init; }
    public List<float[]>? HiddenStates { get; init; }
    public required int[] KeptOriginalIndices { get; init; }
    public required int FinalLength { get; init; }
    public required int[] TokensPerLayer { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }
}

/// <summary>Runs a <see cref="LlavaModel"/>: vision encoding, splice, prefill with a KV cache,
/// decoding. Holds the buffers it reuses between runs; not thread-safe. A session over a bare
/// decoder (Qwen2-VL's, whose sequences come spliced with 3-D M-RoPE positions) prefills and
/// decodes the same way; only <see cref="Splice(int[], IReadOnlyList{SplicedImage})"/> and
/// <see cref="Project"/> need a LLaVA model.</summary>
public sealed class InferenceSession
{
    readonly LlavaModel? _llava;
    readonly LlamaDecoder _decoder;

    /// <summary>The LLaVA model this session runs (sessions over a bare decoder have none).</summary>
    public LlavaModel Model => _llava ?? throw new InvalidOperationException("this session runs a bare decoder (Qwen2-VL), not a LLaVA model");

    /// <summary>The decoder every prefill and decode step runs.</summary>
    public LlamaDecoder Decoder => _decoder;

    public ComputeContext Compute { get; }

    KvCache? _cache;
    float[] _hidden = [];
    float[] _normed = [];
    float[] _logits = [];
    /// <summary>The rotary embedding of the sequence last prefilled (RoPE, or its M-RoPE positions).</summary>
    Numerics.IRotaryEmbedding? _rotary;

    public InferenceSession(LlavaModel model, ComputeContext? compute = null)
    {
        _llava = model;
        _decoder = model.Decoder;
        Compute = compute ?? ComputeContext.Default;
    }

    /// <summary>A session over a decoder alone: sequences are spliced by the model that owns it.</summary>
    public InferenceSession(LlamaDecoder decoder, ComputeContext? compute = null)
    {
        _decoder = decoder;
        Compute = compute ?? ComputeContext.Default;
    }

    internal KvCache? Cache => _cache;

    /// <summary>Projected visual tokens [rows, Hidden] for features [rows, VisionHidden].</summary>
    public float[] Project(ReadOnlySpan<float> features, int rows) => Model.Projector.Forward(Compute, features, rows);

    /// <summary>Splices visual tokens into the ids at the single image slot. <paramref name="layout"/>
    /// says where each token sits in a patch grid; without one, a full set of the tower's patches is
    /// taken as its raster grid and anything else as tokens without a grid position.</summary>
    public SplicedSequence Splice(int[] inputIds, int imageSlot, ReadOnlySpan<float> visualTokens, int visualCount, VisualLayout? layout = null) =>
        Splice(inputIds, [new SplicedImage(imageSlot, visualTokens.ToArray(), visualCount, layout)]);

    /// <summary>Splices each image's visual tokens into the ids at its slot (slots ascending).</summary>
    public SplicedSequence Splice(int[] inputIds, IReadOnlyList<SplicedImage> images)
    {
        var cfg = Model.Config.Text;
        int d = cfg.HiddenSize;
        for (int i = 0; i < images.Count; i++)
        {
            var im = images[i];
            if ((uint)im.Slot >= (uint)inputIds.Length) throw new InvalidInputException($"image slot {im.Slot} outside the {inputIds.Length} input ids");
            if (i > 0 && im.Slot <= images[i - 1].Slot) throw new InvalidInputException("image slots must be distinct and ascending");
            if (im.Count < 1 || im.Tokens.Length != im.Count * d) throw new InvalidInputException($"image {i}: visual tokens have {im.Tokens.Length} values, expected {im.Count}x{d}");
        }
        int visual = images.Sum(im => im.Count);
        int text = inputIds.Length - images.Count;
        int length = text + visual;
        if (length > cfg.MaxPositionEmbeddings)
            throw new InvalidInputException($"the prompt is {length} tokens ({text} text + {visual} visual), longer than the model's context of {cfg.MaxPositionEmbeddings}");
        var emb = new float[length * d];
        var spans = new List<ImageSpan>(images.Count);
        int row = 0, id = 0;
        var v = Model.Config.Vision;
        foreach (var im in images)
        {
            int before = im.Slot - id;
            Model.Decoder.Embed(inputIds.AsSpan(id, before), emb.AsSpan(row * d, before * d));
            row += before;
            im.Tokens.AsSpan(0, im.Count * d).CopyTo(emb.AsSpan(row * d));
            var layout = im.Layout ?? (im.Count == v.NumPatches ? VisualLayout.Raster(v.GridSize, v.GridSize) : VisualLayout.Ungridded(im.Count));
            if (layout.Tokens.Count != im.Count) throw new InvalidInputException($"the visual layout places {layout.Tokens.Count} tokens, the image has {im.Count}");
            spans.Add(new ImageSpan(row, im.Count, layout));
            row += im.Count;
            id = im.Slot + 1;
        }
        Model.Decoder.Embed(inputIds.AsSpan(id), emb.AsSpan(row * d));
        return new SplicedSequence
        {
            Embeddings = emb, Length = length, Positions = Enumerable.Range(0, length).ToArray(), InputIds = inputIds, Images = spans,
        };
    }

    /// <summary>Every slot of <paramref name="imageTokenId"/> in the ids, ascending.</summary>
    public static int[] FindImageSlots(ReadOnlySpan<int> ids, int imageTokenId)
    {
        var slots = new List<int>();
        for (int i = 0; i < ids.Length; i++) if (ids[i] == imageTokenId) slots.Add(i);
        return slots.ToArray();
    }

    /// <summary>Finds the single image slot in ids; anything else is an error.</summary>
    public static int FindImageSlot(ReadOnlySpan<int> ids, int imageTokenId)
    {
        int slot = -1, count = 0;
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] == imageTokenId) { slot = i; count++; }
        if (count != 1) throw new InvalidInputException($"input ids must contain exactly one image token ({imageTokenId}); found {count}");
        return slot;
    }

    void EnsureBuffers(int rows)
    {
        int d = _decoder.Config.HiddenSize;
        if (_hidden.Length < rows * d)
        {
            _hidden = new float[rows * d];
            _normed = new float[rows * d];
        }
    }

    /// <summary>Prefills the sequence into a fresh cache sized for it plus <paramref name="extraCapacity"/>
    /// decode tokens. A <paramref name="hook"/> (a decoder-side method) may tap layers and drop or insert
    /// rows between them; each layer's cache keeps its own length. Returns the last position's logits.</summary>
    public PrefillResult Prefill(SplicedSequence seq, int extraCapacity, PrefillOptions? options = null, IDecoderHook? hook = null, CancellationToken cancel = default)
    {
        options ??= PrefillOptions.Default;
        var dec = _decoder;
        int d = dec.Config.HiddenSize, v = dec.Config.VocabSize, layers = dec.LayerCount;
        int n = seq.Length;
        int capacity = n + extraCapacity;
        if (_cache is null) _cache = dec.CreateCache(capacity);
        else { _cache.Clear(); _cache.EnsureCapacity(capacity); }
        EnsureBuffers(n);
        var positions = (int[])seq.Positions.Clone();
        var origins = Enumerable.Range(0, n).ToArray();
        seq.Embeddings.AsSpan(0, n * d).CopyTo(_hidden);
        var hiddenStates = options.HiddenStates ? new List<float[]> { _hidden.AsSpan(0, n * d).ToArray() } : null;
        var tokensPerLayer = new int[layers];
        var notes = new List<string>();
        _renumbered = false;
        _rotary = dec.RotaryFor(seq);

        for (int l = 0; l < layers; l++)
        {
            cancel.ThrowIfCancellationRequested();
            tokensPerLayer[l] = n;
            var request = l < layers - 1 ? hook?.Taps(l, n) : null;
            float[]? rows = null, keys = null;
            LayerTap? tap = null;
            if (request is not null && (request.QueryRows.Length > 0 || request.Keys))
            {
                var req = request;
                int heads = dec.Config.NumAttentionHeads;
                tap = (in LayerAttentionView view) =>
                {
                    if (req.QueryRows.Length > 0)
                    {
                        rows = new float[req.QueryRows.Length * heads * view.KeyCount];
                        Attention.RowProbabilities(Compute, view.Queries, d, view.Keys, dec.Config.KvDim, req.QueryRows, view.Shape, rows);
                    }
                    if (req.Keys) keys = view.Keys.ToArray();
                };
            }
            dec.RunLayer(Compute, l, _hidden.AsSpan(0, n * d), n, positions, _cache, tap, _rotary);
            if (hiddenStates is not null && l < layers - 1) hiddenStates.Add(_hidden.AsSpan(0, n * d).ToArray());
            if (request is null) continue;

            var view = new DecoderLayerView(dec, Compute, _rotary)
            {
                Layer = l, Length = n, Hidden = _hidden.AsSpan(0, n * d).ToArray(), Positions = positions, Origins = origins, AttentionRows = rows, Keys = keys,
            };
            var decision = hook!.AfterLayer(view);
            if (decision is null) continue;
            if (decision.Note is not null) notes.Add($"layer {l + 1}: {decision.Note}");
            if (decision.Positions == PositionPolicy.Renumber && seq.Mrope is not null)
                notes.Add($"layer {l + 1}: original M-RoPE positions kept (the method renumbers 1-D positions; 3-D grid positions have no renumbering reference)");
            (n, positions, origins) = ApplyDecision(view, decision, renumber: decision.Positions == PositionPolicy.Renumber && seq.Mrope is null);
        }

        var x = _hidden.AsSpan(0, n * d);
        var normed = _normed.AsSpan(0, n * d);
        float[]? allLogits = null;
        if (hiddenStates is not null || options.AllLogits)
        {
            dec.FinalNorm(x, n, normed);
            hiddenStates?.Add(normed.ToArray());
            if (options.AllLogits)
            {
                allLogits = new float[n * v];
                dec.Logits(Compute, normed, n, allLogits);
            }
        }
        dec.FinalNorm(x.Slice((n - 1) * d, d), 1, normed.Slice(0, d));
        var logits = new float[v];
        dec.Logits(Compute, normed.Slice(0, d), 1, logits);
        _nextPosition = seq.Positions[^1] + 1;
        return new PrefillResult
        {
            LastLogits = logits, AllLogits = allLogits, HiddenStates = hiddenStates, KeptOriginalIndices = origins, FinalLength = n,
            TokensPerLayer = tokensPerLayer, Notes = notes,
        };
    }

    bool _renumbered;
    int _nextPosition;

    /// <summary>Gathers the kept rows (and inserted ones) into the residual stream with their
    /// positions and origins.</summary>
    (int Length, int[] Positions, int[] Origins) ApplyDecision(DecoderLayerView s, KeepDecision decision, bool renumber)
    {
        int d = _decoder.Config.HiddenSize;
        var keep = decision.Rows;
        for (int i = 0; i < keep.Length; i++)
            if ((uint)keep[i] >= (uint)s.Length || (i > 0 && keep[i] <= keep[i - 1]))
                throw new InvalidOperationException($"a decoder hook after layer {s.Layer} returned keep rows that are not strictly ascending within 0..{s.Length - 1}");
        int inserted = decision.Inserted is null ? 0 : decision.InsertedCount;
        if (inserted * d != (decision.Inserted?.Length ?? 0)) throw new InvalidOperationException($"a decoder hook after layer {s.Layer}: inserted rows have the wrong size");
        if ((uint)decision.InsertAt > (uint)keep.Length) throw new InvalidOperationException($"a decoder hook after layer {s.Layer}: insertion point {decision.InsertAt} outside 0..{keep.Length}");
        var insertedFrom = decision.InsertedPositionRows;
        if (inserted > 0 && !renumber && (insertedFrom is null || insertedFrom.Length != inserted))
            throw new InvalidOperationException($"a decoder hook after layer {s.Layer} inserts rows but keeps original position ids; inserted rows have none");
        int n = keep.Length + inserted;
        var positions = new int[n];
        var origins = new int[n];
        int row = 0;
        for (int i = 0; i <= keep.Length; i++)
        {
            if (i == decision.InsertAt)
                for (int j = 0; j < inserted; j++, row++)
                {
                    decision.Inserted.AsSpan(j * d, d).CopyTo(_hidden.AsSpan(row * d, d));
                    origins[row] = -1;
                    positions[row] = renumber || insertedFrom is null ? -1 : s.Positions[insertedFrom[j]];
                }
            if (i == keep.Length) break;
            s.Hidden.AsSpan(keep[i] * d, d).CopyTo(_hidden.AsSpan(row * d, d));
            origins[row] = s.Origins[keep[i]];
            positions[row] = s.Positions[keep[i]];
            row++;
        }
        if (renumber)
        {
            for (int i = 0; i < n; i++) positions[i] = i;
            _renumbered = true;
        }
        return (n, positions, origins);
    }

    /// <summary>One decode step: the token is appended to every layer's cache. Its position follows
    /// the last prefill: the next original position, or each layer's cache length once a hook renumbered.</summary>
    public float[] DecodeStep(int token)
    {
        var dec = _decoder;
        int d = dec.Config.HiddenSize;
        if (_cache is null) throw new InvalidOperationException("DecodeStep needs a prefill on this session first");
        if (_cache.Length(0) >= _cache.Capacity) _cache.EnsureCapacity(_cache.Capacity + Math.Max(16, _cache.Capacity / 4));
        EnsureBuffers(1);
        var x = _hidden.AsSpan(0, d);
        dec.Embed([token], x);
        Span<int> pos = [0];
        for (int l = 0; l < dec.LayerCount; l++)
        {
            pos[0] = _renumbered ? _cache!.Length(l) : _nextPosition;
            dec.RunLayer(Compute, l, x, 1, pos, _cache!, rotary: _rotary);
        }
        _nextPosition++;
        dec.FinalNorm(x, 1, _normed.AsSpan(0, d));
        var logits = new float[dec.Config.VocabSize];
        dec.Logits(Compute, _normed.AsSpan(0, d), 1, logits);
        return logits;
    }

    /// <summary>Prefill then decode until EOS, the token limit or the context limit.</summary>
    public GenerationResult Generate(SplicedSequence seq, GenerationOptions options, IDecoderHook? hook = null, CancellationToken cancel = default)
    {
        int maxNew = NewTokenLimit(options, seq.Length);
        var sw = Stopwatch.StartNew();
        var prefill = Prefill(seq, maxNew, null, hook, cancel);
        _contextLength = seq.Length;
        return Decode(prefill.LastLogits, maxNew, options, sw, seq.Length, prefill.TokensPerLayer, prefill.Notes, prefill.KeptOriginalIndices, cancel);
    }

    /// <summary>A later turn of the same conversation (METHODS.md §15.5): appends <paramref name="ids"/>
    /// to the cache the last <see cref="Generate"/> or <see cref="Continue"/> left — rows a pruner dropped
    /// stay gone and nothing is chosen again — and decodes the reply. Positions continue as the prefill
    /// left them (the next original position, or each layer's own length after renumbering). The ids
    /// must include any generated token the last call did not feed (see <see cref="GenerationResult.UnfedToken"/>).</summary>
    public GenerationResult Continue(ReadOnlySpan<int> ids, GenerationOptions options, CancellationToken cancel = default)
    {
        if (_cache is null) throw new InvalidOperationException("Continue needs a previous Generate on this session");
        if (ids.Length == 0) throw new InvalidInputException("a conversation turn needs at least one token");
        int length = _contextLength + ids.Length;
        if (length > _decoder.Config.MaxPositionEmbeddings)
            throw new InvalidInputException($"the conversation is {length} tokens, longer than the model's context of {_decoder.Config.MaxPositionEmbeddings}");
        int maxNew = NewTokenLimit(options, length);
        var sw = Stopwatch.StartNew();
        var dec = _decoder;
        int d = dec.Config.HiddenSize, n = ids.Length;
        int capacity = 0;
        for (int l = 0; l < dec.LayerCount; l++) capacity = Math.Max(capacity, _cache.Length(l));
        _cache.EnsureCapacity(capacity + n + maxNew);
        EnsureBuffers(n);
        var x = _hidden.AsSpan(0, n * d);
        dec.Embed(ids, x);
        var positions = new int[n];
        for (int l = 0; l < dec.LayerCount; l++)
        {
            cancel.ThrowIfCancellationRequested();
            int first = _renumbered ? _cache.Length(l) : _nextPosition;
            for (int i = 0; i < n; i++) positions[i] = first + i;
            dec.RunLayer(Compute, l, x, n, positions, _cache, rotary: _rotary);
        }
        _nextPosition += n;
        _contextLength = length;
        dec.FinalNorm(x.Slice((n - 1) * d, d), 1, _normed.AsSpan(0, d));
        var logits = new float[dec.Config.VocabSize];
        dec.Logits(Compute, _normed.AsSpan(0, d), 1, logits);
        var perLayer = Enumerable.Repeat(n, dec.LayerCount).ToArray();
        return Decode(logits, maxNew, options, sw, length, perLayer, [], [], cancel);
    }

    int _contextLength;

    int NewTokenLimit(GenerationOptions options, int promptLength)
    {
        if (options.MaxNewTokens < 0) throw new InvalidInputException($"max new tokens must be >= 0, got {options.MaxNewTokens}");
        int room = Math.Max(0, _decoder.Config.MaxPositionEmbeddings - promptLength);
        return Math.Min(options.MaxNewTokens, room + 1);
    }

    /// <summary>Samples from <paramref name="logits"/> and feeds each token back until EOS or the limit;
    /// the last sampled token (the EOS, or the one at the limit) is not fed.</summary>
    GenerationResult Decode(float[] logits, int maxNew, GenerationOptions options, Stopwatch sw, int promptTokens, int[] tokensPerLayer,
        IReadOnlyList<string> notes, int[] kept, CancellationToken cancel)
    {
        int eos = options.EosTokenId ?? _decoder.Config.EosTokenId;
        var sampler = new Sampler(options.Temperature, options.TopP, options.Seed);
        double prefillMs = sw.Elapsed.TotalMilliseconds;
        var tokens = new List<int>();
        var stepLogits = options.KeepStepLogits ? new List<float[]>() : null;
        bool eosHit = false;
        int? unfed = null;
        double ttft = prefillMs;
        var decodeWatch = new Stopwatch();
        for (int step = 0; step < maxNew; step++)
        {
            cancel.ThrowIfCancellationRequested();
            stepLogits?.Add(logits);
            int token = sampler.Next(logits);
            if (step == 0) ttft = sw.Elapsed.TotalMilliseconds;
            if (token == eos) { eosHit = true; unfed = token; break; }
            tokens.Add(token);
            if (options.OnToken?.Invoke(token) == false || step == maxNew - 1) { unfed = token; break; }
            decodeWatch.Start();
            logits = DecodeStep(token);
            decodeWatch.Stop();
            _contextLength++;
        }
        return new GenerationResult
        {
            Tokens = tokens.ToArray(), StoppedAtEos = eosHit, StoppedAtContextLimit = maxNew < options.MaxNewTokens && !eosHit && tokens.Count == maxNew,
            StepLogits = stepLogits, PrefillMs = prefillMs, DecodeMs = decodeWatch.Elapsed.TotalMilliseconds, TimeToFirstTokenMs = ttft,
            PromptTokens = promptTokens, KvCacheBytes = _cache!.BytesInUse, UnfedToken = unfed,
            TokensPerLayer = tokensPerLayer, PrefillNotes = notes, KeptOriginalIndices = kept,
        };
    }
}
