using System.Security.Cryptography;

namespace TokenSieve.Evaluation;

/// <summary>Two-turn conversations built from a single-turn benchmark (METHODS.md §15.5), and the two
/// tasks their turns are scored as.</summary>
/// <param name="Turn1">The first turns, task <c>&lt;task&gt;/turn1</c>: scored like the source task.</param>
/// <param name="Turn2">The second turns, task <c>&lt;task&gt;/turn2</c>, each with its first turn in
/// <see cref="EvalItem.Prior"/>: the runner answers these (both turns on one KV cache).</param>
/// <param name="Unpaired">Items left out because no other question asks about their image.</param>
public sealed record MultiTurnSet(EvalDataset Turn1, EvalDataset Turn2, int Unpaired);

/// <summary>The pairing rule of <c>bench --multi-turn</c>: items are grouped by image (the file path,
/// or the SHA-256 of embedded image bytes), groups and items in dataset order. In a group of n ≥ 2
/// items, item i is asked second, after item (i + 1) mod n is asked first; so every question of a
/// shared image is a second turn exactly once, and the first turn is a different question about the
/// same image. Items alone on their image are left out. Deterministic: the same dataset always gives
/// the same conversations. A conversation's id is "&lt;first question id&gt;&gt;&lt;second question id&gt;".</summary>
public static class MultiTurn
{
    public static MultiTurnSet Pair(EvalDataset dataset)
    {
        var groups = new Dictionary<string, List<EvalItem>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var item in dataset.Items)
        {
            if (item.Prior.Count > 0) throw new EvaluationException($"{dataset.Task}/{item.QuestionId}: the item is already a conversation");
            string key = ImageKey(item) ?? throw new EvaluationException($"{dataset.Task}/{item.QuestionId}: the item has no image to pair on");
            if (!groups.TryGetValue(key, out var list)) { groups[key] = list = []; order.Add(key); }
            list.Add(item);
        }
        string t1 = dataset.Task + "/turn1", t2 = dataset.Task + "/turn2";
        var first = new List<EvalItem>();
        var second = new List<EvalItem>();
        int unpaired = 0;
        foreach (var key in order)
        {
            var items = groups[key];
            if (items.Count < 2) { unpaired += items.Count; continue; }
            for (int i = 0; i < items.Count; i++)
            {
                var partner = items[(i + 1) % items.Count];
                string id = $"{partner.QuestionId}>{items[i].QuestionId}";
                var turn1 = partner with { Task = t1, QuestionId = id, SourceId = partner.SourceId ?? partner.QuestionId };
                first.Add(turn1);
                second.Add(items[i] with { Task = t2, QuestionId = id, SourceId = items[i].SourceId ?? items[i].QuestionId, Prior = [turn1] });
            }
        }
        var settings = new Dictionary<string, string>(dataset.Settings) { ["multi_turn"] = "image-pairs" };
        return new MultiTurnSet(dataset with { Task = t1, Items = first, Settings = settings },
            dataset with { Task = t2, Items = second, Settings = settings }, unpaired);
    }

    static string? ImageKey(EvalItem item) =>
        item.ImagePath ?? (item.ImageBytes is { } bytes ? Convert.ToHexString(SHA256.HashData(bytes.Span)) : null);
}
