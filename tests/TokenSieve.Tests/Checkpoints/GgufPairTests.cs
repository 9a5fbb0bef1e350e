using System.Diagnostics;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;
using TokenSieve.Text;
using Xunit.Abstractions;

namespace TokenSieve.Tests.Checkpoints;

/// <summary>Running a model from llama.cpp's LLaVA-1.5 pair (language-model GGUF + mmproj GGUF): the pair is written
/// from the llava-tiny fixture by <see cref="ModelExport.ExportLlamaCpp"/>, loaded with
/// <see cref="LlavaModel.LoadGgufPair"/>, and must answer as the folder does; the tokenizer from
/// <c>tokenizer.ggml.*</c> must give tokenizer.model's ids; bad pairs fail with typed errors naming file and key or tensor.</summary>
public sealed unsafe class GgufPairTests(ITestOutputHelper output)
{
    const string F16File = "model.f16.safetensors";

    static (int[] Tokens, List<float[]> Logits) Answer(LlavaModel model)
    {
        var pipeline = new LlavaPipeline(model, new ComputeContext(2));
        var tokenizer = model.CreateTokenizer();
        var prompt = LlavaPrompt.Build(tokenizer, ChatTemplate.VicunaV1, "What is in the image?", model.Config.ImageTokenIndex);
        var image = ImageDecoder.Load(Path.Combine(TestData.LlavaTiny, "image.png"));
        var result = pipeline.Run(image, prompt.Ids, prompt.ImageSlot, new RunOptions
        {
            Generation = new GenerationOptions { MaxNewTokens = 8, KeepStepLogits = true, EosTokenId = -1 },
        });
        return (result.Tokens, result.Generation.StepLogits!);
    }

