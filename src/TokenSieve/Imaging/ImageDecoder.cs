using System.Buffers.Binary;
using StbImageSharp;

namespace TokenSieve.Imaging;

/// <summary>Decodes image files to <see cref="RgbImage"/> as PIL's <c>Image.open(f).convert('RGB')</c>
/// does (LLaVA and the HF processors use it): grey replicated to R=G=B, alpha dropped (not
/// composited), palettes expanded.
/// <para>The format is recognised from its first bytes and the declared size is read from the header
/// and checked against <see cref="ImageLimits"/> <em>before</em> any decoding, so a small file that
/// claims a huge image is refused without allocating it.</para>
/// <list type="bullet">
/// <item>JPEG: <see cref="JpegDecoder"/>, our managed decoder that follows libjpeg-turbo (Pillow's
/// JPEG library) step by step — accurate integer IDCT, fancy upsampling, its YCbCr tables — and
/// matches Pillow bit for bit on baseline, progressive, restart-marker, greyscale and every common
/// chroma subsampling (see docs/robustness.md for the measurements). It replaced StbImageSharp's
/// JPEG path, which hangs forever on some corrupt files (the 8 bytes <c>FF D8 FF E0 00 10 4A 46</c>)
/// and differed from Pillow by up to 3 levels.</item>
/// <item>PNG: <see cref="PngDecoder"/> (managed, exact; inflates row by row, so a compression bomb
/// cannot allocate more than the declared image).</item>
/// <item>GIF: <see cref="GifDecoder"/> (first frame, Pillow's canvas rules).</item>
/// <item>BMP and TGA: StbImageSharp after our own header check of the size.</item>
/// </list>
/// Every failure is an <see cref="ImageDecodeException"/> naming the file.</summary>
public static class ImageDecoder
{
    public static RgbImage Load(string path)
    {
        byte[] data;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new ImageDecodeException(path, Directory.Exists(path) ? "is a folder, not an image file" : "file not found");
            if (info.Length > MaxFileBytes)
                throw new ImageDecodeException(path, $"the file is {info.Length} bytes, over the {MaxFileBytes}-byte limit for an image file");
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, e is FileNotFoundException or DirectoryNotFoundException ? "file not found" : $"cannot read the file ({e.Message})", e);
        }
        return Decode(data, path);
    }

    /// <summary>Image files larger than this are not read (1 GiB; an uncompressed 40 MP BMP is 120 MB).</summary>
    public const long MaxFileBytes = 1L << 30;

    public enum Format { Unknown, Png, Jpeg, Gif, Bmp, Tga }

    /// <summary>The format from the first bytes (TGA, which has no signature, by a plausible header).</summary>
    public static Format Sniff(ReadOnlySpan<byte> d)
    {
        if (PngDecoder.IsPng(d)) return Format.Png;
        if (d.Length >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format.Jpeg;
        if (GifDecoder.IsGif(d)) return Format.Gif;
        if (d.Length >= 2 && d[0] == 'B' && d[1] == 'M') return Format.Bmp;
        if (TgaSize(d) is not null) return Format.Tga;
        return Format.Unknown;
    }

    /// <summary>The size a file's header declares, or null when the header is unreadable.</summary>
    public static (long Width, long Height)? DeclaredSize(ReadOnlySpan<byte> d) => Sniff(d) switch
    {
        Format.Png => PngDecoder.ReadSize(d),
        Format.Jpeg => JpegSize(d),
        Format.Gif => GifDecoder.ReadSize(d),
        Format.Bmp => BmpSize(d),
        Format.Tga => TgaSize(d),
        _ => null,
    };

    /// <summary>Decodes encoded image bytes; <paramref name="name"/> names the image in errors.</summary>
    public static RgbImage Decode(byte[] data, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length == 0) throw new ImageDecodeException(name, "the file is empty (0 bytes)");
        var format = Sniff(data);
        switch (format)
        {
            case Format.Png:
                return PngDecoder.Decode(data, name);
            case Format.Jpeg:
                return JpegDecoder.Decode(data, name);
            case Format.Gif:
                return GifDecoder.Decode(data, name);
            case Format.Bmp:
            case Format.Tga:
            {
                var size = DeclaredSize(data) ?? throw new ImageDecodeException(name, $"the {format} header is truncated or invalid");
                ImageLimits.Check(size.Width, size.Height, name);
                return DecodeWithStb(data, name);
            }
            default:
                throw new ImageDecodeException(name, "cannot decode the image: not a PNG, JPEG, GIF, BMP or TGA file");
        }
    }

    static RgbImage DecodeWithStb(byte[] data, string? name)
    {
        ImageResult result;
        try
        {
            result = ImageResult.FromMemory(data, ColorComponents.RedGreenBlue);
        }
        catch (InvalidOperationException e) when (e.GetType() == typeof(InvalidOperationException))
        {
            // StbImageSharp reports every decoding failure it detects this way, with stb_image's reason.
            throw new ImageDecodeException(name, $"cannot decode the image ({e.Message}); the file is corrupt or truncated");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Anything else is a fault inside the decoder; kept as the inner exception so the fuzzer sees it.
            throw new ImageDecodeException(name, $"cannot decode the image ({e.GetType().Name}: {e.Message}); the file is corrupt or truncated", e);
        }
        if (result is null || result.Data is null) throw new ImageDecodeException(name, "cannot decode the image");
        if (result.Width <= 0 || result.Height <= 0) throw new ImageDecodeException(name, $"the image has zero size ({result.Width}x{result.Height})");
        ImageLimits.Check(result.Width, result.Height, name);
        if (result.Data.Length != (long)result.Width * result.Height * 3)
            throw new ImageDecodeException(name, $"the decoder returned {result.Data.Length} bytes for a {result.Width}x{result.Height} RGB image");
        return new RgbImage(result.Width, result.Height, result.Data);
    }

    /// <summary>The first SOFn frame header's size (markers before it are skipped by their lengths).</summary>
    static (long, long)? JpegSize(ReadOnlySpan<byte> d)
    {
        int pos = 2;
        while (pos + 4 <= d.Length)
        {
            if (d[pos] != 0xFF) return null;
            int marker = d[pos + 1];
            if (marker == 0xFF) { pos++; continue; }
            if (marker is >= 0xD0 and <= 0xD9 or 0x01) { pos += 2; continue; }
            int length = (d[pos + 2] << 8) | d[pos + 3];
            if (marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC))
                return pos + 9 <= d.Length ? (BinaryPrimitives.ReadUInt16BigEndian(d[(pos + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(d[(pos + 5)..])) : null;
            if (length < 2) return null;
            pos += 2 + length;
        }
        return null;
    }

    /// <summary>BITMAPFILEHEADER + the DIB header: OS/2 core (16-bit sizes) or BITMAPINFOHEADER and
    /// later (32-bit, a negative height meaning top-down).</summary>
    static (long, long)? BmpSize(ReadOnlySpan<byte> d)
    {
        if (d.Length < 26) return null;
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(d[14..]);
        if (headerSize == 12) return (BinaryPrimitives.ReadUInt16LittleEndian(d[18..]), BinaryPrimitives.ReadUInt16LittleEndian(d[20..]));
        if (headerSize < 40 || d.Length < 26) return null;
        long w = BinaryPrimitives.ReadInt32LittleEndian(d[18..]), h = BinaryPrimitives.ReadInt32LittleEndian(d[22..]);
        return (Math.Abs(w), Math.Abs(h));
    }

    /// <summary>A TGA header stb_image would accept: colour-map type 0/1, image type 1–3 or 9–11,
    /// plausible pixel depth.</summary>
    static (long, long)? TgaSize(ReadOnlySpan<byte> d)
    {
        if (d.Length < 18) return null;
        int mapType = d[1], type = d[2], bpp = d[16];
        if (mapType > 1 || type is not (1 or 2 or 3 or 9 or 10 or 11)) return null;
        if (mapType == 0 && type is 1 or 9) return null;
        if (bpp is not (8 or 15 or 16 or 24 or 32)) return null;
        return (BinaryPrimitives.ReadUInt16LittleEndian(d[12..]), BinaryPrimitives.ReadUInt16LittleEndian(d[14..]));
    }
}
