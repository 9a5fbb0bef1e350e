using System.Buffers.Binary;
using System.Text;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Methods;
using TokenSieve.Reduction;

namespace TokenSieve.Fuzzing;

/// <summary>One generated input: the files to write (or the text to parse) and which entry point it
/// goes to.</summary>
public sealed record FuzzCase(string Variant, IReadOnlyList<(string Name, byte[] Bytes)> Files, string? Text = null)
{
    public long Size => Text is not null ? Encoding.UTF8.GetByteCount(Text) : Files.Sum(f => (long)f.Bytes.Length);
}

/// <summary>A class of inputs: its seed corpus, how a case is mutated from it, and the public
/// loading path it is fed to. Generation depends only on the random source, so a case is rebuilt
/// from (class, seed, index).</summary>
public abstract class FuzzTarget
{
    public abstract string Key { get; }
    public abstract string Title { get; }
    public abstract FuzzCase Generate(FuzzRandom r);

    /// <summary>Feeds the case to TokenSieve; returns normally when the input was accepted.</summary>
    public abstract void Run(FuzzCase c, string workDir);

    /// <summary>Prepares a worker's folder once (fixed files the case files go next to).</summary>
    public virtual void Prepare(string workDir) { }

    public static IReadOnlyList<FuzzTarget> All(string dataDir) =>
        [new SafetensorsTarget(), new ConfigTarget(dataDir), new ImageTarget(dataDir), new SpecTarget()];

    protected static void WriteFiles(string dir, FuzzCase c)
    {
        foreach (var (name, bytes) in c.Files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
    }
}

public sealed class SafetensorsTarget : FuzzTarget
{
    public override string Key => "safetensors";
    public override string Title => "safetensors files";

    readonly List<byte[]> _seeds = [];

