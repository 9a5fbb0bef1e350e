using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Lab.Training;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Checkpoints;

public sealed class SchemaTests
{
    [Fact]
    public void The_schema_names_exactly_the_tensors_of_the_fixture_checkpoint()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var schema = LlavaSchema.Tensors(model.Config.Vision, model.Config.Text, model.Config.ProjectorBias).ToList();
        Assert.Equal(model.Weights.Names.OrderBy(n => n, StringComparer.Ordinal), schema.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
        foreach (var t in schema) Assert.Equal(t.Shape, model.Weights.Get(t.Name).Shape);
        Assert.Equal(schema.Count, schema.Select(t => t.Name).Distinct().Count());
    }

    [Fact]
    public void Lab_parameters_and_synthetic_checkpoints_follow_the_schema()
    {
        var lab = LabModelConfig.Default;
        var llava = lab.ToLlava();
        var exported = new LabParameters(lab, clsHeadOutputs: 4).List.Where(p => p.Exported).ToList();
        var schema = LlavaSchema.Tensors(llava.Vision, llava.Text).ToList();
        Assert.Equal(schema.Select(t => t.Name), exported.Select(p => p.Name));
        Assert.Equal(schema.Select(t => t.Kind == TensorKind.Matrix), exported.Select(p => p.Decay));

        var shape = new SyntheticCheckpoint.Shape("t", new ClipVisionConfig(16, 32, 2, 2, 3, 28, 14, "quick_gelu", 1e-5f),
            new LlamaConfig(64, 16, 24, 2, 4, 2, "silu", 64, 1e-5f, 10000f, 1, 2, false), "test");
        using var dir = TestData.TempDir();
        SyntheticCheckpoint.Write(dir.Path, shape, DType.F32, seed: 1);
        using var m = LlavaModel.Load(dir.Path);
        Assert.Equal(LlavaSchema.Tensors(shape.Vision, shape.Text).Select(t => t.Name).Order(StringComparer.Ordinal), m.Weights.Names.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_config_writer_reads_back_to_the_same_config_without_defaults()
    {
        var llava = LabModelConfig.Default.ToLlava() with { ProjectorBias = false };
        foreach (var dtype in new[] { DType.F32, DType.F16 })
        {
            using var doc = JsonDocument.Parse(LlavaConfigWriter.ToJson(llava, dtype));
            var back = LlavaConfig.Parse(doc.RootElement, "config.json");
            Assert.Equal(llava.Vision, back.Vision);
            Assert.Equal(llava.Text, back.Text);
            Assert.Equal((llava.ImageTokenIndex, llava.PadTokenId, llava.VisionFeatureLayer, llava.VisionFeatureSelectStrategy, llava.ProjectorBias),
                (back.ImageTokenIndex, back.PadTokenId, back.VisionFeatureLayer, back.VisionFeatureSelectStrategy, back.ProjectorBias));
            Assert.DoesNotContain(back.Defaulted, k => !k.Contains("rope_scaling") && !k.Contains("head_dim"));
        }
    }
}
