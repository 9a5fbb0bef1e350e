using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Bench.Decode;

/// <summary>`llm` mode: the language model alone, measured as llama-bench measures it — pp N: prefill of N random
/// tokens into an empty cache; tg N: N single-token decode steps from an empty cache — per weight type, optionally
/// next to llama-bench itself on the same model's GGUF files (written by `tokensieve quantize --format llama.cpp`),
/// alternating engines per weight type so machine drift falls on both.
/// Usage: llm --model DIR [--weights f16,q8_0,q4_0] [--threads 2] [--pp 128,640] [--tg 64] [--reps 5]
///            [--llama-bench PATH --gguf-dir DIR]</summary>
public static class DecodeBench
{
    public static int Run(string[] args)
    {
        string? model = null, llamaBench = null, ggufDir = null;
        string[] weights = ["f16", "q8_0", "q4_0"];
        int threads = 2, tg = 64, reps = 5;
        int[] pp = [128, 640];
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--weights": weights = args[++i].Split(','); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--pp": pp = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--tg": tg = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--llama-bench": llamaBench = args[++i]; break;
                case "--gguf-dir": ggufDir = args[++i]; break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        if (model is null)
        {
            Console.Error.WriteLine("llm --model DIR [--weights f16,q8_0,q4_0] [--threads 2] [--pp 128,640] [--tg 64] [--reps 5] [--llama-bench PATH --gguf-dir DIR]");
            return 2;
        }
        var ctx = new ComputeContext(threads);
        Console.Error.WriteLine("probing bandwidth…");
        double bandwidth = MachineProbe.ReadBandwidth(threads);
        var rows = new List<Row>();
        foreach (var w in weights)
        {
            Console.Error.WriteLine($"TokenSieve {w}…");
            var ours = MeasureOurs(model, w, ctx, pp, tg, reps, out long decodeBytes);
            Dictionary<string, (double Mean, double Sd)>? theirs = null;
            if (llamaBench is not null && ggufDir is not null)
            {
                Console.Error.WriteLine($"llama.cpp {w}…");
                theirs = MeasureLlamaCpp(llamaBench, ggufDir, w, threads, pp, tg, reps);
            }
            foreach (var (test, stats) in ours)
                rows.Add(new Row(w, test, stats, theirs?.GetValueOrDefault(test), test.StartsWith("tg", StringComparison.Ordinal) ? decodeBytes : 0));
        }

        Console.WriteLine($"# language model, {threads} threads, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine();
        Console.WriteLine($"model `{Path.GetFileName(Path.GetFullPath(model).TrimEnd('/'))}`; tokens/s mean ± sd over {reps} repetitions (after one warm-up), as llama-bench reports;");
        Console.WriteLine($"streaming-read bandwidth probe in this process: {bandwidth / 1e9:F1} GB/s. Decode GB/s = bytes of the decoder's matrices and lm_head per token × tokens/s.");
        Console.WriteLine();
        Console.WriteLine("| weights | test | TokenSieve t/s | llama.cpp t/s | TokenSieve / llama.cpp | TokenSieve GB/s | % of probe |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            string lc = r.LlamaCpp is { } l ? $"{l.Mean:F2} ± {l.Sd:F2}" : "";
            string ratio = r.LlamaCpp is { } l2 ? $"{r.Ours.Mean / l2.Mean:F2}x" : "";
            string gbs = r.DecodeBytes > 0 ? $"{r.DecodeBytes * r.Ours.Mean / 1e9:F1}" : "";
            string pct = r.DecodeBytes > 0 ? $"{100 * r.DecodeBytes * r.Ours.Mean / bandwidth:F0}%" : "";
            Console.WriteLine($"| {r.Weights} | {r.Test} | {r.Ours.Mean:F2} ± {r.Ours.Sd:F2} | {lc} | {ratio} | {gbs} | {pct} |");
        }
        return 0;
    }

    sealed record Row(string Weights, string Test, (double Mean, double Sd) Ours, (double Mean, double Sd)? LlamaCpp, long DecodeBytes);

    static List<(string Test, (double Mean, double Sd) Stats)> MeasureOurs(string dir, string weights, ComputeContext ctx, int[] pp, int tg, int reps, out long decodeBytes)
    {
        DType? type = QuantizedWeights.IsTypeName(weights) ? QuantizedWeights.Parse(weights) : null;
        using var m = LlavaModel.Load(dir, new ModelLoadOptions { WeightType = type, Compute = ctx });
        if (type is null && DTypes.Name(m.WeightType) != weights)
            throw new InvalidInputException($"{dir} holds {DTypes.Name(m.WeightType)} weights; --weights {weights} needs a quantisable type or a folder of that type");
        var dec = m.Decoder;
        var session = new InferenceSession(m, ctx);
        // Bytes a decode step streams: every decoder matrix and lm_head (one embedding row is negligible).
        decodeBytes = LlavaSchema.Decoder(m.Config.Text).Where(t => t.Kind == TensorKind.Matrix).Sum(t => DTypes.ByteCount(m.WeightType, t.Count))
            + (m.Config.Text.TieWordEmbeddings ? DTypes.ByteCount(m.WeightType, (long)m.Config.Text.VocabSize * m.Config.Text.HiddenSize) : 0);
        var rng = new Random(1);
        var results = new List<(string, (double, double))>();
        foreach (int n in pp)
        {
            var seq = Sequence(dec, n, rng);
            session.Prefill(seq, 0);
            var tps = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                session.Prefill(seq, 0);
                tps.Add(n / Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            results.Add(($"pp{n}", MeanSd(tps)));
        }
        if (tg > 0)
        {
            var one = Sequence(dec, 1, rng);
            var tgs = new List<double>();
            for (int r = 0; r <= reps; r++)
            {
                session.Prefill(one, tg);
                int token = rng.Next(3, Math.Min(dec.Config.VocabSize, 32000));
                long t0 = Stopwatch.GetTimestamp();
                for (int s = 0; s < tg; s++) session.DecodeStep(token);
                double sec = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (r > 0) tgs.Add(tg / sec);
            }
            results.Add(($"tg{tg}", MeanSd(tgs)));
        }
        return results;
    }

    static SplicedSequence Sequence(LlamaDecoder dec, int n, Random rng)
    {
        var ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = i == 0 ? dec.Config.BosTokenId : rng.Next(3, Math.Min(dec.Config.VocabSize, 32000));
        var emb = new float[n * dec.Config.HiddenSize];
        dec.Embed(ids, emb);
        return new SplicedSequence { Embeddings = emb, Length = n, Positions = Enumerable.Range(0, n).ToArray(), InputIds = ids, Images = [] };
    }

    static (double Mean, double Sd) MeanSd(List<double> xs)
    {
        double mean = xs.Average();
        double sd = xs.Count > 1 ? Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1)) : 0;
        return (mean, sd);
    }

