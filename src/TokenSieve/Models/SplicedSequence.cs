namespace TokenSieve.Models;

/// <summary>The merged LLaVA input: text embeddings with the image slot replaced by visual tokens.</summary>
public sealed class SplicedSequence
{
    /// <summary>[Length, Hidden] input embeddings.</summary>
    public required float[] Embeddings { get; init; }

    public required int Length { get; init; }

    /// <summary>Position ids (0..Length−1 unless a method says otherwise).</summary>
    public required int[] Positions { get; init; }

    /// <summary>Index of the first visual token in the sequence.</summary>
    public required int ImageStart { get; init; }

    public required int ImageTokens { get; init; }

    /// <summary>The text ids around the image, with the slot id still in place.</summary>
    public required int[] InputIds { get; init; }

    /// <summary>Where each visual token sits in its patch grid (for methods with spatial rules).</summary>
    public required VisualLayout Layout { get; init; }
}

/// <summary>The patch grid of one image, tile or frame: rows × columns in raster order.</summary>
public readonly record struct PatchGrid(int Height, int Width)
{
    public int Patches => Height * Width;
}

/// <summary>A visual token's cell: grid index, row and column; <see cref="None"/> for a token that is
/// not one patch of a grid (a [CLS] token, a newline token, a merged or pooled token).</summary>
public readonly record struct GridCell(int Grid, int Row, int Col)
{
    public static GridCell None { get; } = new(-1, -1, -1);

    public bool IsNone => Grid < 0;
}

/// <summary>The grids a model's visual tokens come from and the cell of each token, in sequence order.</summary>
public sealed record VisualLayout(IReadOnlyList<PatchGrid> Grids, IReadOnlyList<GridCell> Tokens)
{
    /// <summary>One grid, every patch a token, raster order.</summary>
    public static VisualLayout Raster(int height, int width) =>
        new([new PatchGrid(height, width)], Enumerable.Range(0, height * width).Select(p => new GridCell(0, p / width, p % width)).ToArray());

    /// <summary>Tokens with no grid position.</summary>
    public static VisualLayout Ungridded(int tokens) => new([], Enumerable.Repeat(GridCell.None, tokens).ToArray());
}
