using System.Text.Json;
using TokenSieve.Models;
using TokenSieve.Pipeline;
using TokenSieve.Reduction;

namespace TokenSieve.Evaluation;

/// <summary>Where the visual tokens that reached the decoder's last layer came from, for position
/// statistics (METHODS.md §15.6): the tower's patch grid, each surviving token's source patches with
/// their merge weights (null for a token with none: [CLS], or a token a decoder pruner merged), and the
/// per-patch ranking signal when the method has one. Stored compactly on each results line.</summary>
public sealed record KeptSources(PatchGrid Grid, IReadOnlyList<TokenProvenance?> Tokens, float[]? Ranking = null, string? RankingStage = null)
{
    /// <summary>The surviving visual tokens of a run and the signal that ranked them: a vision-side
    /// method's own score per patch, else the first decoder stage's score mapped to the patches of
    /// single-patch tokens (NaN where no patch was scored).</summary>
    public static KeptSources From(RunReport r)
    {
        // Several images pool into one grid (each image's patches counted at their own positions).
        var spans = r.ImageSpans.Count > 0 ? r.ImageSpans : [(r.ImageStart, r.VisualTokens)];
        var tokens = new List<TokenProvenance?>();
        foreach (int origin in r.KeptPositions)
        {
            if (origin < 0) { tokens.Add(null); continue; } // a merged token a decoder pruner inserted
            int before = 0;
            foreach (var (start, count) in spans)
            {
                if (origin >= start && origin < start + count)
                {
                    tokens.Add(r.VisualSources[before + origin - start] is { IsClassToken: false } p ? p : null);
                    break;
                }
                before += count;
            }
        }
        float[]? ranking = null;
        string? stage = null;
        if (r.ReductionResult?.Scores is { } vision)
        {
            ranking = vision;
            stage = "vision";
        }
        else if (r.DecoderRankings.Count > 0)
        {
            var first = r.DecoderRankings[0];
            ranking = new float[r.Grid.Patches];
            ranking.AsSpan().Fill(float.NaN);
            for (int i = 0; i < first.VisualIndices.Length; i++)
                if (first.VisualIndices[i] >= 0 && r.VisualSources[first.VisualIndices[i]] is { Patches.Length: 1 } p) ranking[p.Patches[0]] = first.Scores[i];
            stage = $"decoder layer {first.Layer}";
        }
        return new KeptSources(r.Grid, tokens, ranking, stage);
    }

    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartArray("grid");
        w.WriteNumberValue(Grid.Height);
        w.WriteNumberValue(Grid.Width);
        w.WriteEndArray();
        w.WriteStartArray("tokens");
        foreach (var t in Tokens)
        {
            if (t is null) w.WriteNullValue();
            else if (t.Patches.Length == 1 && t.Weights[0] == 1f) w.WriteNumberValue(t.Patches[0]);
            else
            {
                w.WriteStartObject();
                w.WriteStartArray("p");
                foreach (int p in t.Patches) w.WriteNumberValue(p);
                w.WriteEndArray();
                w.WriteStartArray("w");
                foreach (float x in t.Weights) w.WriteNumberValue(Math.Round((double)x, 6));
                w.WriteEndArray();
                w.WriteEndObject();
            }
        }
        w.WriteEndArray();
        if (Ranking is not null)
        {
            w.WriteString("ranking_stage", RankingStage);
            w.WriteStartArray("ranking");
            foreach (float x in Ranking)
                if (float.IsFinite(x)) w.WriteNumberValue(double.Parse(x.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture));
                else w.WriteNullValue();
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>Reads the "kept" object of a results line; null when it is absent or malformed (older
    /// files have none).</summary>
    public static KeptSources? Read(JsonElement o)
    {
        try
        {
            var g = o.GetProperty("grid");
            var grid = new PatchGrid(g[0].GetInt32(), g[1].GetInt32());
            var tokens = new List<TokenProvenance?>();
            foreach (var t in o.GetProperty("tokens").EnumerateArray())
                tokens.Add(t.ValueKind switch
                {
                    JsonValueKind.Null => null,
                    JsonValueKind.Number => TokenProvenance.Single(t.GetInt32()),
                    _ => new TokenProvenance(t.GetProperty("p").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                        t.GetProperty("w").EnumerateArray().Select(x => x.GetSingle()).ToArray()),
                });
            float[]? ranking = o.TryGetProperty("ranking", out var r) && r.ValueKind == JsonValueKind.Array
                ? r.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number ? x.GetSingle() : float.NaN).ToArray() : null;
            string? stage = o.TryGetProperty("ranking_stage", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            if (tokens.Any(t => t is not null && t.Patches.Any(p => (uint)p >= (uint)grid.Patches)) || ranking is not null && ranking.Length != grid.Patches) return null;
            return new KeptSources(grid, tokens, ranking, stage);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