    public SafetensorsTarget()
    {
        string tmp = Path.Combine(Path.GetTempPath(), "tokensieve-fuzz-seed-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(tmp);
        try
        {
            float[] V(int n) => Enumerable.Range(0, n).Select(i => i * 0.25f - 1f).ToArray();
            var writers = new[]
            {
                new SafetensorsWriter().Add("a", V(6), [2, 3]).Add("b", V(4), [4], DType.F16).Add("c", V(4), [1, 2, 2], DType.BF16).AddMetadata("format", "pt"),
                new SafetensorsWriter().Add("empty", [], [0, 4]).Add("w", V(6), [3, 2]).Add("s", [2f], []),
                new SafetensorsWriter().Add("model.layers.0.self_attn.q_proj.weight", V(64), [8, 8], DType.F16).Add("model.norm.weight", V(8), [8]),
                new SafetensorsWriter().Add("conv", V(48), [4, 3, 2, 2]).AddMetadata("format", "pt").AddMetadata("note", "x"),
            };
            for (int i = 0; i < writers.Length; i++)
            {
                string p = Path.Combine(tmp, $"{i}.safetensors");
                writers[i].Write(p);
                _seeds.Add(File.ReadAllBytes(p));
            }
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    public override FuzzCase Generate(FuzzRandom r)
    {
        if (r.Chance(0.15))
        {
            // Sharded: an index and two shards; one of them is mutated.
            string index = """{"metadata":{"total_size":100},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors","w":"model-00002-of-00002.safetensors","empty":"model-00002-of-00002.safetensors"}}""";
            byte[] idx = Encoding.UTF8.GetBytes(index), s1 = _seeds[0], s2 = _seeds[1];
            switch (r.Next(3))
            {
                case 0: idx = r.Chance(0.8) ? JsonMutator.Mutate(idx, r) : ByteMutator.Mutate(idx, r); break;
                case 1: s1 = MutateFile(s1, r); break;
                default: s2 = MutateFile(s2, r); break;
            }
            return new FuzzCase("index", [(CheckpointReader.IndexFile, idx), ("model-00001-of-00002.safetensors", s1), ("model-00002-of-00002.safetensors", s2)]);
        }
        return new FuzzCase("single", [(CheckpointReader.SingleFile, MutateFile(r.Pick(_seeds), r))]);
    }

    byte[] MutateFile(byte[] file, FuzzRandom r)
    {
        if (r.Chance(0.25)) return ByteMutator.Mutate(file, r, _seeds);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        byte[] header = file.AsSpan(8, (int)headerLength).ToArray();
        byte[] data = file.AsSpan(8 + (int)headerLength).ToArray();
        header = JsonMutator.Mutate(header, r);
        if (r.Chance(0.1)) data = data.AsSpan(0, r.Next(data.Length + 1)).ToArray();
        else if (r.Chance(0.05)) data = [.. data, .. new byte[r.Next(1, 64)]];
        ulong length = (ulong)header.Length;
        if (r.Chance(0.08)) length = (ulong)r.Pick(ByteMutator.InterestingInts);
        byte[] result = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, length);
        header.CopyTo(result, 8);
        data.CopyTo(result, 8 + header.Length);
        return result;
    }

    public override void Run(FuzzCase c, string workDir)
    {
        foreach (var f in Directory.GetFiles(workDir)) File.Delete(f);
        WriteFiles(workDir, c);
        using var reader = CheckpointReader.Open(workDir);
        foreach (var name in reader.Names.ToList())
        {
            var t = reader.Get(name);
            long n = t.ElementCount;
            if (n <= 1 << 20) t.ToFloats();
            if (t.Shape.Length >= 2)
            {
                var m = t.AsMatrix();
                var row = new float[m.Cols];
                m.ReadRow(0, row);
            }
        }
    }
}

public sealed class ConfigTarget(string dataDir) : FuzzTarget
{
    public override string Key => "config";
    public override string Title => "config.json";

    readonly byte[][] _model = [File.ReadAllBytes(Path.Combine(dataDir, "llava-tiny", "config.json")), File.ReadAllBytes(Path.Combine(dataDir, "llava-tiny", "config.full.json"))];
    readonly byte[] _preprocessor = File.ReadAllBytes(Path.Combine(dataDir, "llava-tiny", "preprocessor_config.json"));
    readonly RgbImage _image = ImageDecoder.Load(Path.Combine(dataDir, "llava-tiny", "image.png"));
    readonly RgbImage _thin = new(2, 300, (50, 60, 70));

    public override void Prepare(string workDir) =>
        File.Copy(Path.Combine(dataDir, "llava-tiny", "model.safetensors"), Path.Combine(workDir, "model.safetensors"), overwrite: true);

    public override FuzzCase Generate(FuzzRandom r)
    {
        bool model = r.Chance(0.75);
        byte[] seed = model ? r.Pick(_model) : _preprocessor;
        byte[] bytes = r.Chance(0.85) ? JsonMutator.Mutate(seed, r) : ByteMutator.Mutate(seed, r, _model);
        return new FuzzCase(model ? "config.json" : "preprocessor_config.json", [(model ? "config.json" : "preprocessor_config.json", bytes)]);
    }

    public override void Run(FuzzCase c, string workDir)
    {
        WriteFiles(workDir, c);
        if (c.Variant == "config.json")
        {
            using var model = LlavaModel.Load(workDir);
            _ = LlavaModel.ExpectedTensorNames(model.Config).Count;
        }
        else
        {
            var processor = ImageProcessor.FromFile(Path.Combine(workDir, "preprocessor_config.json"));
            processor.Preprocess(_image, AspectMode.Pad);
            processor.Preprocess(_thin, AspectMode.Crop);
        }
    }
}

public sealed class ImageTarget : FuzzTarget
{
    public override string Key => "images";
    public override string Title => "images (PNG, JPEG, GIF, BMP, TGA)";

    readonly List<byte[]> _seeds = [];
    readonly ImageProcessor _processor = new(ImageProcessorConfig.Default);

    public ImageTarget(string dataDir)
    {
        foreach (var f in Directory.GetFiles(Path.Combine(dataDir, "images")).Order(StringComparer.Ordinal))
            if (!f.EndsWith(".ref.png", StringComparison.Ordinal) && !f.EndsWith("arith.jpg", StringComparison.Ordinal)) _seeds.Add(File.ReadAllBytes(f));
        _seeds.Add(File.ReadAllBytes(Path.Combine(dataDir, "llava-tiny", "image_extra0.png")));
        var noise = new RgbImage(13, 7);
        for (int i = 0; i < noise.Pixels.Length; i++) noise.Pixels[i] = (byte)(i * 37 + 11);
        _seeds.Add(Bmp24(noise));
        _seeds.Add(Bmp8(noise));
        _seeds.Add(Tga24(noise));
        _seeds.Add(PngEncoder.Encode(new RgbImage(1, 40, (9, 99, 199))));
    }

    public IReadOnlyList<byte[]> Seeds => _seeds;

    public override FuzzCase Generate(FuzzRandom r)
    {
        byte[] bytes = ImageMutator.Mutate(r.Pick(_seeds), r, _seeds);
        return new FuzzCase(r.Chance(0.7) ? "pad" : "crop", [("image", bytes)]);
    }

    public override void Run(FuzzCase c, string workDir)
    {
        var image = ImageDecoder.Decode(c.Files[0].Bytes, "fuzz-image");
        _processor.Preprocess(image, c.Variant == "pad" ? AspectMode.Pad : AspectMode.Crop);
    }

    /// <summary>A bottom-up 24-bit BITMAPINFOHEADER BMP.</summary>
    public static byte[] Bmp24(RgbImage image)
    {
        int stride = (image.Width * 3 + 3) & ~3;
        var b = new byte[54 + stride * image.Height];
        Header(b, image.Width, image.Height, 24, 54);
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, bl) = image[x, image.Height - 1 - y];
                int o = 54 + y * stride + x * 3;
                b[o] = bl;
                b[o + 1] = g;
                b[o + 2] = r;
            }
        return b;
    }

