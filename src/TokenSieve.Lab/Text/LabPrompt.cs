using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Training;

namespace TokenSieve.Lab.Text;

/// <summary>Token sequences in llava-hf's chat format, "USER: &lt;image&gt;\n{question} ASSISTANT:",
/// with the image placeholder expanded to one &lt;image&gt; id per patch. Two tokenisations of the
/// text around the image exist in practice (REFERENCE §3.3): the original LLaVA encodes the chunks
/// on either side of &lt;image&gt; separately, so the second chunk gets a dummy-prefix "▁" before
/// "\n"; encoding the whole string with &lt;image&gt; as a special token does not. The trainer uses
/// both (<see cref="ImageSplitStyle"/>), so the model answers either way.</summary>
public static class LabPrompt
{
    public enum ImageSplitStyle { OriginalLlava, SpecialToken }

    /// <summary>The prompt up to and including "ASSISTANT:", ready for generation.</summary>
    public static List<int> Prompt(string question, int imageTokens, ImageSplitStyle style = ImageSplitStyle.OriginalLlava)
    {
        var ids = new List<int> { LabVocabulary.BosId };
        ids.AddRange(LabTokenizer.Encode("USER: "));
        for (int i = 0; i < imageTokens; i++) ids.Add(LabVocabulary.ImageTokenId);
        ids.AddRange(LabTokenizer.Encode("\n" + question + " ASSISTANT:", addDummyPrefix: style == ImageSplitStyle.OriginalLlava));
        return ids;
    }

    /// <summary>Answer tokens as generated after "ASSISTANT:" (a leading "▁"), then &lt;/s&gt;.</summary>
    public static List<int> Answer(string answer)
    {
        var ids = LabTokenizer.Encode(answer);
        ids.Add(LabVocabulary.EosId);
        return ids;
    }

    /// <summary>A multi-turn training sequence in the Vicuna-v1 layout LLaVA trains with:
    /// "USER: &lt;image&gt;\nQ1 ASSISTANT: A1&lt;/s&gt;USER: Q2 ASSISTANT: A2&lt;/s&gt;…"; only answer
    /// tokens and their &lt;/s&gt; are supervised.</summary>
    public static LabSequence Conversation(IReadOnlyList<LabQuestion> turns, int imageTokens, ImageSplitStyle style)
    {
        var tokens = new List<int>();
        var positions = new List<int>();
        var targets = new List<int>();
        for (int i = 0; i < turns.Count; i++)
        {
            if (i == 0) tokens.AddRange(Prompt(turns[0].Text, imageTokens, style));
            else tokens.AddRange(LabTokenizer.Encode("USER: " + turns[i].Text + " ASSISTANT:"));
            foreach (int id in Answer(turns[i].Answer))
            {
                positions.Add(tokens.Count - 1);
                targets.Add(id);
                tokens.Add(id);
            }
        }
        return new LabSequence(tokens.ToArray(), positions.ToArray(), targets.ToArray());
    }
}
