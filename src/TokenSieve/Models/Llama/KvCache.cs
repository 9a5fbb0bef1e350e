namespace TokenSieve.Models;

/// <summary>Per-layer key/value cache. Each layer keeps its own length: a decoder pruner at layer K
/// shortens the sequence for layers K.. only, so their caches hold fewer tokens than the earlier
/// layers'. Keys are stored after RoPE. Buffers are reused across runs when large enough.</summary>
internal sealed class KvCache
{
    public int Layers { get; }
    public int KvDim { get; }
    public int Capacity { get; private set; }

    readonly float[][] _keys;
    readonly float[][] _values;
    readonly int[] _length;

    public KvCache(int layers, int kvDim, int capacity)
    {
        Layers = layers;
        KvDim = kvDim;
        _keys = new float[layers][];
        _values = new float[layers][];
        _length = new int[layers];
        EnsureCapacity(capacity);
    }

    /// <summary>Grows every layer to hold at least <paramref name="capacity"/> tokens (keeping contents).</summary>
    public void EnsureCapacity(int capacity)
    {
        if (capacity <= Capacity) return;
        for (int l = 0; l < Layers; l++)
        {
            var k = new float[(long)capacity * KvDim];
            var v = new float[(long)capacity * KvDim];
            if (_keys[l] is not null)
            {
                _keys[l].AsSpan(0, _length[l] * KvDim).CopyTo(k);
                _values[l].AsSpan(0, _length[l] * KvDim).CopyTo(v);
            }
            _keys[l] = k;
            _values[l] = v;
        }
        Capacity = capacity;
    }

    public void Clear() => Array.Clear(_length);

    public int Length(int layer) => _length[layer];

    /// <summary>Keys of the layer, [Length, KvDim] rows (post-RoPE).</summary>
    public Span<float> Keys(int layer) => _keys[layer].AsSpan(0, _length[layer] * KvDim);

    public Span<float> Values(int layer) => _values[layer].AsSpan(0, _length[layer] * KvDim);

    /// <summary>Appends rows (to be filled by the caller through <see cref="KeyRows"/>/<see cref="ValueRows"/>); returns the first new row.</summary>
    internal int Append(int layer, int rows)
    {
        int start = _length[layer];
        if (start + rows > Capacity)
            throw new InvalidInputException($"KV cache of layer {layer} holds {Capacity} tokens; appending {rows} to {start} exceeds it");
        _length[layer] = start + rows;
        return start;
    }

    internal Span<float> KeyRows(int layer, int start, int rows) => _keys[layer].AsSpan(start * KvDim, rows * KvDim);

    internal Span<float> ValueRows(int layer, int start, int rows) => _values[layer].AsSpan(start * KvDim, rows * KvDim);

    /// <summary>Keeps only the given rows (ascending indices) of one layer: used when a pruner drops
    /// tokens whose entries that layer already cached.</summary>
    public void Compact(int layer, ReadOnlySpan<int> keepRows)
    {
        int n = 0;
        foreach (int r in keepRows)
        {
            if (r != n)
            {
                _keys[layer].AsSpan(r * KvDim, KvDim).CopyTo(_keys[layer].AsSpan(n * KvDim, KvDim));
                _values[layer].AsSpan(r * KvDim, KvDim).CopyTo(_values[layer].AsSpan(n * KvDim, KvDim));
            }
            n++;
        }
        _length[layer] = n;
    }

    /// <summary>Bytes of cache in use (float32 keys and values over all layers).</summary>
    public long BytesInUse
    {
        get
        {
            long total = 0;
            foreach (int len in _length) total += (long)len * KvDim * 2 * sizeof(float);
            return total;
        }
    }
}
