namespace TokenSieve.Imaging;

/// <summary>A video given as a folder of frame images: every image file in the folder (PNG, JPEG, GIF,
/// BMP, TGA by extension), in ordinal file-name order — the order Video-LLaVA's fixture and the usual
/// <c>frame_00.png, frame_01.png…</c> dumps mean. No sampling: the caller picks the frames.</summary>
public static class VideoFrames
{
    static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tga"];

    /// <summary>Frames beyond this many are refused (each costs a tower forward and its visual tokens).</summary>
    public const int MaxFrames = 1024;

    /// <summary>The frame files of <paramref name="folder"/>, sorted by name.</summary>
    public static IReadOnlyList<string> Files(string folder)
    {
        if (!Directory.Exists(folder)) throw new InvalidInputException($"video folder '{TokenSieveException.Printable(folder)}' not found");
        var files = Directory.EnumerateFiles(folder)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0) throw new InvalidInputException($"video folder '{TokenSieveException.Printable(folder)}' has no frames ({string.Join(", ", Extensions)} files)");
        if (files.Count > MaxFrames) throw new InvalidInputException($"video folder '{TokenSieveException.Printable(folder)}' has {files.Count} frames, over the limit of {MaxFrames}; sample the frames first");
        return files;
    }

    /// <summary>The decoded frames of <paramref name="folder"/>, in file-name order; they must share one size.</summary>
    public static IReadOnlyList<RgbImage> Load(string folder)
    {
        var frames = Files(folder).Select(ImageDecoder.Load).ToList();
        for (int i = 1; i < frames.Count; i++)
            if (frames[i].Width != frames[0].Width || frames[i].Height != frames[0].Height)
                throw new InvalidInputException($"video folder '{TokenSieveException.Printable(folder)}': frames differ in size ({Path.GetFileName(Files(folder)[0])} is {frames[0].Width}x{frames[0].Height}, {Path.GetFileName(Files(folder)[i])} is {frames[i].Width}x{frames[i].Height})");
        return frames;
    }
}
