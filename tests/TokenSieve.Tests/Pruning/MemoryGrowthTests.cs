using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using Xunit.Abstractions;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Pruning;

/// <summary>Runs alone: it reads the process-wide allocation counter.</summary>
[CollectionDefinition(nameof(AllocationMeasurement), DisableParallelization = true)]
public sealed class AllocationMeasurement;

/// <summary>Proof that no pruner builds an N×N attention matrix: managed bytes allocated by a whole
/// prefill (KV cache, activations, taps, the pruner's own buffers) at 512/1024/2048 tokens on a
/// 4-layer random model. Linear growth doubles them per step (constant overheads make it a little
/// less); an N×N matrix would quadruple them, and at 2048 tokens a single head's N×N float32 matrix
/// (16 MiB) would by itself exceed everything the prefill allocates.</summary>
[Collection(nameof(AllocationMeasurement))]
public sealed class MemoryGrowthTests(ITestOutputHelper output)
{
    static readonly int[] Sizes = [512, 1024, 2048];

    [Theory]
    [InlineData("none")]
    [InlineData("fastv:k=1")]
    [InlineData("pdrop:layers=1/2/3,lambda=0.5")]
    [InlineData("sparsevlm:192,layers=0/1/2")]
    [InlineData("dart:k=1,keep=128")]
    public void Prefill_allocation_grows_linearly_with_sequence_length(string spec)
    {
        using var random = new RandomLlava(layers: 4, kvHeads: 2, maxPositions: 4096, seed: 5);
        var bytes = new long[Sizes.Length];
        for (int i = 0; i < Sizes.Length; i++)
        {
            using var model = random.Load();
            var session = new InferenceSession(model, new ComputeContext(2));
            var (ids, visual) = RandomLlava.Prompt(model, before: 5, visual: Sizes[i] - 15, after: 10, seed: i);
            var seq = session.Splice(ids, 5, visual, Sizes[i] - 15);
            Assert.Equal(Sizes[i], seq.Length);
            var pruner = spec == "none" ? null : MethodCatalog.ParseDecoder(spec);
            GC.Collect();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            var result = session.Prefill(seq, 0, null, pruner);
            bytes[i] = GC.GetTotalAllocatedBytes(precise: true) - before;
            output.WriteLine($"{spec} n={Sizes[i]}: {bytes[i] / 1024.0:F0} KiB allocated, tokens per layer [{string.Join(' ', result.TokensPerLayer)}]");
            if (spec != "none") Assert.True(result.FinalLength < seq.Length);
        }
        for (int i = 1; i < Sizes.Length; i++)
        {
            double ratio = (double)bytes[i] / bytes[i - 1];
            output.WriteLine($"{spec} {Sizes[i - 1]} -> {Sizes[i]}: x{ratio:F2}");
            Assert.InRange(ratio, 1.5, 2.3);
        }
        long singleHeadSquare = (long)Sizes[^1] * Sizes[^1] * sizeof(float);
        Assert.True(bytes[^1] < singleHeadSquare, $"{bytes[^1]} bytes at n={Sizes[^1]}, not below one head's N×N matrix ({singleHeadSquare})");
    }
}
