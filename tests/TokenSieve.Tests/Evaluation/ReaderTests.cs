using TokenSieve.Evaluation;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Evaluation;

public class ReaderTests
{
    [Fact]
    public void Pope_PerSplitFiles_SkipsMalformedLinesWithLineNumbers()
    {
        using var dir = new TempDir();
        dir.File("ann/coco_pope_random.json",
            """
            {"question_id": 1, "image": "COCO_val2014_1.jpg", "text": "Is there a dog in the image?", "label": "yes"}
            {"question_id": 2, "image": "COCO_val2014_1.jpg", "text": "Is there a cat in the image?", "label": "no"}
            {"question_id": 3, "image": "COCO_val2014_2.jpg", "text": "Is there a car
            {"question_id": 4, "image": "COCO_val2014_2.jpg", "text": "Is there a car?", "label": "maybe"}

            """);
        dir.File("ann/coco_pope_popular.json",
            """
            {"question_id": 1, "image": "COCO_val2014_3.jpg", "text": "Is there a bus in the image?", "label": "no"}
            {"question_id": 2, "image": "COCO_val2014_3.jpg", "label": "no"}
            """);
        var ds = PopeReader.ReadFolder(Path.Combine(dir.Path, "ann"), "/imgs");
        Assert.Equal(TaskKind.Pope, ds.Kind);
        Assert.Equal(["popular/1", "random/1", "random/2"], ds.Items.Select(i => i.QuestionId));
        Assert.Equal(3, ds.Skipped);
        Assert.Contains(ds.Issues, i => i.File.EndsWith("coco_pope_random.json") && i.Line == 3);
        Assert.Contains(ds.Issues, i => i.File.EndsWith("coco_pope_random.json") && i.Line == 4 && i.Reason.Contains("maybe"));
        Assert.Contains(ds.Issues, i => i.File.EndsWith("coco_pope_popular.json") && i.Line == 2);
        var first = ds.Items[1];
        Assert.Equal("random", first.Category);
        Assert.Equal(Path.Combine("/imgs", "COCO_val2014_1.jpg"), first.ImagePath);
        Assert.Equal("Is there a dog in the image?\n" + Prompts.ShortAnswer, first.Prompt);
        Assert.Equal(["yes"], first.Answers);
    }

    [Fact]
    public void Pope_LlavaCombinedFile_UsesCategoryAndRawIds()
    {
        using var dir = new TempDir();
        string f = dir.File("llava_pope_test.jsonl",
            "{\"question_id\": 7, \"image\": \"a.jpg\", \"text\": \"Is there a dog in the image?\\nAnswer the question using a single word or phrase.\", \"label\": \"yes\", \"category\": \"adversarial\"}\n");
        var ds = PopeReader.ReadFile(f, "/imgs");
        var item = Assert.Single(ds.Items);
        Assert.Equal("7", item.QuestionId);
        Assert.Equal("adversarial", item.Category);
        Assert.Equal("Is there a dog in the image?", item.Question);
        Assert.Equal("Is there a dog in the image?\n" + Prompts.ShortAnswer, item.Prompt);   // suffix not doubled
    }

