using TokenSieve.Imaging;

namespace TokenSieve.Pipeline;

/// <summary>What a placeholder in the prompt stands for.</summary>
public enum VisualKind
{
    /// <summary><c>&lt;image&gt;</c>: one image (LLaVA-1.5: one view; LLaVA-NeXT: base view + tiles).</summary>
    Image,
    /// <summary><c>&lt;video&gt;</c> (Video-LLaVA): frames in order, each through the video tower.</summary>
    Video,
}

/// <summary>One visual input of a prompt, preprocessed: the pixel values [channels, S, S] of each view
/// the tower sees (one view; LLaVA-NeXT's base view then its tiles row-major; a video's frames in
/// order), and for LLaVA-NeXT the anyres plan that packs them.</summary>
public sealed class PreparedVisual
{
    public required VisualKind Kind { get; init; }

    public required IReadOnlyList<float[]> Views { get; init; }

    /// <summary>LLaVA-NeXT's layout of this image (best resolution, tiles, unpadded grid); null otherwise.</summary>
    public AnyResPlan? AnyRes { get; init; }

    /// <summary>One view (LLaVA-1.5's preprocessed image).</summary>
    public static PreparedVisual Image(float[] pixelValues) => new() { Kind = VisualKind.Image, Views = [pixelValues] };
}

/// <summary>A placeholder position in the prompt ids and what it stands for.</summary>
public readonly record struct VisualSlot(int Position, VisualKind Kind);
