namespace TokenSieve.Imaging;

/// <summary>How a non-square image becomes the square the vision tower sees.</summary>
public enum AspectMode
{
    /// <summary>Original LLaVA-1.5 (<c>image_aspect_ratio = "pad"</c>, used for all its published numbers):
    /// paste the image centred on a square of the mean colour, then resize; nothing is cut off.</summary>
    Pad,
    /// <summary>Plain CLIPImageProcessor (the llava-hf default): resize the short side, centre-crop the
    /// long side, which cuts off the sides of non-square images.</summary>
    Crop,
}

/// <summary>Every intermediate of <see cref="ImageProcessor.RunStages"/>, for tests and <c>dump</c>.
/// <see cref="Squared"/> is null when nothing was padded (<see cref="AspectMode.Crop"/> without the
/// config's do_pad, or an already square image); <see cref="RescaledHwc"/> is HWC float32; <see cref="PixelValues"/> is CHW float32
/// [3, <see cref="Height"/>, <see cref="Width"/>].</summary>
internal sealed record PreprocessStages(
    RgbImage Input, RgbImage? Squared, RgbImage Resized, RgbImage Cropped, float[] RescaledHwc, float[] PixelValues, int Height, int Width);

/// <summary>Transformers' CLIPImageProcessor (4.40) on 8-bit RGB, plus LLaVA's pad-to-square:
/// <list type="number">
/// <item>(pad mode) <c>expand2square</c>: a square of side max(w, h) filled with
/// <c>int(mean·255)</c> per channel, the image pasted at offset (side − short)//2 on the short axis;</item>
/// <item>resize with Pillow's antialiased filter on uint8 (<see cref="PilResample"/>): the short side
/// becomes S and the long side <c>int(S·long/short)</c> (truncated); no resize when the short side is
/// already S;</item>
/// <item>centre crop at top = (h − ch)//2, left = (w − cw)//2 (floor division; zero-padded when the
/// image is smaller than the crop, as transformers does);</item>
/// <item>rescale: float32(u8 · factor) — numpy multiplies the uint8 array by the Python float in
/// float64 and casts to float32;</item>
/// <item>normalize in float32: (x − float32(mean)) / float32(std); transpose HWC → CHW.</item>
/// </list></summary>
public sealed class ImageProcessor
{
    public ImageProcessorConfig Config { get; }

    public ImageProcessor(ImageProcessorConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
    }

    /// <summary>Reads a preprocessor_config.json (or the one in a model folder).</summary>
    public static ImageProcessor FromFile(string path) => new(ImageProcessorConfig.Load(path));

    /// <summary>The pad colour of LLaVA's expand2square: <c>tuple(int(x*255) for x in image_mean)</c>
    /// ((122, 116, 104) for CLIP).</summary>
    public (byte R, byte G, byte B) PadColor
    {
        get
        {
            static byte Level(double m) => (byte)Math.Clamp((int)(m * 255), 0, 255);
            return (Level(Config.ImageMean[0]), Level(Config.ImageMean[1]), Level(Config.ImageMean[2]));
        }
    }

    /// <summary>Decodes <paramref name="imagePath"/> and runs <see cref="Preprocess(RgbImage, AspectMode)"/>.</summary>
    public float[] Preprocess(string imagePath, AspectMode mode) => Preprocess(ImageDecoder.Load(imagePath), mode);

    /// <summary>The model input: CHW float32 [3, H, W], H×W being the crop size (or the resize size
    /// when cropping is off). The same bytes as <see cref="RunStages"/>, computed without building
    /// the padded square or the full resized image (<see cref="FusedPreprocess"/>), so thin images
    /// (1×30000) cost memory in proportion to the image, not to its square.</summary>
    public float[] Preprocess(RgbImage image, AspectMode mode)
    {
        var cropped = ResizeAndCrop(image, mode);
        return NormalizeToChw(Rescale(cropped), cropped.Height, cropped.Width);
    }

    /// <summary>Largest preprocessed image (the model input) in pixels: a crop of
    /// <see cref="ImageProcessorConfig.MaxSide"/> squared. Only a config without centre crop can ask
    /// for more (an elongated image resized by its short side), and that is refused.</summary>
    public const long MaxOutputPixels = (long)ImageProcessorConfig.MaxSide * ImageProcessorConfig.MaxSide;

