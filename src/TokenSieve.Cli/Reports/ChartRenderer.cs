using TokenSieve.Evaluation;

namespace TokenSieve.Cli.Reports;

/// <summary>Draws a <see cref="ChartSpec"/> with ScottPlot: one line with markers per method, each point
/// labelled with its configuration, the unpruned baseline as a dashed horizontal line.</summary>
public static class ChartRenderer
{
    public const int DefaultWidth = 1000;
    public const int DefaultHeight = 625;

    public static byte[] RenderPng(ChartSpec spec, int width = DefaultWidth, int height = DefaultHeight)
    {
        var plot = Build(spec);
        return plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
    }

    public static string RenderSvg(ChartSpec spec, int width = DefaultWidth, int height = DefaultHeight)
    {
        var plot = Build(spec);
        return plot.GetSvgXml(width, height);
    }

    static ScottPlot.Plot Build(ChartSpec spec)
    {
        // Charts sit two or three to a row in the HTML report (about 450-650 px wide): everything drawn
        // 1.25x larger, and point labels at 14 px before scaling, stay readable there.
        var plot = new ScottPlot.Plot { ScaleFactor = 1.25f };
        plot.Title(spec.Title);
        plot.XLabel(spec.XLabel);
        plot.YLabel(spec.YLabel);
        if (spec.BaselineY is { } y)
        {
            var line = plot.Add.HorizontalLine(y);
            line.LinePattern = ScottPlot.LinePattern.Dashed;
            line.Color = ScottPlot.Colors.Gray;
            line.LegendText = "unpruned";
        }
        var palette = new ScottPlot.Palettes.Category10();
        int next = spec.ColorIndex.Count;
        foreach (var series in spec.Series.Where(s => s.Points.Count > 0))
        {
            int colorIndex = spec.ColorIndex.TryGetValue(series.Name, out int ci) ? ci : next++;
            double[] xs = series.Points.Select(p => p.X).ToArray();
            double[] ys = series.Points.Select(p => p.Y).ToArray();
            var scatter = plot.Add.Scatter(xs, ys);
            scatter.LegendText = series.Name;
            scatter.Color = palette.GetColor(colorIndex);
            scatter.MarkerSize = 8;
            scatter.LineWidth = spec.ConnectPoints ? 2 : 0;
            foreach (var p in series.Points)
            {
                var label = plot.Add.Text(ShortLabel(p.Label, series.Name), p.X, p.Y);
                label.LabelFontSize = 14;
                label.LabelFontColor = scatter.Color;
                label.LabelOffsetX = 6;
                label.LabelOffsetY = -14;
            }
        }
        plot.ShowLegend();
        return plot;
    }

    /// <summary>"fastervlm:64" on the fastervlm line reads "64".</summary>
    static string ShortLabel(string label, string method)
    {
        string spec = label.Contains(' ') ? label[(label.LastIndexOf(' ') + 1)..] : label;
        return spec.StartsWith(method + ":", StringComparison.Ordinal) ? spec[(method.Length + 1)..] : spec;
    }
}
