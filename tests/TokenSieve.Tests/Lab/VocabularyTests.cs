using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;

namespace TokenSieve.Tests.Lab;

public class VocabularyTests
{
    [Fact]
    public void LayoutFollowsLlama()
    {
        var p = LabVocabulary.Pieces;
        Assert.Equal(("<unk>", LabPieceKind.Unknown), (p[0].Piece, p[0].Kind));
        Assert.Equal(("<s>", LabPieceKind.Control), (p[1].Piece, p[1].Kind));
        Assert.Equal(("</s>", LabPieceKind.Control), (p[2].Piece, p[2].Kind));
        Assert.Equal("<0x0A>", p[13].Piece);
        Assert.Equal(LabPieceKind.Byte, p[258].Kind);
        Assert.Equal(p.Count, p.Select(x => x.Piece).Distinct().Count());
        Assert.Equal(p.Count, LabVocabulary.ImageTokenId);
        Assert.Equal(p.Count + 2, LabVocabulary.VocabSize);
        Assert.InRange(LabVocabulary.VocabSize, 300, 512);
    }

    [Fact]
    public void EveryLabTextIsWholeWords()
    {
        var texts = LabDataset.Suites.SelectMany(s => LabDataset.Suite(LabDataset.DefaultSeed, LabSplit.Validation, s.Name, 40)).Select(i => i.Question).ToList();
        foreach (var q in texts)
        {
            var ids = LabTokenizer.Encode(q.Text);
            Assert.DoesNotContain(ids, id => LabVocabulary.Pieces[id].Kind != LabPieceKind.Normal);
            // one piece per word, plus the question mark
            Assert.Equal(q.Text.Split(' ').Length + 1, ids.Count);
            Assert.Equal(q.Text, LabTokenizer.Decode(ids));
            var answer = LabPrompt.Answer(q.Answer);
            Assert.InRange(answer.Count, 2, 4); // 1–3 answer pieces and </s>
            Assert.Equal(q.Answer, LabTokenizer.Decode(answer));
        }
    }

    [Fact]
    public void PromptMatchesLlavaTokenisation()
    {
        var original = LabPrompt.Prompt("is there a red circle?", 3, LabPrompt.ImageSplitStyle.OriginalLlava);
        var special = LabPrompt.Prompt("is there a red circle?", 3, LabPrompt.ImageSplitStyle.SpecialToken);
        int img = LabVocabulary.ImageTokenId, sp = LabVocabulary.IdOf("▁"), nl = LabVocabulary.IdOf("<0x0A>");
        int[] head = [LabVocabulary.BosId, LabVocabulary.IdOf("▁USER"), LabVocabulary.IdOf(":"), sp, img, img, img];
        int[] tail = [nl, LabVocabulary.IdOf("is"), LabVocabulary.IdOf("▁there"), LabVocabulary.IdOf("▁a"), LabVocabulary.IdOf("▁red"),
            LabVocabulary.IdOf("▁circle"), LabVocabulary.IdOf("?"), LabVocabulary.IdOf("▁ASSISTANT"), LabVocabulary.IdOf(":")];
        // the original LLaVA encodes the chunk after <image> with a dummy prefix: "▁" on both sides
        Assert.Equal([.. head, sp, .. tail], original);
        Assert.Equal([.. head, .. tail], special);
    }

    [Fact]
    public void UnknownCharactersFallBackToBytes()
    {
        var ids = LabTokenizer.Encode("red é");
        Assert.Equal(LabVocabulary.IdOf("▁red"), ids[0]);
        Assert.Equal(LabVocabulary.FirstByteId + 0xC3, ids[^2]);
        Assert.Equal(LabVocabulary.FirstByteId + 0xA9, ids[^1]);
        Assert.Equal("red é", LabTokenizer.Decode(ids));
    }

    [Fact]
    public void ConversationSupervisesOnlyAnswers()
    {
        var turns = new[]
        {
            new LabQuestion(LabFamily.Counting, "objects", "how many objects are there?", "3"),
            new LabQuestion(LabFamily.Reading, "3digits", "what number is on the card?", "471"),
        };
        var seq = LabPrompt.Conversation(turns, 4, LabPrompt.ImageSplitStyle.OriginalLlava);
        Assert.Equal(4, seq.Tokens.Count(t => t == LabVocabulary.ImageTokenId));
        var expected = new[] { "▁3", "</s>", "▁4", "7", "1", "</s>" }.Select(LabVocabulary.IdOf);
        Assert.Equal(expected, seq.Targets);
        for (int i = 0; i < seq.Targets.Length; i++) Assert.Equal(seq.Targets[i], seq.Tokens[seq.TargetPositions[i] + 1]);
    }

    [Fact]
    public void TrainingSequencesFitTheContext()
    {
        var o = new TokenSieve.Lab.Training.LabTrainingOptions();
        int longest = Enumerable.Range(0, 500)
            .Select(i => LabPrompt.Conversation(LabDataset.TrainingConversation(o.Seed, i, o.TurnsPerConversation).Turns, o.Model.NumPatches, LabPrompt.ImageSplitStyle.OriginalLlava).Tokens.Length)
            .Max();
        Assert.InRange(longest, o.Model.NumPatches + 10, o.Model.MaxPositions);
    }
}