    /// <summary>An 8-bit palette BMP (grey levels of the red channel).</summary>
    public static byte[] Bmp8(RgbImage image)
    {
        int stride = (image.Width + 3) & ~3, offset = 54 + 1024;
        var b = new byte[offset + stride * image.Height];
        Header(b, image.Width, image.Height, 8, offset);
        for (int i = 0; i < 256; i++) b[54 + 4 * i] = b[55 + 4 * i] = b[56 + 4 * i] = (byte)i;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++) b[offset + y * stride + x] = image[x, image.Height - 1 - y].R;
        return b;
    }

    /// <summary>An uncompressed 24-bit TGA (type 2, bottom-up).</summary>
    public static byte[] Tga24(RgbImage image)
    {
        var b = new byte[18 + image.Width * image.Height * 3];
        b[2] = 2;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(12), (ushort)image.Width);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(14), (ushort)image.Height);
        b[16] = 24;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, bl) = image[x, image.Height - 1 - y];
                int o = 18 + (y * image.Width + x) * 3;
                b[o] = bl;
                b[o + 1] = g;
                b[o + 2] = r;
            }
        return b;
    }

    static void Header(byte[] b, int w, int h, int bpp, int offset)
    {
        b[0] = (byte)'B';
        b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), b.Length);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), offset);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), w);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), h);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), (short)bpp);
    }
}

public sealed class SpecTarget : FuzzTarget
{
    public override string Key => "specs";
    public override string Title => "method specs";

    static readonly string[] Seeds =
    [
        "none", "prumerge", "prumerge+", "prumerge:ratio=0.125", "prumerge:keep=64", "prumerge:keep=64,attn=heads,weights=normalised",
        "prumerge+:spatial=grid:onfail=error", "prumerge+:attn=feature", "random:64:seed=1", "random:64", "pool:144", "pool:144,stage=pre",
        "fastervlm:64", "visionzip:54+10", "divprune:64", "divprune:ratio=0.098", "tome:r=16", "tome:keep=192,variant=llmc",
        "tome:r=8:inflection=0.5", "fastv:k=2,keep=64", "fastv:k=2,ratio=0.5", "pdrop:layers=8/16/24,lambda=0.5", "pdrop:layers=8/16,ratios=0.5/0.25",
        "sparsevlm:192", "sparsevlm:64", "fastv:k=2,keep=64,window=8", "fastv:k=2,keep=64,query=last-visual,scope=total", "alpha:a=0.5,k=2,keep=64,unique=mean", "prumerge|fastv:k=2,keep=32", "sparsevlm:192,layers=2/6/15,budgets=300/200/110", "dart:k=2,keep=128", "dart:pivot=knorm,keep=64",
    ];

    public override FuzzCase Generate(FuzzRandom r) => new("spec", [], SpecMutator.Mutate(r.Pick(Seeds), r, Seeds));

    public override void Run(FuzzCase c, string workDir)
    {
        // Every parser sees every string; the case is accepted when either accepts it.
        Exception? first = null;
        bool accepted = false;
        foreach (var parse in new Action<string>[] { s => MethodCatalog.ParseVision(s), s => MethodCatalog.ParseDecoder(s), s => MethodPlan.Parse(s) })
        {
            try
            {
                parse(c.Text!);
                accepted = true;
            }
            catch (TokenSieveException e) when (!FuzzRunner.IsBug(e))
            {
                first ??= e;
            }
        }
        if (!accepted) throw first!;
    }
}
