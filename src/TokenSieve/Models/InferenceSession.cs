using System.Diagnostics;
using TokenSieve.Numerics;

namespace TokenSieve.Models;

/// <summary>The merged LLaVA input: text embeddings with the image slot replaced by visual tokens.</summary>
public sealed class SplicedSequence
{
    /// <summary>[Length, Hidden] input embeddings.</summary>
    public required float[] Embeddings { get; init; }
    public required int Length { get; init; }
    /// <summary>Position ids (0..Length−1 unless a method says otherwise).</summary>
    public required int[] Positions { get; init; }
    /// <summary>Index of the first visual token in the sequence.</summary>
    public required int ImageStart { get; init; }
    public required int ImageTokens { get; init; }
    /// <summary>The text ids around the image, with the slot id still in place.</summary>
    public required int[] InputIds { get; init; }
}

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
}

/// <summary>Runs a <see cref="LlavaModel"/>: vision encoding, splice, prefill with a KV cache,
/// decoding. Holds the buffers it reuses between runs; not thread-safe.</summary>
public sealed class InferenceSession
{
    public LlavaModel Model { get; }
    public ComputeContext Compute { get; }

    KvCache? _cache;
    float[] _hidden = [];
    float[] _normed = [];
    float[] _logits = [];

    public InferenceSession(LlavaModel model, ComputeContext? compute = null)
    {
        Model = model;
        Compute = compute ?? ComputeContext.Default;
    }

    public KvCache? Cache => _cache;

    /// <summary>Projected visual tokens [rows, Hidden] for features [rows, VisionHidden].</summary>
    public float[] Project(ReadOnlySpan<float> features, int rows) => Model.Projector.Forward(Compute, features, rows);

    /// <summary>Splices visual tokens into the ids at the single image slot.</summary>
    public SplicedSequence Splice(int[] inputIds, int imageSlot, ReadOnlySpan<float> visualTokens, int visualCount)
    {
        var cfg = Model.Config.Text;
        int d = cfg.HiddenSize;
        if ((uint)imageSlot >= (uint)inputIds.Length) throw new InvalidInputException($"image slot {imageSlot} outside the {inputIds.Length} input ids");
        if (visualTokens.Length != visualCount * d) throw new InvalidInputException($"visual tokens have {visualTokens.Length} values, expected {visualCount}x{d}");
        int length = inputIds.Length - 1 + visualCount;
        if (length > cfg.MaxPositionEmbeddings)
            throw new InvalidInputException($"the prompt is {length} tokens ({inputIds.Length - 1} text + {visualCount} visual), longer than the model's context of {cfg.MaxPositionEmbeddings}");
        var emb = new float[length * d];
        Model.Decoder.Embed(inputIds.AsSpan(0, imageSlot), emb.AsSpan(0, imageSlot * d));
        visualTokens.CopyTo(emb.AsSpan(imageSlot * d));
        Model.Decoder.Embed(inputIds.AsSpan(imageSlot + 1), emb.AsSpan((imageSlot + visualCount) * d));
        return new SplicedSequence
        {
            Embeddings = emb, Length = length, Positions = Enumerable.Range(0, length).ToArray(),
            ImageStart = imageSlot, ImageTokens = visualCount, InputIds = inputIds,
        };
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
        int d = Model.Config.Text.HiddenSize;
        if (_hidden.Length < rows * d)
        {
            _hidden = new float[rows * d];
            _normed = new float[rows * d];
        }
    }

