using System.Text.Json;

namespace TokenSieve.Evaluation;

/// <summary>RefCOCO, RefCOCO+ and RefCOCOg as the refer toolkit releases them
/// (github.com/lichengunc/refer, data/refcoco{,+,g}/): <c>refs(unc).p</c> (RefCOCO, RefCOCO+) or
/// <c>refs(umd).p</c> / <c>refs(google).p</c> (RefCOCOg) — a Python pickle of a list of refs
/// <c>{ref_id, ann_id, image_id, split, category_id, sentences: [{sent_id, sent, raw, tokens}]}</c> — and
/// <c>instances.json</c> beside it (COCO format: images with file_name, width, height; annotations
/// with bbox [x, y, w, h] in pixels). Images are COCO train2014 files in the image folder.
/// One item per sentence of a ref in the chosen split (RefCOCO/+: val, testA, testB; RefCOCOg umd:
/// val, test); the answer is the ref's box in LLaVA-1.5's convention (normalised to the padded
/// square, <see cref="GroundingScorer"/>), scored Acc@IoU≥0.5.</summary>
internal static class RefCocoReader
{
    /// <summary>LLaVA-1.5's referring-expression instruction (its REC training data).</summary>
    public const string Instruction = "Please provide the bounding box coordinate of the region this sentence describes: ";

    public static EvalDataset Read(string task, string refsPath, string imageFolder, string split, CancellationToken ct = default)
    {
        string instancesPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(refsPath))!, "instances.json");
        var root = JsonLines.LoadDocument(instancesPath);
        var images = new Dictionary<long, (string File, int Width, int Height)>();
        var boxes = new Dictionary<long, double[]>();
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("images", out var imgs) || imgs.ValueKind != JsonValueKind.Array
            || !root.TryGetProperty("annotations", out var anns) || anns.ValueKind != JsonValueKind.Array)
            throw new DatasetException(instancesPath, "expected a COCO instances file with 'images' and 'annotations' arrays");
        var issues = new List<ReadIssue>();
        int n = 0;
        foreach (var im in imgs.EnumerateArray())
        {
            n++;
            if (im.ValueKind == JsonValueKind.Object && im.TryGetProperty("id", out var id) && id.TryGetInt64(out long iid)
                && JsonLines.Text(im, "file_name") is { } file && im.TryGetProperty("width", out var w) && w.TryGetInt32(out int width)
                && im.TryGetProperty("height", out var h) && h.TryGetInt32(out int height) && width > 0 && height > 0)
                images[iid] = (file, width, height);
            else issues.Add(new ReadIssue(instancesPath, n, "image entry lacks id, file_name, width or height"));
        }
        n = 0;
        foreach (var a in anns.EnumerateArray())
        {
            n++;
            if (a.ValueKind == JsonValueKind.Object && a.TryGetProperty("id", out var id) && id.TryGetInt64(out long aid)
                && a.TryGetProperty("bbox", out var b) && b.ValueKind == JsonValueKind.Array && b.GetArrayLength() == 4
                && b.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number))
                boxes[aid] = b.EnumerateArray().Select(x => x.GetDouble()).ToArray();
            else issues.Add(new ReadIssue(instancesPath, n, "annotation lacks id or a 4-number bbox"));
        }

        if (PickleReader.Load(refsPath) is not List<object?> refs) throw new DatasetException(refsPath, "expected a pickled list of refs");
        var items = new List<EvalItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int entry = 0;
        foreach (var r in refs)
        {
            ct.ThrowIfCancellationRequested();
            entry++;
            if (r is not Dictionary<object, object?> d) { issues.Add(new ReadIssue(refsPath, entry, "ref is not a dict")); continue; }
            if (Str(d, "split") != split) continue;
            if (Int(d, "ann_id") is not long annId || Int(d, "image_id") is not long imageId || d.GetValueOrDefault("sentences") is not List<object?> sentences)
            {
                issues.Add(new ReadIssue(refsPath, entry, "ref lacks ann_id, image_id or sentences"));
                continue;
            }
            if (!images.TryGetValue(imageId, out var image) || !boxes.TryGetValue(annId, out var bbox))
            {
                issues.Add(new ReadIssue(refsPath, entry, $"image {imageId} or annotation {annId} is not in instances.json"));
                continue;
            }
            var box = GroundingScorer.ToPaddedSquare(bbox[0], bbox[1], bbox[2], bbox[3], image.Width, image.Height);
            foreach (var s in sentences)
            {
                if (s is not Dictionary<object, object?> sd || Int(sd, "sent_id") is not long sentId || (Str(sd, "sent") ?? Str(sd, "raw")) is not { } sent)
                {
                    issues.Add(new ReadIssue(refsPath, entry, "a sentence lacks sent_id or sent"));
                    continue;
                }
                string qid = sentId.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (!seen.Add(qid)) { issues.Add(new ReadIssue(refsPath, entry, $"duplicate sent_id {qid}")); continue; }
                items.Add(new EvalItem
                {
                    Task = task, QuestionId = qid, Question = sent, Prompt = Instruction + sent,
                    ImagePath = Path.Combine(imageFolder, image.File), Answers = [box.ToString()],
                    Category = split, Group = Int(d, "ref_id")?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Extra = new Dictionary<string, string> { ["image_width"] = image.Width.ToString(), ["image_height"] = image.Height.ToString() },
                });
            }
        }
        if (items.Count == 0 && issues.Count == 0)
            throw new DatasetException(refsPath, $"no refs in split '{split}' (RefCOCO/RefCOCO+: val, testA, testB; RefCOCOg: val, test)");
        return new EvalDataset
        {
            Task = task, Kind = TaskKind.Grounding, Items = items, Issues = issues,
            Settings = JsonLines.Settings(("split", split), ("box", "llava-padded-square")),
        };
    }

    static string? Str(Dictionary<object, object?> d, string key) => d.GetValueOrDefault(key) as string;

    static long? Int(Dictionary<object, object?> d, string key) => d.GetValueOrDefault(key) is long v ? v : null;
}
