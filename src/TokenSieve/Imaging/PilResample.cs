namespace TokenSieve.Imaging;

/// <summary>PIL's resampling filters, numbered as <c>PIL.Image.Resampling</c> (and as
/// <c>resample</c> in preprocessor_config.json).</summary>
public enum ResampleFilter
{
    Nearest = 0,
    Lanczos = 1,
    Bilinear = 2,
    Bicubic = 3,
    Box = 4,
    Hamming = 5,
}

/// <summary>A bit-exact re-implementation of Pillow's <c>Image.resize</c> for 8-bit RGB (libImaging
/// <c>Resample.c</c>, Pillow 9.4, which the fixture goldens come from), written from its description:
/// <list type="bullet">
/// <item>separable convolution, the horizontal pass first, then the vertical pass on its uint8 result;
/// a pass is skipped when that dimension does not change;</item>
/// <item>antialiasing: when shrinking by a factor f &gt; 1 the filter is stretched by f (support·f,
/// argument/f); when enlarging, f = 1;</item>
/// <item>output sample i is centred at (i + 0.5)·scale in input coordinates; taps run over input
/// pixels round(centre ± support), clipped to the image, weighted by filter((j − centre + 0.5)/f)
/// and normalised to sum 1, in double precision;</item>
/// <item>weights are then fixed-point with 22 fractional bits (32 − 8 − 2: 8 for the value, 2 for
/// overshoot of negative lobes), rounded half away from zero; each pass accumulates integers from
/// 2^21 (the rounding half) and shifts back, clamping to 0..255.</item>
/// </list>
/// Bicubic is Keys' cubic with a = −0.5 (support 2).</summary>
internal static class PilResample
{
    const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Resizes <paramref name="source"/> to <paramref name="width"/>×<paramref name="height"/>
    /// as <c>img.resize((width, height), filter)</c> does in Pillow.</summary>
    public static RgbImage Resize(RgbImage source, int width, int height, ResampleFilter filter = ResampleFilter.Bicubic)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"resize target {width}x{height} must be positive");
        if (filter == ResampleFilter.Nearest)
            throw new NotSupportedException("nearest-neighbour resampling is not implemented; PIL uses a different code path for it");
        var image = source;
        if (width != image.Width) image = HorizontalPass(image, width, filter);
        if (height != image.Height) image = VerticalPass(image, height, filter);
        return ReferenceEquals(image, source) ? source.Clone() : image;
    }

    /// <summary>Per output sample: the first input index, the number of taps, and
    /// <c>taps</c> fixed-point weights starting at <c>sample * maxTaps</c>.</summary>
    internal readonly record struct Coefficients(int[] First, int[] Count, int[] Weights, int MaxTaps);

    internal static Coefficients Precompute(int inSize, int outSize, ResampleFilter filter) => Precompute(inSize, outSize, filter, 0, outSize);

    /// <summary>The coefficients of output samples [<paramref name="start"/>, +<paramref name="count"/>)
    /// only, indexed from 0 (each sample's taps depend on its own index alone, so they equal the full
    /// table's rows).</summary>
    internal static Coefficients Precompute(int inSize, int outSize, ResampleFilter filter, int start, int count)
    {
        var (kernel, kernelSupport) = Kernel(filter);
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = kernelSupport * filterScale;
        int maxTaps = (int)Math.Ceiling(support) * 2 + 1;
        var first = new int[count];
        var taps = new int[count];
        var weights = new int[checked(count * maxTaps)];
        var w = new double[maxTaps];
        double inverseScale = 1.0 / filterScale;
        for (int k = 0; k < count; k++)
        {
            int i = start + k;
            double centre = (i + 0.5) * scale;
            // (int) truncates toward zero like PIL's C cast; negative starts are clamped right after.
            int lo = Math.Max(0, (int)(centre - support + 0.5));
            int hi = Math.Min(inSize, (int)(centre + support + 0.5));
            int n = hi - lo;
            double total = 0;
            for (int j = 0; j < n; j++)
            {
                w[j] = kernel((j + lo - centre + 0.5) * inverseScale);
                total += w[j];
            }
            for (int j = 0; j < n; j++)
            {
                double normalized = total != 0.0 ? w[j] / total : w[j];
                double fixedPoint = normalized * (1 << PrecisionBits);
                weights[k * maxTaps + j] = (int)(normalized < 0 ? fixedPoint - 0.5 : fixedPoint + 0.5);
            }
            first[k] = lo;
            taps[k] = n;
        }
        return new Coefficients(first, taps, weights, maxTaps);
    }

    // Rows (horizontal pass) and output rows (vertical pass) are independent, so both run in parallel;
    // every output byte is computed by the same integer arithmetic whatever the schedule.
    static RgbImage HorizontalPass(RgbImage src, int outWidth, ResampleFilter filter)
    {
        var c = Precompute(src.Width, outWidth, filter);
        var dst = new RgbImage(outWidth, src.Height);
        int inStride = src.Width * 3, outStride = outWidth * 3;
        Parallel.For(0, src.Height, y =>
        {
            ReadOnlySpan<byte> row = src.Pixels.AsSpan(y * inStride, inStride);
            Span<byte> output = dst.Pixels.AsSpan(y * outStride, outStride);
            for (int x = 0; x < outWidth; x++)
            {
                int r = 1 << (PrecisionBits - 1), g = r, b = r;
                ReadOnlySpan<int> weights = c.Weights.AsSpan(x * c.MaxTaps, c.Count[x]);
                ReadOnlySpan<byte> taps = row.Slice(c.First[x] * 3, weights.Length * 3);
                for (int t = 0; t < weights.Length; t++)
                {
                    int weight = weights[t];
                    r += taps[3 * t] * weight;
                    g += taps[3 * t + 1] * weight;
                    b += taps[3 * t + 2] * weight;
                }
                output[3 * x] = Clip8(r);
                output[3 * x + 1] = Clip8(g);
                output[3 * x + 2] = Clip8(b);
            }
        });
        return dst;
    }

    static RgbImage VerticalPass(RgbImage src, int outHeight, ResampleFilter filter)
    {
        var c = Precompute(src.Height, outHeight, filter);
        var dst = new RgbImage(src.Width, outHeight);
        int stride = src.Width * 3;
        Parallel.For(0, outHeight, y =>
        {
            ReadOnlySpan<int> weights = c.Weights.AsSpan(y * c.MaxTaps, c.Count[y]);
            ReadOnlySpan<byte> source = src.Pixels.AsSpan(c.First[y] * stride, weights.Length * stride);
            Span<byte> output = dst.Pixels.AsSpan(y * stride, stride);
            for (int i = 0; i < stride; i++)
            {
                int acc = 1 << (PrecisionBits - 1);
                for (int t = 0; t < weights.Length; t++) acc += source[t * stride + i] * weights[t];
                output[i] = Clip8(acc);
            }
        });
        return dst;
    }

    static byte Clip8(int accumulator)
    {
        if (accumulator >= 1 << PrecisionBits << 8) return 255;
        if (accumulator <= 0) return 0;
        return (byte)(accumulator >> PrecisionBits);
    }

    static (Func<double, double> Kernel, double Support) Kernel(ResampleFilter filter) => filter switch
    {
        ResampleFilter.Box => (BoxKernel, 0.5),
        ResampleFilter.Bilinear => (BilinearKernel, 1.0),
        ResampleFilter.Hamming => (HammingKernel, 1.0),
        ResampleFilter.Bicubic => (BicubicKernel, 2.0),
        ResampleFilter.Lanczos => (LanczosKernel, 3.0),
        _ => throw new NotSupportedException($"resample filter {filter} is not supported"),
    };

    static double BoxKernel(double x) => x > -0.5 && x <= 0.5 ? 1.0 : 0.0;

    static double BilinearKernel(double x)
    {
        x = Math.Abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    static double HammingKernel(double x)
    {
        x = Math.Abs(x);
        if (x == 0.0) return 1.0;
        if (x >= 1.0) return 0.0;
        x *= Math.PI;
        // PIL writes the window constants as float literals (0.54f, 0.46f); keep their float values.
        return Math.Sin(x) / x * ((double)0.54f + (double)0.46f * Math.Cos(x));
    }

    /// <summary>Keys' cubic convolution kernel with a = −0.5.</summary>
    static double BicubicKernel(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    static double LanczosKernel(double x) => x >= -3.0 && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;
}
