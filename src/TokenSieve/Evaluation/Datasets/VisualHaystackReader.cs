using System.Text.Json;

namespace TokenSieve.Evaluation;

/// <summary>Visual Haystacks (Wu et al. 2024; huggingface.co/datasets/tsunghanwu/visual_haystacks,
/// github.com/visual-haystacks/vhs_benchmark): <c>VHs_qa/single_needle/VHs_large/visual_haystack_N.json</c>
/// and <c>VHs_qa/multi_needle/visual_haystack_N.json</c>, each a JSON list of
/// <c>{pos_image: [paths], neg_image: [paths], conversations: [{from: "human", value: question},
/// {from: "gpt", value: "Yes"|"No"}]}</c> (LLaVA's conversation layout); image paths are relative to
/// the COCO 2017 root (<c>val2017/000000….jpg</c>). One multi-image item per entry: all its images,
/// in an order shuffled per entry with a fixed seed (needles must not always come first), the
/// question with LLaVA's short-answer suffix; scored yes/no accuracy, reported per number of images.
/// A folder reads every <c>visual_haystack_*.json</c> under it.</summary>
internal static class VisualHaystackReader
{
    public const string Task = "visual_haystack";

    public static EvalDataset Read(string path, string imageRoot, CancellationToken ct = default)
    {
        var files = Directory.Exists(path)
            ? Directory.EnumerateFiles(path, "visual_haystack_*.json", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).ToList()
            : [path];
        if (files.Count == 0) throw new DatasetException(path, "no visual_haystack_*.json files");
        var items = new List<EvalItem>();
        var issues = new List<ReadIssue>();
        foreach (var file in files)
        {
            var root = JsonLines.LoadDocument(file);
            if (root.ValueKind != JsonValueKind.Array) throw new DatasetException(file, "expected a JSON list of entries");
            string stem = Path.GetRelativePath(Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(file))!, file);
            int entry = 0;
            foreach (var e in root.EnumerateArray())
            {
                ct.ThrowIfCancellationRequested();
                entry++;
                var pos = JsonLines.Strings(e, "pos_image") ?? [];
                var neg = JsonLines.Strings(e, "neg_image") ?? [];
                string? question = null, answer = null;
                if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("conversations", out var conv) && conv.ValueKind == JsonValueKind.Array && conv.GetArrayLength() >= 2)
                {
                    question = JsonLines.Text(conv[0], "value");
                    answer = JsonLines.Text(conv[1], "value")?.Trim().TrimEnd('.').ToLowerInvariant();
                }
                if (question is null || answer is not ("yes" or "no") || pos.Count + neg.Count == 0)
                {
                    issues.Add(new ReadIssue(file, entry, "entry lacks images, a question or a yes/no answer"));
                    continue;
                }
                var all = pos.Concat(neg).ToList();
                Shuffle(all, (ulong)entry * 0x9E3779B97F4A7C15UL ^ (ulong)StableHash(stem));
                question = question.Replace("<image>", "").Trim();
                items.Add(new EvalItem
                {
                    Task = Task, QuestionId = $"{stem}#{entry}", Question = question,
                    Prompt = question + "\n" + Prompts.ShortAnswer,
                    ImagePaths = all.Select(p => Path.Combine(imageRoot, p)).ToList(), Answers = [answer],
                    Category = $"{all.Count} images",
                    Extra = new Dictionary<string, string> { ["needles"] = pos.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                });
            }
        }
        return new EvalDataset { Task = Task, Kind = TaskKind.YesNo, Items = items, Issues = issues, Settings = JsonLines.Settings(("image_order", "shuffled-per-entry")) };
    }

    /// <summary>Fisher–Yates with SplitMix64: the same order on every machine and run.</summary>
    static void Shuffle(List<string> list, ulong seed)
    {
        ulong s = seed;
        for (int i = list.Count - 1; i > 0; i--)
        {
            s += 0x9E3779B97F4A7C15UL;
            ulong z = s;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            int j = (int)(z % (ulong)(i + 1));
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    static uint StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return h;
    }
}
