using System.Runtime.InteropServices;

namespace TokenSieve.Numerics;

/// <summary>A grow-only, 64-byte aligned native float buffer. Kernels keep one per thread
/// ([ThreadStatic]) so hot paths never allocate: a fresh page costs ≈12 µs to first touch, more
/// than a whole small GEMM. Freed by the finaliser when its thread is gone.</summary>
internal sealed unsafe class NativeScratch
{
    float* _data;
    long _capacity;

    public float* Get(long floats)
    {
        if (floats > _capacity)
        {
            if (_data != null) NativeMemory.AlignedFree(_data);
            long grown = Math.Max(floats, _capacity + _capacity / 2);
            _data = (float*)NativeMemory.AlignedAlloc((nuint)(grown * sizeof(float)), 64);
            _capacity = grown;
        }
        return _data;
    }

    ~NativeScratch()
    {
        if (_data != null) NativeMemory.AlignedFree(_data);
    }
}
