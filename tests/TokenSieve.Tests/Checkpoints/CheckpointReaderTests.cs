using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Checkpoints;

public sealed class CheckpointReaderTests
{
    static readonly string[] FolderFiles = ["config.json", "preprocessor_config.json", "generation_config.json"];

    /// <summary>Copies the tiny fixture's config files into a temp folder and writes the weights with
    /// <paramref name="write"/> (which receives every tensor as float32).</summary>
    static TempDir CopyTiny(Action<TempDir, IReadOnlyDictionary<string, TensorData>> write)
    {
        var dir = TestData.TempDir();
        foreach (var f in FolderFiles) File.Copy(Path.Combine(TestData.LlavaTiny, f), dir.File(f));
        using var src = SafetensorsFile.Open(Path.Combine(TestData.LlavaTiny, "model.safetensors"));
        write(dir, src.Names.ToDictionary(n => n, src.Get));
        return dir;
    }

    static float[] LastLogits(string folder, ModelLoadOptions? options = null)
    {
        using var model = LlavaModel.Load(folder, options);
        using var golden = new Golden(TestData.LlavaTiny);
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        var features = model.Vision.Forward(session.Compute, golden.Tensor("preprocess.image.pixel_values"));
        var visual = session.Project(features.PatchFeatures, model.Config.Vision.NumPatches);
        int[] ids = golden.Ints("input_ids");
        var seq = session.Splice(ids, InferenceSession.FindImageSlot(ids, model.Config.ImageTokenIndex), visual, model.Config.Vision.NumPatches);
        return session.Prefill(seq, 0).LastLogits;
    }

    [Fact]
    public void Sharded_checkpoint_with_index_gives_the_same_logits()
    {
        var reference = LastLogits(TestData.LlavaTiny);
        using var dir = CopyTiny((d, tensors) =>
        {
            var names = tensors.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
            var map = new Dictionary<string, string>();
            for (int shard = 0; shard < 3; shard++)
            {
                string file = $"model-{shard + 1:00000}-of-00003.safetensors";
                var w = new SafetensorsWriter();
                foreach (var n in names.Where((_, i) => i % 3 == shard))
                {
                    w.Add(n, tensors[n].ToFloats(), tensors[n].Shape);
                    map[n] = file;
                }
                w.Write(d.File(file));
            }
            File.WriteAllText(d.File(CheckpointReader.IndexFile), JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
        });
        Assert.Equal(reference, LastLogits(dir.Path));
    }

    [Fact]
    public void Newer_transformers_tensor_names_are_accepted()
    {
        var reference = LastLogits(TestData.LlavaTiny);
        using var dir = CopyTiny((d, tensors) =>
        {
            var w = new SafetensorsWriter();
            foreach (var (name, t) in tensors)
            {
                string renamed = name
                    .Replace("language_model.model.", "model.language_model.")
                    .Replace("language_model.lm_head.", "lm_head.");
                if (renamed.StartsWith("vision_tower.") || renamed.StartsWith("multi_modal_projector.")) renamed = "model." + renamed;
                w.Add(renamed, t.ToFloats(), t.Shape);
            }
            w.Write(d.File("model.safetensors"));
        });
        Assert.Equal(reference, LastLogits(dir.Path));
    }

    [Fact]
    public void Index_naming_a_missing_shard_is_reported()
    {
        using var dir = CopyTiny((d, tensors) =>
            File.WriteAllText(d.File(CheckpointReader.IndexFile),
                JsonSerializer.Serialize(new { weight_map = new Dictionary<string, string> { [tensors.Keys.First()] = "model-00001-of-00002.safetensors" } })));
        var e = Assert.Throws<CheckpointException>(() => LlavaModel.Load(dir.Path));
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        using var dir = CopyTiny((d, tensors) =>
        {
            var w = new SafetensorsWriter();
            foreach (var (name, t) in tensors.Where(kv => kv.Key != TensorNames.FinalNorm)) w.Add(name, t.ToFloats(), t.Shape);
            w.Write(d.File("model.safetensors"));
        });
        var e = Assert.Throws<CheckpointException>(() => LlavaModel.Load(dir.Path));
        Assert.Equal(TensorNames.FinalNorm, e.Tensor);
    }

    [Fact]
    public void Tensor_with_the_wrong_shape_for_the_config_is_named()
    {
        string victim = TensorNames.LlmLayer(1) + "mlp.up_proj.weight";
        using var dir = CopyTiny((d, tensors) =>
        {
            var w = new SafetensorsWriter();
            foreach (var (name, t) in tensors)
            {
                if (name == victim) w.Add(name, new float[t.Shape[0] * (t.Shape[1] - 1)], [t.Shape[0], t.Shape[1] - 1]);
                else w.Add(name, t.ToFloats(), t.Shape);
            }
            w.Write(d.File("model.safetensors"));
        });
        var e = Assert.Throws<CheckpointException>(() => LlavaModel.Load(dir.Path));
        Assert.Equal(victim, e.Tensor);
        Assert.Contains("does not match the config", e.Message);
    }

    [Fact]
    public void Unexpected_tensor_is_an_error_unless_allowed()
    {
        using var dir = CopyTiny((d, tensors) =>
        {
            var w = new SafetensorsWriter();
            foreach (var (name, t) in tensors) w.Add(name, t.ToFloats(), t.Shape);
            w.Add("language_model.model.layers.7.mlp.up_proj.weight", [1f], [1]);
            w.Write(d.File("model.safetensors"));
        });
        var e = Assert.Throws<CheckpointException>(() => LlavaModel.Load(dir.Path));
        Assert.Contains("not used", e.Message);
        using var ok = LlavaModel.Load(dir.Path, new ModelLoadOptions { AllowUnexpectedTensors = true });
    }

    [Fact]
    public void Missing_model_folder_or_weights()
    {
        Assert.Throws<CheckpointException>(() => LlavaModel.Load("/nonexistent/folder"));
        using var dir = TestData.TempDir();
        File.Copy(Path.Combine(TestData.LlavaTiny, "config.json"), dir.File("config.json"));
        var e = Assert.Throws<CheckpointException>(() => LlavaModel.Load(dir.Path));
        Assert.Contains("model.safetensors", e.Message);
    }
}