    [Fact]
    public void Gqa_ReadsObjectKeyedById()
    {
        using var dir = new TempDir();
        string f = dir.File("testdev_balanced_questions.json",
            """
            {"201": {"imageId": "n1", "question": "Is the sky blue?", "answer": "yes", "fullAnswer": "Yes, it is.", "types": {"structural": "verify"}},
             "202": {"imageId": "n2", "question": "What color is the car?"},
             "203": {"imageId": "n2", "question": "Which side is the car on?", "answer": "left", "types": {"structural": "query"}}}
            """);
        var ds = GqaReader.Read(f, "/gqa/images");
        Assert.Equal(["201", "203"], ds.Items.Select(i => i.QuestionId));
        Assert.Equal(1, ds.Skipped);
        Assert.Equal(2, ds.Issues[0].Line);
        Assert.Equal(Path.Combine("/gqa/images", "n1.jpg"), ds.Items[0].ImagePath);
        Assert.Equal("verify", ds.Items[0].Category);
        Assert.Throws<DatasetException>(() => GqaReader.Read(dir.File("bad.json", "{not json"), "/x"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TextVqa_OcrTokensOptional_AndRecorded(bool ocr)
    {
        using var dir = new TempDir();
        string answers = string.Join(",", Enumerable.Repeat("\"stop\"", 10));
        string f = dir.File("TextVQA_0.5.1_val.json",
            $$"""
            {"dataset_name": "textvqa", "data": [
              {"question_id": 34602, "image_id": "003a8ae2ef43b901", "question": "what does the sign say?", "answers": [{{answers}}], "ocr_tokens": ["STOP", "ALL WAY"]},
              {"question_id": 34603, "image_id": "003a8ae2ef43b901", "question": "what colour?", "answers": [{{answers}}]},
              {"question_id": 34604, "image_id": "x", "question": "no answers"}
            ]}
            """);
        var ds = TextVqaReader.Read(f, "/train_images", ocr);
        Assert.Equal(2, ds.Items.Count);
        Assert.Equal(1, ds.Skipped);
        Assert.Equal(ocr ? "true" : "false", ds.Settings["ocr_tokens"]);
        Assert.Equal(ocr
            ? "what does the sign say?\nReference OCR token: STOP, ALL WAY\n" + Prompts.ShortAnswer
            : "what does the sign say?\n" + Prompts.ShortAnswer, ds.Items[0].Prompt);
        Assert.Equal("what colour?\n" + Prompts.ShortAnswer, ds.Items[1].Prompt);   // no tokens → no OCR line
        Assert.Equal(10, ds.Items[0].Answers.Count);
        Assert.Equal("003a8ae2ef43b901", ds.Items[0].SourceId);
    }

    [Fact]
    public void Mme_BothFolderLayouts_AndTemplates()
    {
        using var dir = new TempDir();
        string root = Path.Combine(dir.Path, "MME_Benchmark_release_version");
        // Layout 1: images/ + questions_answers_YN/
        dir.Bytes("MME_Benchmark_release_version/artwork/images/10002.jpg", [1]);
        dir.File("MME_Benchmark_release_version/artwork/questions_answers_YN/10002.txt",
            "Is this artwork created by X? Please answer yes or no.\tYes\nIs this artwork created by Y? Please answer yes or no.\tNo\n");
        // Layout 2: side by side, one malformed line, one txt without image
        dir.Bytes("MME_Benchmark_release_version/code_reasoning/0020.png", [1]);
        dir.File("MME_Benchmark_release_version/code_reasoning/0020.txt",
            "Will the code print 3? Please answer yes or no.\tYes\njust one field\nWill it print 4? Please answer yes or no.\tPerhaps\n");
        dir.File("MME_Benchmark_release_version/code_reasoning/0099.txt", "Question?\tNo\n");
        var ds = MmeReader.ReadFolder(root);
        Assert.Equal(["artwork/10002.jpg#0", "artwork/10002.jpg#1", "code_reasoning/0020.png#0"], ds.Items.Select(i => i.QuestionId));
        Assert.Equal(3, ds.Skipped);
        Assert.Contains(ds.Issues, i => i.File.EndsWith("0020.txt") && i.Line == 2);
        Assert.Contains(ds.Issues, i => i.File.EndsWith("0020.txt") && i.Line == 3);
        Assert.Contains(ds.Issues, i => i.File.EndsWith("0099.txt") && i.Line == 1);
        var a = ds.Items[0];
        Assert.Equal("artwork/images/10002.jpg", a.SourceId);
        Assert.Equal("artwork/10002.jpg", a.Group);
        Assert.Equal("Is this artwork created by X? Please answer yes or no.\n" + Prompts.ShortAnswer, a.Prompt);
        Assert.Equal("Is this artwork created by X?\n" + Prompts.ShortAnswer, MmeReader.ReadFolder(root, PromptStyle.LmmsEval).Items[0].Prompt);

        // eval_tool templates: <subtask>.txt with image<TAB>question<TAB>answer
        string templates = Path.Combine(dir.Path, "Your_Results");
        dir.File("Your_Results/artwork.txt", "10002.jpg\tIs this artwork created by X? Please answer yes or no.\tYes\n10002.jpg\tbroken\n");
        var t = MmeReader.ReadTemplates(templates, root);
        Assert.Equal("artwork/10002.jpg#0", Assert.Single(t.Items).QuestionId);
        Assert.Equal(Path.Combine(root, "artwork", "images", "10002.jpg"), t.Items[0].ImagePath);
        Assert.Equal(2, Assert.Single(t.Issues).Line);
    }

    [Fact]
    public void ScienceQa_ProblemsJson_ImageOnly()
    {
        using var dir = new TempDir();
        string problems = dir.File("problems.json",
            """
            {"4": {"question": "Which is a mammal?", "choices": ["frog", "dog"], "answer": 1, "hint": "", "image": "image.png", "split": "test", "subject": "natural science"},
             "5": {"question": "Pick one", "choices": ["a", "b", "c"], "answer": 2, "hint": "Some context.", "image": "image.png", "split": "test", "subject": "language science"},
             "6": {"question": "No image", "choices": ["x", "y"], "answer": 0, "hint": "", "image": null, "split": "test"},
             "7": {"question": "Bad answer", "choices": ["x", "y"], "answer": 5, "image": "image.png", "split": "test"},
             "8": {"question": "Train", "choices": ["x", "y"], "answer": 0, "image": "image.png", "split": "train"}}
            """);
        string splits = dir.File("pid_splits.json", """{"test": ["4", "5", "6", "7", "404"], "train": ["8"]}""");
        var ds = ScienceQaReader.ReadProblems(problems, "/sqa/images/test", "test", splits);
        Assert.Equal(["4", "5"], ds.Items.Select(i => i.QuestionId));
        Assert.Equal(2, ds.Skipped);                 // answer index out of range, missing pid
        Assert.Equal("Which is a mammal?\nA. frog\nB. dog\n" + Prompts.OptionLetter, ds.Items[0].Prompt);
        Assert.Equal("Context: Some context.\nPick one\nA. a\nB. b\nC. c\n" + Prompts.OptionLetter, ds.Items[1].Prompt);
        Assert.Equal(["C"], ds.Items[1].Answers);
        Assert.Equal(Path.Combine("/sqa/images/test", "4", "image.png"), ds.Items[0].ImagePath);
        Assert.Equal(3, ScienceQaReader.ReadProblems(problems, "/x", "test", splits, imageOnly: false).Items.Count);
    }

    [Fact]
    public void ScienceQa_LlavaQuestionFile()
    {
        using var dir = new TempDir();
        string q = dir.File("llava_test_CQM-A.json",
            """
            [{"id": "4", "image": "4/image.png", "conversations": [{"from": "human", "value": "<image>\nContext: N/A\nWhich is a mammal?\nA. frog\nB. dog"}, {"from": "gpt", "value": "The answer is B."}]},
             {"id": "6", "conversations": [{"from": "human", "value": "No image\nA. x\nB. y"}, {"from": "gpt", "value": "A"}]},
             {"id": "9", "image": "9/image.png", "conversations": [{"from": "gpt", "value": "A"}]}]
            """);
        var ds = ScienceQaReader.ReadLlavaQuestions(q, "/sqa/images/test");
        var item = Assert.Single(ds.Items);
        Assert.Equal("Context: N/A\nWhich is a mammal?\nA. frog\nB. dog\n" + Prompts.OptionLetter, item.Prompt);
        Assert.Equal(["B"], item.Answers);
        Assert.Equal(["frog", "dog"], item.Choices);
        Assert.Equal(1, ds.Skipped);
    }

    [Fact]
    public void MmBench_Tsv_Base64Images_ReferencesQuotesAndRotations()
    {
        using var dir = new TempDir();
        string png = Convert.ToBase64String([0x89, 0x50, 0x4E, 0x47]);
        string tsv = dir.File("mmbench_dev.tsv",
            "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tl2-category\n" +
            $"0\tWhat colour?\tnan\tred\tgreen\tblue\tnan\tB\tcolor\t{png}\tattribute\n" +
            $"1\t\"Two\nlines, \"\"quoted\"\"\"\tA hint\tyes\tno\tnan\tnan\tA\tqa\t0\tattribute\n" +
            "2\tbroken row\tnan\tx\n" +
            "3\tbad image\tnan\tx\ty\tnan\tnan\tA\tqa\t@@@notbase64@@@\tattribute\n");
        var ds = MmBenchReader.Read(tsv);
        Assert.Equal(["0", "1"], ds.Items.Select(i => i.QuestionId));
        Assert.Equal(2, ds.Skipped);
        Assert.Contains(ds.Issues, i => i.Line == 5);   // the quoted field spans lines 3–4
        Assert.Contains(ds.Issues, i => i.Line == 6 && i.Reason.Contains("base64"));
        var q0 = ds.Items[0];
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, q0.ImageBytes!.Value.ToArray());
        Assert.Equal(["red", "green", "blue"], q0.Choices);
        Assert.Equal("What colour?\nA. red\nB. green\nC. blue\n" + Prompts.OptionLetter, q0.Prompt);
        var q1 = ds.Items[1];
        Assert.Equal("Two\nlines, \"quoted\"", q1.Question);
        Assert.Equal(q0.ImageBytes!.Value.ToArray(), q1.ImageBytes!.Value.ToArray());   // "0" refers to row 0's image
        Assert.Equal("A hint\nTwo\nlines, \"quoted\"\nA. yes\nB. no\n" + Prompts.OptionLetter, q1.Prompt);
        Assert.Equal("attribute", q1.Extra["l2-category"]);

        var rot = MmBenchReader.Read(tsv, generateRotations: true);
        Assert.Equal(["0", "1000000", "2000000", "1", "1000001"], rot.Items.Select(i => i.QuestionId));
        var r1 = rot.Items[1];
        Assert.Equal(["green", "blue", "red"], r1.Choices);
        Assert.Equal(["A"], r1.Answers);     // "green" moved from B to A
        Assert.Equal(["C"], rot.Items[2].Answers);
        Assert.Equal("0", r1.Group);
        Assert.Equal("generated", rot.Settings["rotations"]);
    }
}

public class BenchmarkDatasetsTests
{
    [Fact]
    public void Load_DispatchesByTaskName()
    {
        using var dir = new TempDir();
        string pope = dir.File("pope/coco_pope_random.json", "{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"Is there a dog?\", \"label\": \"no\"}\n");
        Assert.Equal(TaskKind.Pope, BenchmarkDatasets.Load("pope", Path.GetDirectoryName(pope)!, "/imgs").Kind);
        Assert.Equal("random/1", Assert.Single(BenchmarkDatasets.Load("POPE", pope, "/imgs").Items).QuestionId);
        string problems = dir.File("sqa/problems.json",
            """{"4": {"question": "Q", "choices": ["a", "b"], "answer": 0, "image": "image.png", "split": "test"}, "5": {"question": "Q", "choices": ["a", "b"], "answer": 0, "image": "image.png", "split": "test"}}""");
        dir.File("sqa/pid_splits.json", """{"test": ["5"]}""");
        Assert.Equal("5", Assert.Single(BenchmarkDatasets.Load("scienceqa", problems, "/imgs").Items).QuestionId);
        Assert.Throws<EvaluationException>(() => BenchmarkDatasets.Load("vqav9", pope, "/imgs"));
        Assert.Equal("a.jpg", BenchmarkDatasets.Load("pope", pope, null).Items[0].ImagePath);   // scoring needs no images
        Assert.Throws<DatasetException>(() => BenchmarkDatasets.Load("gqa", Path.Combine(dir.Path, "missing.json"), "/imgs"));
    }
}
