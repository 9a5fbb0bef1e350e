using StbImageSharp;

namespace TokenSieve.Imaging;

/// <summary>Decodes image files to <see cref="RgbImage"/> with StbImageSharp (pure managed).
/// Conversion follows PIL's <c>Image.open(f).convert('RGB')</c>, which LLaVA and the HF processors
/// use: grey is replicated to R=G=B, alpha is dropped (not composited over a background), palettes
/// are expanded. Known differences from PIL: JPEG pixels can differ by ±1–2 levels (stb_image's IDCT
/// and upsampling are not libjpeg-turbo's), and 16-bit greyscale PNGs are reduced by taking the high
/// byte where PIL clips the 16-bit value to 255.</summary>
public static class ImageDecoder
{
    public static RgbImage Load(string path)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, e is FileNotFoundException or DirectoryNotFoundException ? "file not found" : $"cannot read the file ({e.Message})", e);
        }
        return Decode(data, path);
    }

    /// <summary>Decodes encoded image bytes; <paramref name="name"/> names the image in errors.</summary>
    public static RgbImage Decode(byte[] data, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length == 0) throw new ImageDecodeException(name, "the file is empty (0 bytes)");
        ImageResult result;
        try
        {
            result = ImageResult.FromMemory(data, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ImageDecodeException(name, $"cannot decode the image ({e.Message}); the file is corrupt, truncated or not a PNG/JPEG/BMP/GIF/TGA", e);
        }
        if (result is null || result.Data is null) throw new ImageDecodeException(name, "cannot decode the image");
        if (result.Width <= 0 || result.Height <= 0) throw new ImageDecodeException(name, $"the image has zero size ({result.Width}x{result.Height})");
        if (result.Data.Length != (long)result.Width * result.Height * 3)
            throw new ImageDecodeException(name, $"the decoder returned {result.Data.Length} bytes for a {result.Width}x{result.Height} RGB image");
        return new RgbImage(result.Width, result.Height, result.Data);
    }
}
