using SkiaSharp;

namespace TokenSieve.Cli.Reports;

/// <summary>Panels of patch-grid heatmaps (one per method) on one shared colour scale, laid out in a
/// grid under a title: row 0 of the grid is drawn at the top, as in the image.</summary>
public static class HeatmapRenderer
{
    public const int PanelWidth = 360, PanelHeight = 330, Columns = 4, TitleHeight = 44;

    public static byte[] RenderPanels(string title, IReadOnlyList<(string Title, double[] Values)> panels, int height, int width, string valueLabel)
    {
        if (panels.Count == 0) throw new ArgumentException("no panels", nameof(panels));
        double max = panels.SelectMany(p => p.Values).Where(double.IsFinite).DefaultIfEmpty(1).Max();
        if (!(max > 0)) max = 1;
        int cols = Math.Min(Columns, panels.Count), rows = (panels.Count + cols - 1) / cols;
        var info = new SKImageInfo(cols * PanelWidth, TitleHeight + rows * PanelHeight);
        using var surface = SKSurface.Create(info);
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using (var font = new SKFont(SKTypeface.Default, 20))
        using (var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true })
            canvas.DrawText(title, 12, 30, font, paint);
        for (int i = 0; i < panels.Count; i++)
        {
            byte[] png = Panel(panels[i].Title, panels[i].Values, height, width, max, valueLabel);
            using var bitmap = SKBitmap.Decode(png);
            canvas.DrawBitmap(bitmap, i % cols * PanelWidth, TitleHeight + i / cols * PanelHeight);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    static byte[] Panel(string title, double[] values, int height, int width, double max, string valueLabel)
    {
        var grid = new double[height, width];
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++) grid[r, c] = values[r * width + c];
        var plot = new ScottPlot.Plot();
        var heatmap = plot.Add.Heatmap(grid);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, max);
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = valueLabel;
        plot.Title(title, size: 14);
        plot.XLabel("patch column");
        plot.YLabel("patch row (0 = top)");
        // ScottPlot centres cell (r, c) at x = c, y = height − 1 − r (data row 0 on top): label the
        // ticks with patch indices and show exactly the cells.
        int step(int n) => n <= 12 ? 1 : Math.Max(1, n / 6);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, width).Where(c => c % step(width) == 0).Select(c => new ScottPlot.Tick(c, c.ToString(), true)).ToArray());
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, height).Where(r => r % step(height) == 0).Select(r => new ScottPlot.Tick(height - 1 - r, r.ToString(), true)).ToArray());
        plot.Axes.SetLimits(-0.5, width - 0.5, -0.5, height - 0.5);
        return plot.GetImageBytes(PanelWidth, PanelHeight, ScottPlot.ImageFormat.Png);
    }
}
