namespace TokenSieve.Models;

/// <summary>One image's visual tokens inside a spliced sequence.</summary>
public sealed record ImageSpan(int Start, int Count, VisualLayout Layout)
{
    public int End => Start + Count;
}

/// <summary>One image to splice: the slot it replaces in the ids, its visual tokens [Count, Hidden]
/// and where they sit in its patch grid (null: derived as for <see cref="InferenceSession.Splice(int[], int, ReadOnlySpan{float}, int, VisualLayout?)"/>).</summary>
public sealed record SplicedImage(int Slot, float[] Tokens, int Count, VisualLayout? Layout = null);

/// <summary>The merged LLaVA input: text embeddings with each image slot replaced by that image's
/// visual tokens.</summary>
public sealed class SplicedSequence
{
    /// <summary>[Length, Hidden] input embeddings.</summary>
    public required float[] Embeddings { get; init; }

    public required int Length { get; init; }

    /// <summary>Position ids (0..Length−1 unless a method says otherwise).</summary>
    public required int[] Positions { get; init; }

    /// <summary>Qwen2-VL's 3-D M-RoPE positions of the rows (<see cref="Positions"/> then index them);
    /// null for 1-D RoPE.</summary>
    public MropePositions? Mrope { get; init; }

    /// <summary>The text ids around the images, with the slot ids still in place.</summary>
    public required int[] InputIds { get; init; }

    /// <summary>Every image's span of visual tokens, in sequence order (at least one).</summary>
    public required IReadOnlyList<ImageSpan> Images { get; init; }

    /// <summary>Index of the first visual token in the sequence.</summary>
    public int ImageStart => Images[0].Start;

    /// <summary>Visual tokens of all images together.</summary>
    public int ImageTokens => Images.Sum(i => i.Count);

    /// <summary>Where each visual token sits in its patch grid (for methods with spatial rules): the
    /// images' grids one after another, the tokens in sequence order.</summary>
    public VisualLayout Layout => Images.Count == 1 ? Images[0].Layout : VisualLayout.Concat(Images.Select(i => i.Layout));

    /// <summary>The image a sequence row belongs to, or −1 for text.</summary>
    public int ImageOf(int row)
    {
        for (int i = 0; i < Images.Count; i++)
            if (row >= Images[i].Start && row < Images[i].End) return i;
        return -1;
    }
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

    /// <summary>Several layouts one after another: grids renumbered, tokens in order.</summary>
    public static VisualLayout Concat(IEnumerable<VisualLayout> layouts)
    {
        var grids = new List<PatchGrid>();
        var tokens = new List<GridCell>();
        foreach (var l in layouts)
        {
            int offset = grids.Count;
            grids.AddRange(l.Grids);
            tokens.AddRange(l.Tokens.Select(c => c.IsNone ? c : c with { Grid = c.Grid + offset }));
        }
        return new VisualLayout(grids, tokens);
    }
}
