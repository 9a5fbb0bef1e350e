using TokenSieve.Fuzzing;
using Xunit.Abstractions;

namespace TokenSieve.Tests.Fuzz;

/// <summary>A short, deterministic run of the fuzzer of issue 18 (the long one is
/// <c>bench fuzz</c>): mutated safetensors files, configs, images and specs through the public
/// loading paths must end as accepted or as a typed error — no untyped exception, no hang, no
/// memory blow-up.</summary>
public sealed class FuzzSmokeTests(ITestOutputHelper output)
{
    static string DataDir => Path.Combine(AppContext.BaseDirectory, "data");

    /// <summary>Memory is judged by what each case allocates on its own thread (1 GiB), not by the
    /// test host's resident size, which other tests running in parallel also grow.</summary>
    static readonly FuzzOptions Options = new() { Watchdog = TimeSpan.FromSeconds(10), MemoryLimitBytes = 1L << 30, ResidentLimitBytes = long.MaxValue, MaxHangs = 1 };

    [Theory]
    [InlineData("safetensors", 300)]
    [InlineData("config", 150)]
    [InlineData("images", 250)]
    [InlineData("specs", 1000)]
    public void Short_run_has_no_untyped_errors_hangs_or_blow_ups(string key, int cases)
    {
        var target = FuzzTarget.All(DataDir).Single(t => t.Key == key);
        string work = Path.Combine(Path.GetTempPath(), "tokensieve-fuzz-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            var r = FuzzRunner.Run(target, seed: 18, cases, Options, work);
            output.WriteLine(FuzzRunner.Table([r], Options));
            foreach (var f in r.Failures) output.WriteLine($"case {f.Index}: {f.Outcome}: {f.Error}");
            Assert.Equal(cases, r.Tried);
            Assert.True(r.Failures.Count == 0, string.Join("\n", r.Failures.Take(5).Select(f => $"case {f.Index}: {f.Outcome}: {f.Error}")));
            // The mutators must reach both sides: some inputs still load, most are refused with a typed error.
            Assert.True(r[FuzzOutcome.TypedError] > cases / 10, $"only {r[FuzzOutcome.TypedError]} typed errors");
            Assert.True(r[FuzzOutcome.Accepted] > 0, "no mutated input was accepted: the mutations are too destructive to test deep code");
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    [Fact]
    public void Cases_are_reproducible_from_seed_and_index()
    {
        foreach (var target in FuzzTarget.All(DataDir))
            for (int i = 0; i < 20; i++)
            {
                var a = target.Generate(FuzzRandom.ForCase(7, target.Key, i));
                var b = target.Generate(FuzzRandom.ForCase(7, target.Key, i));
                Assert.Equal(a.Text, b.Text);
                Assert.Equal(a.Files.Count, b.Files.Count);
                for (int k = 0; k < a.Files.Count; k++) Assert.Equal(a.Files[k].Bytes, b.Files[k].Bytes);
            }
    }

    [Fact]
    public void The_runner_classifies_untyped_hangs_and_memory()
    {
        var opts = new FuzzOptions { Watchdog = TimeSpan.FromMilliseconds(300), MemoryLimitBytes = 64L << 20, ResidentLimitBytes = long.MaxValue };
        var c = new FuzzCase("x", []);
        Assert.Equal(FuzzOutcome.Untyped, FuzzRunner.RunOne(new Lambda(() => throw new IndexOutOfRangeException()), c, 0, opts, ".", out _).Outcome);
        Assert.Equal(FuzzOutcome.Untyped, FuzzRunner.RunOne(new Lambda(() => throw new ImageDecodeException("f", "x", new NullReferenceException())), c, 0, opts, ".", out _).Outcome);
        Assert.Equal(FuzzOutcome.TypedError, FuzzRunner.RunOne(new Lambda(() => throw new ImageDecodeException("f", "x")), c, 0, opts, ".", out _).Outcome);
        Assert.Equal(FuzzOutcome.Memory, FuzzRunner.RunOne(new Lambda(() => GC.KeepAlive(new byte[100 << 20])), c, 0, opts, ".", out _).Outcome);
        var stop = new ManualResetEventSlim();
        Assert.Equal(FuzzOutcome.Hang, FuzzRunner.RunOne(new Lambda(() => stop.Wait(5000)), c, 0, opts, ".", out _).Outcome);
        stop.Set();
        Assert.Equal(FuzzOutcome.Accepted, FuzzRunner.RunOne(new Lambda(() => { }), c, 0, opts, ".", out _).Outcome);
    }

    sealed class Lambda(Action action) : FuzzTarget
    {
        public override string Key => "lambda";
        public override string Title => "lambda";
        public override FuzzCase Generate(FuzzRandom r) => new("x", []);
        public override void Run(FuzzCase c, string workDir) => action();
    }
}