    /// <summary>The uint8 image after pad / resize / centre crop, as <see cref="RunStages"/>'s
    /// <see cref="PreprocessStages.Cropped"/>.</summary>
    internal RgbImage ResizeAndCrop(RgbImage image, AspectMode mode)
    {
        ArgumentNullException.ThrowIfNull(image);
        bool pad = (mode == AspectMode.Pad || Config.DoPad) && image.Width != image.Height;
        int canvasW = image.Width, canvasH = image.Height, ox = 0, oy = 0;
        if (pad)
        {
            int side = Math.Max(image.Width, image.Height);
            canvasW = canvasH = side;
            if (image.Width > image.Height) oy = (image.Width - image.Height) / 2;
            else ox = (image.Height - image.Width) / 2;
        }
        var (rh, rw) = Config.DoResize ? ResizedSize(canvasH, canvasW) : (canvasH, canvasW);
        // The output window in resized coordinates (it may stick out of the resized image, where
        // transformers' center_crop pads with zeros).
        int outW = rw, outH = rh, offX = 0, offY = 0;
        if (Config.DoCenterCrop)
        {
            int ch = Config.CropHeight, cw = Config.CropWidth;
            int top = FloorDiv(rh - ch, 2), left = FloorDiv(rw - cw, 2);
            if (top >= 0 && left >= 0 && top + ch <= rh && left + cw <= rw)
                (outW, outH, offX, offY) = (cw, ch, left, top);
            else
            {
                int newH = Math.Max(ch, rh), newW = Math.Max(cw, rw);
                int padTop = (newH - rh + 1) / 2, padLeft = (newW - rw + 1) / 2;
                int y0 = Math.Max(0, top + padTop), y1 = Math.Min(newH, top + padTop + ch);
                int x0 = Math.Max(0, left + padLeft), x1 = Math.Min(newW, left + padLeft + cw);
                (outW, outH, offX, offY) = (x1 - x0, y1 - y0, x0 - padLeft, y0 - padTop);
            }
        }
        if ((long)outW * outH > MaxOutputPixels)
            throw new InvalidInputException($"a {image.Width}x{image.Height} image would preprocess to {outW}x{outH} pixels, over the limit of {MaxOutputPixels}; use a config with a centre crop");
        int wx0 = Math.Max(0, offX), wy0 = Math.Max(0, offY);
        int wx1 = Math.Min(rw, offX + outW), wy1 = Math.Min(rh, offY + outH);
        if (wx1 <= wx0 || wy1 <= wy0) return new RgbImage(outW, outH);
        var part = FusedPreprocess.ResizeWindow(image, ox, oy, canvasW, canvasH, PadColor, rw, rh, Config.Resample, wx0, wy0, wx1 - wx0, wy1 - wy0);
        if (part.Width == outW && part.Height == outH) return part;
        var result = new RgbImage(outW, outH);
        result.Paste(part, wx0 - offX, wy0 - offY);
        return result;
    }

    /// <summary>Every stage materialised (for tests and inspection); <see cref="Preprocess(RgbImage, AspectMode)"/> gives the
    /// same pixel values without building the large intermediates. Refused when the padded square or
    /// the resized image would exceed <see cref="ImageLimits.MaxPixels"/>.</summary>
    internal PreprocessStages RunStages(RgbImage image, AspectMode mode)
    {
        ArgumentNullException.ThrowIfNull(image);
        long side = Math.Max(image.Width, image.Height);
        bool padding = mode == AspectMode.Pad || Config.DoPad;
        var (rh0, rw0) = padding ? ResizedSize((int)side, (int)side) : ResizedSize(image.Height, image.Width);
        if ((padding && side * side > ImageLimits.MaxPixels) || (Config.DoResize && (long)rh0 * rw0 > ImageLimits.MaxPixels))
            throw new InvalidInputException($"a {image.Width}x{image.Height} image has intermediate stages over {ImageLimits.MaxPixels} pixels; RunStages keeps every stage, Preprocess does not");
        RgbImage? squared = mode == AspectMode.Pad || Config.DoPad ? ExpandToSquare(image) : null;
        if (squared is not null && ReferenceEquals(squared, image)) squared = null;
        var resized = Config.DoResize ? Resize(squared ?? image) : squared ?? image;
        var cropped = Config.DoCenterCrop ? CenterCrop(resized) : resized;
        var rescaled = Rescale(cropped);
        var pixels = NormalizeToChw(rescaled, cropped.Height, cropped.Width);
        return new PreprocessStages(image, squared, resized, cropped, rescaled, pixels, cropped.Height, cropped.Width);
    }

