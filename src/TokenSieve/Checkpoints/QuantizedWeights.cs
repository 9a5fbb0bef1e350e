using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>Which tensors are quantised, at load (<c>--weights q8_0|q4_0</c>) or ahead of time
/// (<c>tokensieve quantize</c>), and TokenSieve's quantised checkpoint file (docs/quantization.md).</summary>
/// <remarks>
/// The language model's matrices are quantised — token embeddings, the seven projections of every layer and
/// lm_head — where their rows are whole blocks. Norm weights stay float32. The vision tower and projector keep
/// their stored type (F16 in real checkpoints), as llama.cpp's mmproj files do: they run once per image over
/// 577 tokens (compute-bound, where F16 widening costs nothing measurable) and hold under a fifth of a 7B model.
/// </remarks>
public static class QuantizedWeights
{
    /// <summary>The file inside a quantised model folder (config.json and the tokenizer files sit next to it).</summary>
    public const string FileName = "model.gguf";
    /// <summary><c>general.architecture</c> of TokenSieve's own GGUF files, which keep llava-hf tensor names.</summary>
    public const string Architecture = "tokensieve-llava";
    public const string FormatKey = "tokensieve.format_version";
    public const string WeightTypeKey = "tokensieve.weight_type";
    public const int FormatVersion = 1;

    /// <summary>The weight types offered for quantisation (<c>--weights</c>, <c>quantize --type</c>).</summary>
    public static DType Parse(string text) => text.ToLowerInvariant() switch
    {
        "q8_0" => DType.Q8_0,
        "q4_0" => DType.Q4_0,
        _ => throw new InvalidInputException($"unknown weight type '{text}' (q8_0, q4_0)"),
    };

    /// <summary>True for names <see cref="Parse"/> accepts.</summary>
    public static bool IsTypeName(string text) => text.ToLowerInvariant() is "q8_0" or "q4_0";

    /// <summary>The canonical names of the tensors that are quantised for a model with this text config.</summary>
    internal static HashSet<string> Targets(LlamaConfig text)
    {
        var names = LlavaSchema.Decoder(text).Where(t => t.Kind is TensorKind.Matrix or TensorKind.Embedding).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        names.Add(TensorNames.LmHead);
        return names;
    }

    /// <summary>Whether <paramref name="t"/> (a target) can be stored as <paramref name="type"/>: a matrix whose rows are whole blocks.</summary>
    internal static bool Fits(TensorData t, DType type) => t.Shape.Length == 2 && t.Shape[1] % DTypes.BlockElements(type) == 0;

    /// <summary>Writes every tensor of <paramref name="source"/> to a GGUF file under its canonical name, the targets
    /// quantised to <paramref name="type"/>, the rest as stored.</summary>
    internal static void Write(ITensorSource source, LlavaConfig config, DType type, string path, string sourceName)
    {
        var targets = Targets(config.Text);
        var w = new GgufWriter()
            .Add("general.architecture", Architecture)
            .Add("general.name", sourceName)
            .Add(FormatKey, FormatVersion)
            .Add(WeightTypeKey, DTypes.Name(type));
        foreach (var name in source.Names.OrderBy(n => n, StringComparer.Ordinal))
        {
            var t = source.Get(name);
            var stored = targets.Contains(name) && Fits(t, type) ? type : t.DType;
            w.AddTensor(name, stored, t.Shape, s => TensorEncoding.Write(t, stored, s));
        }
        w.Write(path);
    }
}

/// <summary>Serves a checkpoint's tensors with the language model's matrices quantised on first use (rows in
/// parallel on the given context); every other tensor, and any target whose rows are not whole blocks, is
/// passed through. The quantised bytes live in pinned arrays owned by the returned <see cref="TensorData"/>;
/// the source's own pages are read once and not kept.</summary>
internal sealed unsafe class QuantizingTensorSource : ITensorSource
{
    readonly ITensorSource _inner;
    readonly DType _type;
    readonly HashSet<string> _targets;
    readonly ComputeContext _compute;
    readonly Dictionary<string, TensorData> _done = new(StringComparer.Ordinal);

    public QuantizingTensorSource(ITensorSource inner, DType type, LlamaConfig text, ComputeContext? compute = null)
    {
        if (!DTypes.IsQuantized(type)) throw new ArgumentOutOfRangeException(nameof(type), $"{type} is not a block type");
        _inner = inner;
        _type = type;
        _targets = QuantizedWeights.Targets(text);
        _compute = compute ?? ComputeContext.Default;
    }

    public DType WeightType => _type;
    public IReadOnlyCollection<string> Names => _inner.Names;
    public bool Contains(string name) => _inner.Contains(name);

    public TensorData Get(string name)
    {
        lock (_done)
        {
            if (_done.TryGetValue(name, out var cached)) return cached;
            var t = _inner.Get(name);
            if (!_targets.Contains(name) || t.DType == _type || !QuantizedWeights.Fits(t, _type)) return t;
            var q = Quantize(t);
            _done[name] = q;
            return q;
        }
    }

    TensorData Quantize(TensorData t)
    {
        int rows = t.Shape[0], cols = t.Shape[1];
        long srcRow = DTypes.ByteCount(t.DType, cols), dstRow = DTypes.ByteCount(_type, cols);
        if (rows * dstRow > Array.MaxLength)
            throw new CheckpointException(t.File, t.Name, $"{_type} x {t.ShapeText} is more than one array can hold");
        byte[] bytes = GC.AllocateUninitializedArray<byte>((int)(rows * dstRow), pinned: true);
        const int rowsPerTask = 64;
        fixed (byte* dst0 = bytes)
        {
            byte* dst = dst0;
            _compute.For((rows + rowsPerTask - 1) / rowsPerTask, task =>
            {
                var wide = new float[cols];
                for (int r = task * rowsPerTask; r < Math.Min(rows, (task + 1) * rowsPerTask); r++)
                {
                    byte* src = (byte*)t.Pointer + r * srcRow;
                    fixed (float* f = wide)
                    {
                        if (DTypes.IsQuantized(t.DType)) QuantFormats.DequantizeRow(src, t.DType, 0, cols, f);
                        else WeightConversion.ToSingle(src, t.DType, f, cols);
                    }
                    QuantFormats.QuantizeReference(wide, _type, new Span<byte>(dst + r * dstRow, (int)dstRow));
                }
            });
            return new TensorData(t.Name, _type, t.Shape, (nint)dst0, bytes.Length, t.File, bytes);
        }
    }

    public void Dispose() => _inner.Dispose();
}
