using System.Diagnostics;
using TokenSieve.Cli;
using TokenSieve.Evaluation;
using TokenSieve.Imaging;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>Issue #7's resume guarantee, with a real process kill: a tiny dataset in every supported
/// format (generated images), swept with the tiny fixture model; one sweep is killed part-way and
/// resumed, and its answers equal an uninterrupted run's exactly.</summary>
[Collection("console")]
public sealed class BenchResumeTests
{
    /// <summary>Writes a tiny dataset of <paramref name="task"/> into dir; returns (annotations, images).</summary>
    static (string Ann, string? Images) MakeDataset(string task, TempDir dir, int n)
    {
        byte[] Png(int i)
        {
            var img = new RgbImage(40 + 7 * i, 30 + 5 * i);
            for (int p = 0; p < img.Pixels.Length; p++) img.Pixels[p] = (byte)((p * (i + 3) + 17 * i) % 251);
            return PngEncoder.Encode(img);
        }
        string images = Path.Combine(dir.Path, task + "-images");
        Directory.CreateDirectory(images);
        string Write(string rel, string text)
        {
            string path = Path.Combine(dir.Path, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
            return path;
        }
        switch (task)
        {
            case "pope":
                for (int i = 0; i < n; i++) File.WriteAllBytes(Path.Combine(images, $"img{i}.jpg"), Png(i));
                return (Write("pope/coco_pope_random.json", string.Concat(Enumerable.Range(0, n).Select(i =>
                    $"{{\"question_id\": {i}, \"image\": \"img{i}.jpg\", \"text\": \"Is there a {(i % 2 == 0 ? "dog" : "cat")} in the image?\", \"label\": \"{(i % 3 == 0 ? "yes" : "no")}\"}}\n"))), images);
            case "gqa":
                for (int i = 0; i < n; i++) File.WriteAllBytes(Path.Combine(images, $"n{i}.jpg"), Png(i));
                return (Write("gqa/testdev_balanced_questions.json", "{" + string.Join(",", Enumerable.Range(0, n).Select(i =>
                    $"\"{200 + i}\": {{\"imageId\": \"n{i}\", \"question\": \"What color is thing {i}?\", \"answer\": \"red\"}}")) + "}"), images);
            case "textvqa":
                for (int i = 0; i < n; i++) File.WriteAllBytes(Path.Combine(images, $"t{i}.jpg"), Png(i));
                string answers = string.Join(",", Enumerable.Repeat("\"stop\"", 10));
                return (Write("textvqa/TextVQA_0.5.1_val.json", "{\"data\": [" + string.Join(",", Enumerable.Range(0, n).Select(i =>
                    $"{{\"question_id\": {i}, \"image_id\": \"t{i}\", \"question\": \"what does sign {i} say?\", \"answers\": [{answers}]}}")) + "]}"), images);
            case "mme":
                string root = Path.Combine(dir.Path, "MME_Benchmark_release_version");
                for (int i = 0; i < n; i++)
                {
                    string sub = i % 2 == 0 ? "existence" : "count";
                    Directory.CreateDirectory(Path.Combine(root, sub));
                    File.WriteAllBytes(Path.Combine(root, sub, $"{i:0000}.png"), Png(i));
                    Write($"MME_Benchmark_release_version/{sub}/{i:0000}.txt", "Is there a dog? Please answer yes or no.\tYes\nIs there a cat? Please answer yes or no.\tNo\n");
                }
                return (root, null);
            case "scienceqa_img":
                for (int i = 0; i < n; i++)
                {
                    Directory.CreateDirectory(Path.Combine(images, $"{i}"));
                    File.WriteAllBytes(Path.Combine(images, $"{i}", "image.png"), Png(i));
                }
                Write("sqa/pid_splits.json", "{\"test\": [" + string.Join(",", Enumerable.Range(0, n).Select(i => $"\"{i}\"")) + "]}");
                return (Write("sqa/problems.json", "{" + string.Join(",", Enumerable.Range(0, n).Select(i =>
                    $"\"{i}\": {{\"question\": \"Which is thing {i}?\", \"choices\": [\"frog\", \"dog\"], \"answer\": {i % 2}, \"hint\": \"\", \"image\": \"image.png\", \"split\": \"test\"}}")) + "}"), images);
            case "mmbench":
                return (Write("mmbench/mmbench_dev.tsv", "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tl2-category\n" + string.Concat(Enumerable.Range(0, n).Select(i =>
                    $"{i}\tWhat colour is {i}?\tnan\tred\tgreen\tblue\tnan\tB\tcolor\t{Convert.ToBase64String(Png(i))}\tattribute\n"))), null);
            default:
                throw new ArgumentException(task);
        }
    }

    static string[] Args(string task, (string Ann, string? Images) ds, string output)
    {
        var args = new List<string> { "bench", "--model", TestData.LlavaTiny, "--task", task, "--data", ds.Ann, "--methods", "none;pool;random",
            "--budgets", "4", "--out", output, "--max-new-tokens", "3", "--threads", "1", "--seed", "5" };
        if (ds.Images is not null) args.AddRange(["--images", ds.Images]);
        return args.ToArray();
    }

    /// <summary>Answers in the results file, keyed by (task, spec, question id), timings left out.</summary>
    static SortedDictionary<string, string> Answers(string path)
    {
        var issues = new List<ReadIssue>();
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var r in ResultsFile.Read(path, issues)) result.Add($"{r.Task}|{r.Spec}|{r.QuestionId}", $"{r.Text}|{r.VisualTokens}|{r.Seed}");
        return result;
    }