    /// <summary>Runs llama-bench on the GGUF of this weight type in <paramref name="ggufDir"/> (the file whose name
    /// ends in -{type}.gguf) and reads its JSON output.</summary>
    static Dictionary<string, (double Mean, double Sd)> MeasureLlamaCpp(string exe, string ggufDir, string weights, int threads, int[] pp, int tg, int reps)
    {
        var file = Directory.EnumerateFiles(ggufDir, $"*-{weights}.gguf").Where(f => !Path.GetFileName(f).StartsWith("mmproj", StringComparison.Ordinal)).FirstOrDefault()
            ?? throw new FileNotFoundException($"no *-{weights}.gguf in {ggufDir}");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-m", file, "-t", threads.ToString(CultureInfo.InvariantCulture), "-p", string.Join(",", pp), "-n", tg.ToString(CultureInfo.InvariantCulture),
                     "-r", reps.ToString(CultureInfo.InvariantCulture), "-o", "json" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string json = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"llama-bench failed ({p.ExitCode}): {stderr.Result}");
        var result = new Dictionary<string, (double, double)>();
        foreach (var e in JsonDocument.Parse(json).RootElement.EnumerateArray())
        {
            int nPrompt = e.GetProperty("n_prompt").GetInt32(), nGen = e.GetProperty("n_gen").GetInt32();
            string test = nGen > 0 ? $"tg{nGen}" : $"pp{nPrompt}";
            result[test] = (e.GetProperty("avg_ts").GetDouble(), e.GetProperty("stddev_ts").GetDouble());
        }
        return result;
    }
}
