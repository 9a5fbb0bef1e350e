namespace TokenSieve.Imaging;

/// <summary>An 8-bit RGB image, row-major HWC: the byte of channel c of pixel (x, y) is
/// <c>Pixels[(y * Width + x) * 3 + c]</c>. This is what PIL's <c>convert('RGB')</c> holds and what
/// the CLIP preprocessing resizes.</summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    /// <summary>A black image, or one over <paramref name="pixels"/> (not copied) of exactly
    /// width·height·3 bytes.</summary>
    public RgbImage(int width, int height, byte[]? pixels = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        long bytes = (long)width * height * 3;
        if (bytes > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} is too large");
        if (pixels is not null && pixels.Length != bytes)
            throw new ArgumentException($"{pixels.Length} pixel bytes for a {width}x{height} RGB image (needs {bytes})", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels ?? new byte[bytes];
    }

    /// <summary>An image filled with one colour (PIL's <c>Image.new("RGB", size, colour)</c>).</summary>
    public RgbImage(int width, int height, (byte R, byte G, byte B) fill) : this(width, height)
    {
        for (int i = 0; i < Pixels.Length; i += 3)
        {
            Pixels[i] = fill.R;
            Pixels[i + 1] = fill.G;
            Pixels[i + 2] = fill.B;
        }
    }

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            int i = Offset(x, y);
            return (Pixels[i], Pixels[i + 1], Pixels[i + 2]);
        }
        set
        {
            int i = Offset(x, y);
            Pixels[i] = value.R;
            Pixels[i + 1] = value.G;
            Pixels[i + 2] = value.B;
        }
    }

    int Offset(int x, int y)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"pixel ({x}, {y}) is outside the {Width}x{Height} image");
        return (y * Width + x) * 3;
    }

    public RgbImage Clone() => new(Width, Height, (byte[])Pixels.Clone());

    /// <summary>The <paramref name="width"/>×<paramref name="height"/> region whose top-left corner is
    /// (<paramref name="left"/>, <paramref name="top"/>); it must lie inside the image.</summary>
    public RgbImage Crop(int left, int top, int width, int height)
    {
        if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > Width || top + height > Height)
            throw new ArgumentOutOfRangeException(nameof(left), $"crop {width}x{height} at ({left}, {top}) is not inside the {Width}x{Height} image");
        var result = new RgbImage(width, height);
        for (int y = 0; y < height; y++)
            Array.Copy(Pixels, ((top + y) * Width + left) * 3, result.Pixels, y * width * 3, width * 3);
        return result;
    }

    /// <summary>Copies <paramref name="source"/> with its top-left corner at (<paramref name="left"/>,
    /// <paramref name="top"/>); parts falling outside this image are clipped (PIL's <c>paste</c>).</summary>
    public void Paste(RgbImage source, int left, int top)
    {
        int x0 = Math.Max(0, left), x1 = Math.Min(Width, left + source.Width);
        int y0 = Math.Max(0, top), y1 = Math.Min(Height, top + source.Height);
        if (x0 >= x1) return;
        for (int y = y0; y < y1; y++)
            Array.Copy(source.Pixels, ((y - top) * source.Width + (x0 - left)) * 3, Pixels, (y * Width + x0) * 3, (x1 - x0) * 3);
    }

    /// <summary>Decodes a PNG/JPEG/BMP/GIF/TGA file to RGB; see <see cref="ImageDecoder"/>.</summary>
    public static RgbImage Load(string path) => ImageDecoder.Load(path);

    /// <summary>Writes this image as a PNG file; see <see cref="PngEncoder"/>.</summary>
    public void SavePng(string path) => PngEncoder.Save(this, path);
}
