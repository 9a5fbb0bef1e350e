using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Checkpoints;

/// <summary>llama.cpp's LLaVA-1.5 pair written from the parity fixture and read back: metadata from config.json,
/// the names of llama.cpp's converters, Q/K rows in llama.cpp's interleaved order, the same quantised bytes as
/// TokenSieve's own file, and the mmproj's layers and renamed MLP.</summary>
public sealed unsafe class LlamaCppExportTests
{
    static byte[] Row(TensorData t, int row)
    {
        long bytes = DTypes.ByteCount(t.DType, t.Shape[^1]);
        return new ReadOnlySpan<byte>((byte*)t.Pointer + row * bytes, (int)bytes).ToArray();
    }

    [Fact]
    public void The_pair_round_trips_metadata_names_interleaved_rows_and_quantised_bytes()
    {
        using var dir = TestData.TempDir();
        var config = LlavaConfig.Load(Path.Combine(TestData.LlavaTiny, "config.json"));
        var (lmPath, mmprojPath) = ModelExport.ExportLlamaCpp(TestData.LlavaTiny, dir.File("gguf"), DType.Q8_0);
        string ours = dir.File("ours");
        ModelExport.Quantize(TestData.LlavaTiny, ours, DType.Q8_0);

        using var lm = GgufFile.Open(lmPath);
        using var own = GgufFile.Open(Path.Combine(ours, QuantizedWeights.FileName));
        var t = config.Text;
        Assert.Equal("llama", lm.GetString("general.architecture"));
        Assert.Equal(t.NumHiddenLayers, lm.GetInteger("llama.block_count"));
        Assert.Equal(t.HiddenSize, lm.GetInteger("llama.embedding_length"));
        Assert.Equal(t.NumKeyValueHeads, lm.GetInteger("llama.attention.head_count_kv"));
        Assert.Equal(7, lm.GetInteger("general.file_type")); // GGML's MOSTLY_Q8_0
        Assert.Equal(t.VocabSize, lm.GetArray<string>("tokenizer.ggml.tokens").Length);

        foreach (var (gguf, hf) in LlamaCppLlava.LanguageModelNames(t))
        {
            var a = lm.Get(gguf);
            Assert.Equal(own.Get(hf).Shape, a.Shape);
            Assert.Equal(a.Shape.Length == 2 ? DType.Q8_0 : DType.F32, a.DType);
        }
        // attn_q / attn_k: GGUF row r is HF row map[r], byte for byte; the other matrices keep HF's order.
        var layer = TensorNames.LlamaLayer(0);
        foreach (var (gguf, hf, heads) in new[] { ("blk.0.attn_q.weight", layer.Q + "weight", t.NumAttentionHeads), ("blk.0.attn_k.weight", layer.K + "weight", t.NumKeyValueHeads) })
        {
            var a = lm.Get(gguf);
            var b = own.Get(hf);
            var map = LlamaCppLlava.InterleavedRows(a.Shape[0], heads);
            Assert.NotEqual(Enumerable.Range(0, map.Length), map);
            for (int r = 0; r < a.Shape[0]; r++) Assert.Equal(Row(b, map[r]), Row(a, r));
        }
        var v = lm.Get("blk.0.attn_v.weight");
        var vOwn = own.Get(layer.V + "weight");
        for (int r = 0; r < v.Shape[0]; r++) Assert.Equal(Row(vOwn, r), Row(v, r));

        using var mmproj = GgufFile.Open(mmprojPath);
        Assert.Equal("clip", mmproj.GetString("general.architecture"));
        // Every CLIP layer, as llama.cpp's converter stores them; clip.cpp's default feature layer is LLaVA's −2.
        Assert.Equal(config.Vision.NumHiddenLayers, mmproj.GetInteger("clip.vision.block_count"));
        Assert.True(mmproj.Contains($"v.blk.{config.Vision.NumHiddenLayers - 1}.attn_q.weight"));
        Assert.False(mmproj.Has("clip.vision.feature_layer"));
        Assert.False(mmproj.Contains("v.post_ln.weight"));
        var fc1 = own.Get(TensorNames.ClipLayer(0).Fc1 + "weight");
        var down = mmproj.Get("v.blk.0.ffn_down.weight");
        Assert.Equal(fc1.Shape, down.Shape);
        Assert.Equal(DType.F16, down.DType);
        Assert.Equal(DType.F32, mmproj.Get("v.blk.0.ln1.weight").DType);
    }
}