    /// <summary>Prefills the sequence into a fresh cache sized for it plus <paramref name="extraCapacity"/>
    /// decode tokens. Returns the last position's logits. <paramref name="hiddenStates"/> (when given)
    /// receives hidden_states 0..L as transformers reports them (the last one after the final norm);
    /// <paramref name="allLogits"/> (when given, [Length, Vocab]) receives every position's logits.</summary>
    public float[] Prefill(SplicedSequence seq, int extraCapacity, List<float[]>? hiddenStates = null, float[]? allLogits = null, CancellationToken cancel = default)
    {
        var dec = Model.Decoder;
        int d = dec.Config.HiddenSize, n = seq.Length, v = dec.Config.VocabSize;
        int capacity = n + extraCapacity;
        if (_cache is null) _cache = dec.CreateCache(capacity);
        else { _cache.Clear(); _cache.EnsureCapacity(capacity); }
        EnsureBuffers(n);
        var x = _hidden.AsSpan(0, n * d);
        seq.Embeddings.AsSpan(0, n * d).CopyTo(x);
        hiddenStates?.Add(x.ToArray());
        for (int l = 0; l < dec.LayerCount; l++)
        {
            cancel.ThrowIfCancellationRequested();
            dec.RunLayer(Compute, l, x, n, seq.Positions, _cache);
            if (hiddenStates is not null && l < dec.LayerCount - 1) hiddenStates.Add(x.ToArray());
        }
        var normed = _normed.AsSpan(0, n * d);
        if (hiddenStates is not null || allLogits is not null)
        {
            dec.FinalNorm(x, n, normed);
            hiddenStates?.Add(normed.ToArray());
            if (allLogits is not null) dec.Logits(Compute, normed, n, allLogits);
        }
        dec.FinalNorm(x.Slice((n - 1) * d, d), 1, normed.Slice(0, d));
        var logits = new float[v];
        dec.Logits(Compute, normed.Slice(0, d), 1, logits);
        return logits;
    }

    /// <summary>One decode step: token at <paramref name="position"/>, appended to every layer's cache.</summary>
    public float[] DecodeStep(int token, int position)
    {
        var dec = Model.Decoder;
        int d = dec.Config.HiddenSize;
        EnsureBuffers(1);
        var x = _hidden.AsSpan(0, d);
        dec.Embed([token], x);
        Span<int> pos = [position];
        for (int l = 0; l < dec.LayerCount; l++) dec.RunLayer(Compute, l, x, 1, pos, _cache!);
        dec.FinalNorm(x, 1, _normed.AsSpan(0, d));
        var logits = new float[dec.Config.VocabSize];
        dec.Logits(Compute, _normed.AsSpan(0, d), 1, logits);
        return logits;
    }

    /// <summary>Prefill then decode until EOS, the token limit or the context limit.</summary>
    public GenerationResult Generate(SplicedSequence seq, GenerationOptions options, CancellationToken cancel = default)
    {
        if (options.MaxNewTokens < 0) throw new InvalidInputException($"max new tokens must be >= 0, got {options.MaxNewTokens}");
        var cfg = Model.Config.Text;
        int eos = options.EosTokenId ?? cfg.EosTokenId;
        int room = Math.Max(0, cfg.MaxPositionEmbeddings - seq.Length);
        int maxNew = Math.Min(options.MaxNewTokens, room + 1);
        var sampler = new Sampler(options.Temperature, options.TopP, options.Seed);
        var sw = Stopwatch.StartNew();
        var logits = Prefill(seq, maxNew, cancel: cancel);
        double prefillMs = sw.Elapsed.TotalMilliseconds;
        var tokens = new List<int>();
        var stepLogits = options.KeepStepLogits ? new List<float[]>() : null;
        bool eosHit = false;
        double ttft = prefillMs;
        int nextPosition = seq.Positions[^1] + 1;
        var decodeWatch = new Stopwatch();
        for (int step = 0; step < maxNew; step++)
        {
            cancel.ThrowIfCancellationRequested();
            stepLogits?.Add(logits);
            int token = sampler.Next(logits);
            if (step == 0) ttft = sw.Elapsed.TotalMilliseconds;
            if (token == eos) { eosHit = true; break; }
            tokens.Add(token);
            if (step == maxNew - 1) break;
            decodeWatch.Start();
            logits = DecodeStep(token, nextPosition++);
            decodeWatch.Stop();
        }
        return new GenerationResult
        {
            Tokens = tokens.ToArray(), StoppedAtEos = eosHit, StoppedAtContextLimit = maxNew < options.MaxNewTokens && !eosHit && tokens.Count == maxNew,
            StepLogits = stepLogits, PrefillMs = prefillMs, DecodeMs = decodeWatch.Elapsed.TotalMilliseconds, TimeToFirstTokenMs = ttft,
            PromptTokens = seq.Length, KvCacheBytes = _cache!.BytesInUse,
            TokensPerLayer = Enumerable.Repeat(seq.Length, Model.Decoder.LayerCount).ToArray(),
        };
    }
}
