namespace TokenSieve.Lab.Scenes;

public enum LabShape { Circle, Square, Triangle, Diamond, Cross }

public enum LabColour { Red, Green, Blue, Yellow, Purple, Orange }

public enum LabSize { Small, Large }

/// <summary>What a scene is for: a standard scene (1–6 objects, maybe a digit card) or a haystack
/// (many small distractors, no card) for the retrieval family.</summary>
public enum SceneKind { Standard, Haystack }

/// <summary>One shape in one cell of the scene's 4×4 layout grid. Every object in a scene has a
/// distinct (colour, shape) pair, so "the red circle" always names exactly one object.</summary>
public sealed record SceneObject(LabShape Shape, LabColour Colour, LabSize Size, int Row, int Col, int CentreX, int CentreY);

/// <summary>A card with a short digit string; it spans two horizontally adjacent cells.</summary>
public sealed record DigitCard(string Digits, int Row, int Col);

/// <summary>A procedurally generated scene: its content (objects, card) and how to draw it
/// (background tone, noise seed). <see cref="Render"/> gives the RGB image.</summary>
public sealed record Scene(SceneKind Kind, ulong Seed, IReadOnlyList<SceneObject> Objects, DigitCard? Card, byte BackgroundLevel, sbyte TintR, sbyte TintG, sbyte TintB)
{
    /// <summary>Image side in pixels; 112 = 8 patches of 14.</summary>
    public const int ImageSize = 112;
    /// <summary>Objects sit in a 4×4 grid of 28-pixel cells (2×2 patches each).</summary>
    public const int GridCells = 4;
    public const int CellSize = ImageSize / GridCells;

    public SceneObject? Find(LabColour colour, LabShape shape) =>
        Objects.FirstOrDefault(o => o.Colour == colour && o.Shape == shape);

    /// <summary>Draws the scene as interleaved RGB bytes, row-major, <see cref="ImageSize"/>².</summary>
    public byte[] Render() => SceneRenderer.Render(this);
}
