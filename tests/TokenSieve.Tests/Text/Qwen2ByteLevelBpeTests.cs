using System.Text;
using System.Text.Json;
using TokenSieve.Tests.Support;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>The merge order of <see cref="ByteLevelBpe"/> on a tiny synthetic vocabulary, where it can be worked
/// out by hand from the reference loop in transformers' <c>GPT2Tokenizer.bpe</c>.</summary>
public class Qwen2ByteLevelBpeTests
{
    /// <summary>A byte-level vocabulary (the 256 byte characters, ids 0..255) plus <paramref name="extra"/>.</summary>
    static Qwen2Tokenizer Build(TempDir dir, string[] extra, string[] merges)
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[ByteLevelBpe.ByteToChar[b].ToString()] = b;
        foreach (var t in extra) vocab[t] = vocab.Count;
        File.WriteAllText(dir.File("vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(dir.File("merges.txt"), "#version: 0.2\n" + string.Join("\n", merges) + "\n");
        return Qwen2Tokenizer.FromFolder(dir.Path);
    }

    [Fact]
    public void Every_occurrence_of_the_best_pair_merges_before_pairs_it_creates()
    {
        // "ab a" is listed first (rank 0) although "ab" only exists after "a b" (rank 1). The reference merges
        // all "a b" in "abab" first → [ab, ab], and no (ab, ab) merge exists. A heap that applied the new
        // (ab, a) pair as soon as it appeared would give [aba, b] instead.
        using var dir = TestData.TempDir();
        var tok = Build(dir, ["ab", "aba"], ["ab a", "a b"]);
        Assert.Equal([256, 256], tok.Encode("abab"));
        Assert.Equal([256, 256], tok.Bpe.MergeLong("abab"u8));
        Assert.Equal([256, 256], tok.Bpe.MergeShort("abab"u8));
    }

    [Fact]
    public void Overlapping_occurrences_merge_left_to_right()
    {
        // "aaa" with "a a": the left pair merges, the right one is then gone → [aa, a]; "aaaa" → [aa, aa].
        using var dir = TestData.TempDir();
        var tok = Build(dir, ["aa"], ["a a"]);
        Assert.Equal([256, 97], tok.Encode("aaa"));
        Assert.Equal([256, 256], tok.Encode("aaaa"));
        byte[] long41 = Encoding.ASCII.GetBytes(new string('a', 41));
        int[] expected = [.. Enumerable.Repeat(256, 20), 97];
        Assert.Equal(expected, tok.Bpe.MergeLong(long41));
        Assert.Equal(expected, tok.Encode(new string('a', 41)));
    }

    [Fact]
    public void A_repeated_merge_line_takes_its_last_rank()
    {
        // The reference builds its ranks with dict(zip(merges, range(n))): a repeated pair keeps the later rank.
        // "b c" at 0 and 2, "a b" at 1: "abc" merges "a b" first (rank 1 < 2) → [ab, c].
        using var dir = TestData.TempDir();
        var tok = Build(dir, ["bc", "ab"], ["b c", "a b", "b c"]);
        Assert.Equal([257, 99], tok.Encode("abc"));
    }
}