    [Fact]
    public void A_corrupt_line_in_the_middle_is_reported_with_its_line_number_and_its_item_answered_again()
    {
        using var dir = TestData.TempDir();
        var ds = MakeDataset("pope", dir, 4);
        string results = dir.File("r.jsonl");
        var (rc, output, err) = CliCapture.Run(Args("pope", ds, results));
        Assert.True(rc == 0, err + output);
        var expected = Answers(results);
        var lines = File.ReadAllLines(results);
        lines[2] = lines[2][..(lines[2].Length / 2)] + "#garbage";
        File.WriteAllLines(results, lines);

        string report = dir.File("report");
        (rc, output, err) = CliCapture.Run([.. Args("pope", ds, results), "--report", report]);
        Assert.True(rc == 0, err + output);
        Assert.Contains("1 line(s) of the results file could not be read", err);
        Assert.Contains("r.jsonl:3: not valid JSON", err);
        Assert.Contains("1 answered", output);
        Assert.Equal(expected, Answers(results));
        Assert.Contains("r.jsonl:3", File.ReadAllText(Path.Combine(report, "report.md")));
    }

    [Theory]
    [InlineData("pope")]
    [InlineData("gqa")]
    [InlineData("textvqa")]
    [InlineData("mme")]
    [InlineData("scienceqa_img")]
    [InlineData("mmbench")]
    public void Killed_sweep_resumes_to_the_uninterrupted_results(string task)
    {
        using var dir = TestData.TempDir();
        // Enough items (16 x 3 configurations) that the kill lands well before the end even on a fast machine.
        var ds = MakeDataset(task, dir, 16);
        string full = dir.File("full.jsonl"), killed = dir.File("killed.jsonl");
        var (rc, output, err) = CliCapture.Run(Args(task, ds, full));
        Assert.True(rc == 0, err + output);
        var expected = Answers(full);
        Assert.True(expected.Count >= 32, $"{task}: only {expected.Count} answers");

        // A real process, killed once a few answers are on disk.
        string cli = Path.Combine(AppContext.BaseDirectory, "TokenSieve.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(cli);
        foreach (var a in Args(task, ds, killed)) psi.ArgumentList.Add(a);
        using (var process = Process.Start(psi)!)
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var clock = Stopwatch.StartNew();
            while (!process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                if (File.Exists(killed) && File.ReadAllLines(killed).Length >= 4) break;
                Thread.Sleep(5);
            }
            Assert.False(process.HasExited, $"{task}: the sweep finished before it could be killed");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        int before = File.ReadAllLines(killed).Length;
        Assert.InRange(before, 4, expected.Count - 1);

        (rc, output, err) = CliCapture.Run(Args(task, ds, killed));
        Assert.True(rc == 0, err + output);
        Assert.Contains("already in", output);
        Assert.Equal(expected, Answers(killed));
    }
}