    /// <summary>LLaVA's <c>expand2square</c>; returns <paramref name="image"/> itself when it is square.</summary>
    public RgbImage ExpandToSquare(RgbImage image)
    {
        if (image.Width == image.Height) return image;
        int side = Math.Max(image.Width, image.Height);
        if ((long)side * side > ImageLimits.MaxPixels)
            throw new InvalidInputException($"a {image.Width}x{image.Height} image padded to a {side}x{side} square is over {ImageLimits.MaxPixels} pixels; Preprocess pads without building the square");
        var square = new RgbImage(side, side, PadColor);
        if (image.Width > image.Height) square.Paste(image, 0, (image.Width - image.Height) / 2);
        else square.Paste(image, (image.Height - image.Width) / 2, 0);
        return square;
    }

    /// <summary>The (height, width) the resize step produces for an input of that size.</summary>
    public (int Height, int Width) ResizedSize(int height, int width)
    {
        if (Config.ShortestEdge is not int s) return (Config.ResizeHeight!.Value, Config.ResizeWidth!.Value);
        int shortSide = Math.Min(width, height), longSide = Math.Max(width, height);
        if (shortSide == s) return (height, width);
        // Python's int(s * long / short): true division in double, truncated.
        int newLong = (int)((double)s * longSide / shortSide);
        return width <= height ? (newLong, s) : (s, newLong);
    }

    public RgbImage Resize(RgbImage image)
    {
        var (h, w) = ResizedSize(image.Height, image.Width);
        if (h == image.Height && w == image.Width) return image;
        return PilResample.Resize(image, w, h, Config.Resample);
    }

    /// <summary>transformers' <c>center_crop</c> on uint8, including its zero padding when the image is
    /// smaller than the crop.</summary>
    public RgbImage CenterCrop(RgbImage image)
    {
        int ch = Config.CropHeight, cw = Config.CropWidth;
        int top = FloorDiv(image.Height - ch, 2), left = FloorDiv(image.Width - cw, 2);
        if (top >= 0 && left >= 0 && top + ch <= image.Height && left + cw <= image.Width)
            return top == 0 && left == 0 && ch == image.Height && cw == image.Width ? image : image.Crop(left, top, cw, ch);
        int newH = Math.Max(ch, image.Height), newW = Math.Max(cw, image.Width);
        int padTop = (newH - image.Height + 1) / 2, padLeft = (newW - image.Width + 1) / 2;  // ceil((new − old)/2)
        var padded = new RgbImage(newW, newH);
        padded.Paste(image, padLeft, padTop);
        int y0 = Math.Max(0, top + padTop), y1 = Math.Min(newH, top + padTop + ch);
        int x0 = Math.Max(0, left + padLeft), x1 = Math.Min(newW, left + padLeft + cw);
        return padded.Crop(x0, y0, x1 - x0, y1 - y0);
    }

    static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

    /// <summary>HWC float32 values: u8 · rescale_factor computed in double and rounded to float32 (numpy's
    /// uint8·float promotes to float64), or the plain levels when do_rescale is off.</summary>
    public float[] Rescale(RgbImage image)
    {
        var result = new float[image.Pixels.Length];
        double factor = Config.DoRescale ? Config.RescaleFactor : 1.0;
        for (int i = 0; i < result.Length; i++) result[i] = (float)(image.Pixels[i] * factor);
        return result;
    }

    /// <summary>(x − mean)/std per channel in float32, transposed from HWC to CHW.</summary>
    public float[] NormalizeToChw(float[] hwc, int height, int width)
    {
        int plane = height * width;
        if (hwc.Length != plane * 3) throw new InvalidInputException($"image values: {hwc.Length} floats for a {height}x{width}x3 image");
        var chw = new float[hwc.Length];
        for (int c = 0; c < 3; c++)
        {
            float mean = Config.DoNormalize ? (float)Config.ImageMean[c] : 0f;
            float std = Config.DoNormalize ? (float)Config.ImageStd[c] : 1f;
            for (int p = 0; p < plane; p++) chw[c * plane + p] = (hwc[p * 3 + c] - mean) / std;
        }
        return chw;
    }
}
