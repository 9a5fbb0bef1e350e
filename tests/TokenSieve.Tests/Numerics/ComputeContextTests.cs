using TokenSieve.Numerics;

namespace TokenSieve.Tests.Numerics;

public class ComputeContextTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void ForRunsEveryIndexExactlyOnce(int threads)
    {
        var ctx = new ComputeContext(threads);
        foreach (int count in new[] { 0, 1, 2, 3, 17, 1000 })
            for (int repeat = 0; repeat < 20; repeat++)
            {
                var hits = new int[count];
                ctx.For(count, i => Interlocked.Increment(ref hits[i]));
                Assert.All(hits, h => Assert.Equal(1, h));
            }
    }

    [Fact]
    public void NestedForRunsSeriallyInsteadOfDeadlocking()
    {
        var ctx = new ComputeContext(2);
        var hits = new int[8 * 8];
        ctx.For(8, i => ctx.For(8, j => Interlocked.Increment(ref hits[i * 8 + j])));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ExceptionsReachTheCallerAndThePoolStaysUsable()
    {
        var ctx = new ComputeContext(2);
        // Same exception whether the pool or (when busy) the caller runs the body.
        var e = Assert.Throws<InvalidOperationException>(() => ctx.For(100, i => { if (i == 37) throw new InvalidOperationException("boom"); }));
        Assert.Equal("boom", e.Message);
        int sum = 0;
        ctx.For(10, i => Interlocked.Add(ref sum, i));
        Assert.Equal(45, sum);
    }

    [Fact]
    public void ThreadCountDefaultsToTheCores()
    {
        Assert.Equal(Environment.ProcessorCount, new ComputeContext().Threads);
        Assert.Throws<InvalidInputException>(() => new ComputeContext(-1));
    }
}
