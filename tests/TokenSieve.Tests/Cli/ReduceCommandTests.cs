using TokenSieve.Checkpoints;
using TokenSieve.Cli;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>`tokensieve reduce` on the official PruMerge golden (fixtures/prumerge): identical kept
/// indices in the reference order and outputs within 1e-4 of the tensor's max magnitude.</summary>
[Collection("console")]
public sealed class ReduceCommandTests
{
    static string WriteInputs(Golden g, TempDir dir, string @case, bool poison = false)
    {
        var features = g.Tensor($"{@case}.inputs.image_features");
        if (poison) features[17] = float.NaN;
        string path = dir.File("in.safetensors");
        new SafetensorsWriter()
            .Add("image_features", features, g.Shape($"{@case}.inputs.image_features"))
            .Add("q", g.Tensor($"{@case}.inputs.q"), g.Shape($"{@case}.inputs.q"))
            .Add("k", g.Tensor($"{@case}.inputs.k"), g.Shape($"{@case}.inputs.k"))
            .Write(path);
        return path;
    }

    [Theory]
    [InlineData("case0", "prumerge", "prumerge")]
    [InlineData("case1", "prumerge+", "prumerge_plus")]
    [InlineData("case2", "prumerge:ratio=0.125", "prumerge_fixed")]
    public void Reduce_reproduces_the_official_prumerge_golden(string @case, string spec, string variant)
    {
        using var g = new Golden(TestData.Path("prumerge"));
        using var dir = TestData.TempDir();
        string input = WriteInputs(g, dir, @case);
        Assert.Equal(0, CliApp.Run("reduce", "--method", spec, "--in", input, "--out", dir.File("out.safetensors")));
        using var result = SafetensorsFile.Open(dir.File("out.safetensors"));
        Assert.Equal(g.Tensor($"{@case}.{variant}.kept_idx"), result.Get("kept_indices").ToFloats());
        Assert.Equal(g.Shape($"{@case}.{variant}.output"), result.Get("features").Shape);
        Compare.Relative(g.Tensor($"{@case}.{variant}.output"), result.Get("features").ToFloats(), 1e-4, $"{@case}.{variant}.output");
    }


    [Theory]
    [InlineData("random:0", "budget")]
    [InlineData("random:9999", "9999")]
    [InlineData("pool:abc", "abc")]
    [InlineData("fancy:64", "fancy")]
    [InlineData("prumerge:colour=red", "colour")]
    public void Bad_specs_are_clear_errors(string spec, string mention)
    {
        using var g = new Golden(TestData.Path("prumerge"));
        using var dir = TestData.TempDir();
        string input = WriteInputs(g, dir, "case0");
        var (rc, _, err) = CliCapture.Run("reduce", "--method", spec, "--in", input, "--out", dir.File("out.safetensors"));
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains(mention, err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void NaN_in_the_inputs_names_the_tensor()
    {
        using var g = new Golden(TestData.Path("prumerge"));
        using var dir = TestData.TempDir();
        string input = WriteInputs(g, dir, "case0", poison: true);
        var (rc, _, err) = CliCapture.Run("reduce", "--method", "prumerge", "--in", input, "--out", dir.File("out.safetensors"));
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("Features", err);
    }

    [Fact]
    public void Missing_q_k_for_prumerge_is_named()
    {
        using var dir = TestData.TempDir();
        new SafetensorsWriter().Add("image_features", new float[16 * 8], [16, 8]).Write(dir.File("in.safetensors"));
        var (rc, _, err) = CliCapture.Run("reduce", "--method", "prumerge", "--in", dir.File("in.safetensors"), "--out", dir.File("o.safetensors"));
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("LastLayerQueries", err);
    }
}
