using TokenSieve.Bench;

// A small dispatcher: each mode lives in its own file.
//   kernels [--threads N] [--filter text] [--min-ms N]   quick Markdown table of kernel speeds vs measured peak
//   bdn [BenchmarkDotNet args]                           the BenchmarkDotNet suites
//   memory --model DIR [--tokens 640] [--threads N]       resident memory of a real-shaped model vs weights + KV
//   reduction [--threads N] [--model DIR]                reduction time per method at N=576, C=1024, next to the vision tower's forward time
//   pruning [--threads N]                                 decoder pruners: prefill time next to the unpruned run at equal FLOPs
string mode = args.Length > 0 ? args[0] : "kernels";
string[] rest = args.Length > 0 ? args[1..] : [];
return mode switch
{
    "kernels" => KernelsQuick.Run(rest),
    "probe-experiment" => TokenSieve.Bench.Decode.ProbeExperiment.Run(rest),
    "llm" => TokenSieve.Bench.Decode.DecodeBench.Run(rest),
    "gemv-experiment" => TokenSieve.Bench.Decode.GemvExperiment.Run(rest),
    "pages-experiment" => TokenSieve.Bench.Decode.PagesExperiment.Run(rest),
    "bdn" => BdnSuites.Run(rest),
    "memory" => TokenSieve.Bench.Memory.MemoryBench.Run(rest),
    "pruning" => RunPruning(rest),
    "reduction" => RunReduction(rest),
    "fuzz" => TokenSieve.Bench.Fuzz.FuzzCommand.Run(rest), "fuzz-replay" => TokenSieve.Bench.Fuzz.FuzzCommand.Replay(rest),
    _ => Usage(mode),
};

static int RunPruning(string[] rest)
{
    int threads = rest.Length == 2 && rest[0] == "--threads" ? int.Parse(rest[1]) : 0;
    TokenSieve.Bench.Pruning.PruningBench.Run(Console.Out, threads: threads);
    return 0;
}

static int RunReduction(string[] rest)
{
    int threads = 1;
    string? model = null;
    for (int i = 0; i + 1 < rest.Length; i += 2)
    {
        if (rest[i] == "--threads") threads = int.Parse(rest[i + 1]);
        else if (rest[i] == "--model") model = rest[i + 1];
    }
    TokenSieve.Bench.Reduction.ReductionBench.Run(threads);
    if (model is not null) TokenSieve.Bench.Reduction.VisionForwardTiming.Run(model, threads);
    return 0;
}

static int Usage(string mode)
{
    Console.Error.WriteLine($"unknown mode '{mode}'. Modes: kernels [--threads N] [--filter TEXT] [--min-ms N], bdn [BenchmarkDotNet args]");
    return 2;
}