    /// <summary>The folder and the pair hold the same numbers in each case (F32: the fixture's float32 weights; F16:
    /// the fixture's F16 file, which the pair copies as stored; Q8_0: the language model quantised from the F16 file by
    /// the same reference quantiser at load and in the writer, vision tower and projector F16 in both), so the only
    /// differences are the order in which q/k outputs are produced (the pair's rows are interleaved and scattered back)
    /// and where rows fall in the GEMM's tiles — float32 rounding, far below the 1e-3 bound. Greedy ids must be equal.</summary>
    [Theory]
    [InlineData("f32", 1e-3)]
    [InlineData("f16", 1e-3)]
    [InlineData("q8_0", 1e-3)]
    public void The_pair_answers_as_the_folder_does(string type, double maxLogitDiff)
    {
        using var dir = TestData.TempDir();
        DType lmType = type switch { "f32" => DType.F32, "f16" => DType.F16, _ => DType.Q8_0 };
        string? weightsFile = lmType == DType.F32 ? null : F16File;
        var (lmPath, mmprojPath) = ModelExport.ExportLlamaCpp(TestData.LlavaTiny, dir.File("gguf"), lmType, weightsFile,
            projectorType: lmType == DType.F32 ? DType.F32 : DType.F16);

        var sw = Stopwatch.StartNew();
        using var pair = LlavaModel.LoadGgufPair(lmPath, mmprojPath);
        double loadMs = sw.Elapsed.TotalMilliseconds;
        using var folder = LlavaModel.Load(TestData.LlavaTiny, new ModelLoadOptions { WeightsFile = weightsFile, WeightType = lmType == DType.Q8_0 ? DType.Q8_0 : null });

        // Weights stay as stored and memory-mapped: the decoder's q_proj is the GGUF's own bytes (interleaved rows).
        Assert.Equal(lmType, pair.WeightType);
        using (var lm = GgufFile.Open(lmPath))
        {
            var q = pair.Weights.Get(TensorNames.LlamaLayer(0).Q + "weight");
            Assert.Equal(lmType, q.DType);
            Assert.Equal(lm.Get("blk.0.attn_q.weight").ByteLength, q.ByteLength);
            Assert.Same(pair.Weights.Gguf, q.Owner);
        }
        Assert.Equal(folder.Config.ImageTokenIndex, pair.Config.ImageTokenIndex);
        Assert.Equal(folder.Config.VisionLayersToRun, pair.Config.VisionLayersToRun);

        var a = Answer(folder);
        var b = Answer(pair);
        double maxDiff = 0, maxMag = 0;
        Assert.Equal(a.Logits.Count, b.Logits.Count);
        for (int s = 0; s < a.Logits.Count; s++)
            for (int i = 0; i < a.Logits[s].Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(a.Logits[s][i] - b.Logits[s][i]));
                maxMag = Math.Max(maxMag, Math.Abs(a.Logits[s][i]));
            }
        output.WriteLine($"{type}: pair load {loadMs:F1} ms; greedy ids equal: {a.Tokens.SequenceEqual(b.Tokens)} ({string.Join(",", b.Tokens)}); max |Δlogit| {maxDiff:G3} over {a.Logits.Count} steps (max |logit| {maxMag:G3})");
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.True(maxDiff <= maxLogitDiff, $"max |Δlogit| {maxDiff} > {maxLogitDiff}");
    }

    public static TheoryData<string> Prompts => new()
    {
        "What is in the image?",
        "USER: <image>\nDescribe the picture. ASSISTANT:",
        "  leading and  double  spaces, trailing ",
        "Digits 12345 and punctuation: (a-b); it's!",
        "naïve café — 東京 🙂",
        "",
    };

    [Theory]
    [MemberData(nameof(Prompts))]
    public void The_tokenizer_from_gguf_metadata_encodes_as_tokenizer_model(string text)
    {
        using var dir = TestData.TempDir();
        var (lmPath, _) = ModelExport.ExportLlamaCpp(TestData.LlavaTiny, dir.File("gguf"), DType.F32);
        using var lm = GgufFile.Open(lmPath);
        var fromGguf = LlavaModel.TokenizerFor(LlamaCppPair.Vocabulary(lm));
        var fromModel = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        Assert.Equal(fromModel.Encode(text), fromGguf.Encode(text));
        Assert.Equal(fromModel.EncodeWithSpecialTokens(text), fromGguf.EncodeWithSpecialTokens(text));
        var ids = fromModel.Encode(text);
        Assert.Equal(fromModel.Decode(ids), fromGguf.Decode(ids));
        Assert.Equal((fromModel.BosId, fromModel.EosId, fromModel.UnkId, fromModel.PadId), (fromGguf.BosId, fromGguf.EosId, fromGguf.UnkId, fromGguf.PadId));
    }

    /// <summary>A llava-hf vocabulary: tokenizer.model's pieces, then added_tokens.json's tokens (user-defined, as
    /// llama.cpp's converter stores them) and the converter's [PADn] fillers. The added tokens are special tokens, the
    /// fillers are nothing, and the image slot takes &lt;image&gt;'s id.</summary>
    [Fact]
    public void Added_tokens_are_special_and_converter_padding_is_dropped()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>", "▁", "a", "b", "▁a" };
        var types = new List<int> { 2, 3, 3, 1, 1, 1, 1 };
        tokens.AddRange(["<image>", "<pad>", "[PAD9]", "[PAD10]"]);
        types.AddRange([4, 4, 4, 4]);
        var v = new GgufVocabulary(tokens, tokens.Select((_, i) => -(float)i).ToArray(), types, 1, 2, 0, 8);
        var t = LlavaModel.TokenizerFor(v);
        Assert.Equal(new Dictionary<string, int> { ["<image>"] = 7, ["<pad>"] = 8 }, t.SpecialTokens);
        Assert.Equal([1, 6, 7, 3, 5], t.EncodeWithSpecialTokens("a<image> b"));
        Assert.Equal(8, t.PadId);
    }

    // ------------------------------------------------------------------ bad pairs

    /// <summary>Rewrites a GGUF with its metadata and tensors changed by <paramref name="edit"/> (tensors copied as stored).</summary>
    static void Rewrite(string source, string destination, Action<Dictionary<string, object>>? metadata = null, Func<string, bool>? keepTensor = null)
    {
        using var f = GgufFile.Open(source);
        var meta = new Dictionary<string, object>(f.Metadata, StringComparer.Ordinal);
        metadata?.Invoke(meta);
        var w = new GgufWriter();
        foreach (var (k, v) in meta)
            _ = v switch
            {
                string s => w.Add(k, s),
                bool b => w.Add(k, b),
                long l => l is >= 0 and <= uint.MaxValue ? w.Add(k, (uint)l) : w.Add(k, (int)l),
                double d => w.Add(k, (float)d),
                string[] a => w.Add(k, a),
                double[] a => w.Add(k, a.Select(x => (float)x).ToArray()),
                long[] a => w.Add(k, a.Select(x => (int)x).ToArray()),
                _ => throw new InvalidOperationException($"{k}: {v.GetType()}"),
            };
        foreach (var name in f.TensorOrder)
            if (keepTensor?.Invoke(name) ?? true) w.AddTensor(name, f.Get(name), f.Get(name).DType);
        w.Write(destination);
    }

    sealed class BadPair : IDisposable
    {
        readonly TempDir _dir = TestData.TempDir();
        public string Lm { get; }
        public string Mmproj { get; }

        public BadPair()
        {
            (Lm, Mmproj) = ModelExport.ExportLlamaCpp(TestData.LlavaTiny, _dir.File("gguf"), DType.F32, projectorType: DType.F32);
        }

        public string Edit(string file, Action<Dictionary<string, object>>? metadata = null, Func<string, bool>? keepTensor = null)
        {
            string path = _dir.File("edited-" + Path.GetFileName(file));
            Rewrite(file, path, metadata, keepTensor);
            return path;
        }

        public void Dispose() => _dir.Dispose();
    }

    [Theory]
    [InlineData("lm", "llama.block_count")]
    [InlineData("lm", "llama.attention.layer_norm_rms_epsilon")]
    [InlineData("lm", "tokenizer.ggml.tokens")]
    [InlineData("mmproj", "clip.vision.patch_size")]
    [InlineData("mmproj", "clip.vision.attention.layer_norm_epsilon")]
    public void A_missing_metadata_key_is_named_with_its_file(string which, string key)
    {
        using var p = new BadPair();
        string edited = p.Edit(which == "lm" ? p.Lm : p.Mmproj, m => m.Remove(key));
        var e = Assert.Throws<ConfigException>(() => which == "lm" ? LlavaModel.LoadGgufPair(edited, p.Mmproj) : LlavaModel.LoadGgufPair(p.Lm, edited));
        Assert.Equal(edited, e.File);
        Assert.Equal(key, e.Key);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void A_language_model_of_another_architecture_is_refused()
    {
        using var p = new BadPair();
        string edited = p.Edit(p.Lm, m => m["general.architecture"] = "qwen2");
        var e = Assert.Throws<ConfigException>(() => LlavaModel.LoadGgufPair(edited, p.Mmproj));
        Assert.Equal(("general.architecture", edited), (e.Key, e.File));
        Assert.Contains("'qwen2' is not 'llama'", e.Message);
        // The files swapped: the mmproj given as the language model.
        var swapped = Assert.Throws<ConfigException>(() => LlavaModel.LoadGgufPair(p.Mmproj, p.Lm));
        Assert.Contains("'clip' is not 'llama'", swapped.Message);
    }

    [Fact]
    public void A_projector_other_than_mlp_is_refused()
    {
        using var p = new BadPair();
        string edited = p.Edit(p.Mmproj, m => m["clip.projector_type"] = "ldpv2");
        var e = Assert.Throws<ConfigException>(() => LlavaModel.LoadGgufPair(p.Lm, edited));
        Assert.Equal(("clip.projector_type", edited), (e.Key, e.File));
        Assert.Contains("'ldpv2' is not supported", e.Message);
    }

    [Fact]
    public void A_tensor_shape_that_disagrees_with_the_metadata_names_file_and_tensor()
    {
        using var p = new BadPair();
        string edited = p.Edit(p.Lm, m => m["llama.feed_forward_length"] = 96L);
        var e = Assert.Throws<CheckpointException>(() => LlavaModel.LoadGgufPair(edited, p.Mmproj));
        Assert.Equal(("blk.0.ffn_gate.weight", edited), (e.Tensor, e.File));
        Assert.Contains("disagrees with the metadata", e.Message);

        string fewer = p.Edit(p.Mmproj, m => m["clip.vision.block_count"] = 2L);
        var extra = Assert.Throws<CheckpointException>(() => LlavaModel.LoadGgufPair(p.Lm, fewer));
        Assert.Equal(("v.blk.2.attn_q.weight", fewer), (extra.Tensor, extra.File));

        string missing = p.Edit(p.Lm, keepTensor: n => n != "blk.1.attn_v.weight");
        var gone = Assert.Throws<CheckpointException>(() => LlavaModel.LoadGgufPair(missing, p.Mmproj));
        Assert.Equal(("blk.1.attn_v.weight", missing), (gone.Tensor, gone.File));
    }

    /// <summary>clip.cpp's LLaVA features: the second-to-last stored layer's output by default (the fixture: 4 layers
    /// stored, 3 run — LLaVA's −2), or the hidden state <c>clip.vision.feature_layer</c> names; several are refused.</summary>
    [Fact]
    public void Clip_vision_feature_layer_picks_the_hidden_state()
    {
        using var p = new BadPair();
        using (var model = LlavaModel.LoadGgufPair(p.Lm, p.Mmproj)) Assert.Equal(3, model.Config.VisionLayersToRun);
        string last = p.Edit(p.Mmproj, m => m["clip.vision.feature_layer"] = new long[] { 4 });
        using (var model = LlavaModel.LoadGgufPair(p.Lm, last)) Assert.Equal(4, model.Config.VisionLayersToRun);
        string two = p.Edit(p.Mmproj, m => m["clip.vision.feature_layer"] = new long[] { 2, 4 });
        var e = Assert.Throws<ConfigException>(() => LlavaModel.LoadGgufPair(p.Lm, two));
        Assert.Equal(("clip.vision.feature_layer", two), (e.Key, e.File));
    }

    [Fact]
    public void An_unsupported_tensor_type_is_named()
    {
        using var p = new BadPair();
        var bytes = File.ReadAllBytes(p.Lm);
        const string tensor = "blk.0.ffn_up.weight";
        var name = System.Text.Encoding.UTF8.GetBytes(tensor);
        int at = -1;
        for (int i = 0; i + 8 + name.Length < bytes.Length && at < 0; i++)
            if (BitConverter.ToUInt64(bytes, i) == (ulong)name.Length && bytes.AsSpan(i + 8, name.Length).SequenceEqual(name)) at = i + 8 + name.Length;
        Assert.True(at > 0);
        int dims = BitConverter.ToInt32(bytes, at);
        BitConverter.GetBytes(3u).CopyTo(bytes, at + 4 + 8 * dims); // GGML type 3 = Q4_1
        string edited = Path.Combine(Path.GetDirectoryName(p.Lm)!, "q4_1.gguf");
        File.WriteAllBytes(edited, bytes);
        var e = Assert.Throws<CheckpointException>(() => LlavaModel.LoadGgufPair(edited, p.Mmproj));
        Assert.Equal((tensor, edited), (e.Tensor, e.File));
        Assert.Contains("tensor type Q4_1 is not supported", e.Message);
    }
}
