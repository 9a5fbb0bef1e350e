namespace TokenSieve.Imaging;

/// <summary>Bounds on the images TokenSieve decodes, checked from the file's header before any pixel
/// buffer is allocated. With them, no image file (of any size) can make decoding and preprocessing
/// use more than about <see cref="MaxPixels"/> × <see cref="MaxBytesPerPixel"/> bytes — the budget
/// behind the promise that a file under 1 MB never takes the process above 1 GiB.</summary>
public static class ImageLimits
{
    /// <summary>Largest accepted image, in pixels (40 MP). It covers 8K frames (33 MP) and nearly all
    /// camera sensors; Pillow itself warns about decompression bombs from 89 MP. The vision tower sees
    /// at most a few hundred pixels a side, so larger inputs would only cost memory.</summary>
    public const long MaxPixels = 40_000_000;

    /// <summary>Largest accepted side in pixels: the most a JPEG or GIF header can state. It also bounds
    /// the thin-image case (the padded square's side) in preprocessing.</summary>
    public const int MaxSide = 65535;

    /// <summary>What a decoder may hold per pixel at its peak, the RGB result included: a progressive
    /// 4:4:4 JPEG keeps 16-bit coefficients (6 bytes), its sample planes (3) and the RGB image (3).
    /// PNG, GIF and BMP decoding stay at the RGB image plus a few rows.</summary>
    public const int MaxBytesPerPixel = 12;

    /// <summary>Throws an <see cref="ImageDecodeException"/> (naming <paramref name="name"/>) unless
    /// a <paramref name="width"/>×<paramref name="height"/> image is within the limits.</summary>
    public static void Check(long width, long height, string? name)
    {
        if (width <= 0 || height <= 0) throw new ImageDecodeException(name, $"the image has zero size ({width}x{height})");
        if (width > MaxSide || height > MaxSide)
            throw new ImageDecodeException(name, $"the image is too large: {width}x{height} has a side over the {MaxSide}-pixel limit");
        if (width * height > MaxPixels)
            throw new ImageDecodeException(name, $"the image is too large: {width}x{height} = {width * height} pixels is over the {MaxPixels}-pixel limit");
    }
}
