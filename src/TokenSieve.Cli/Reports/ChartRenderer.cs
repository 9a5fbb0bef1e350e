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
        // Labels are placed greedily and skipped where one already sits close by (in fractions of the
        // data range): the rethink sweep puts nine alpha points and six FastV variants at 64 tokens, and
        // labelling every one drew an unreadable pile (seen in Chromium). The legend still names each line.
        var all = spec.Series.SelectMany(s => s.Points).ToList();
        double xMin = all.Count == 0 ? 0 : all.Min(p => p.X);
        double xSpan = all.Count == 0 ? 1 : Math.Max(1e-12, all.Max(p => p.X) - xMin);
        double ySpan = all.Count == 0 ? 1 : Math.Max(1e-12, all.Max(p => p.Y) - all.Min(p => p.Y));
        const double CharWidth = 0.013, Gap = 0.01; // fractions of the x range: ~9.6 px per character of ~730 px
        var placed = new List<(double From, double To, double Y)>();
        // The text runs right of its point, or left of it where it would pass the right margin.
        (double From, double To, bool Left) Extent(ChartPoint p, int length)
        {
            double x = (p.X - xMin) / xSpan, w = CharWidth * length + Gap;
            return x + w > 1.12 ? (x - w, x, true) : (x, x + w, false);
        }
        bool Free((double From, double To, bool Left) e, ChartPoint p) => placed.All(q =>
            Math.Abs(p.Y - q.Y) / ySpan > 0.045 || e.To < q.From || e.From > q.To);
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
            // A scatter of many unconnected points (FLOPs vs time: one per task and configuration)
            // labelled point by point is an unreadable pile (seen in Chromium): the legend's colours
            // name the methods there.
            if (!spec.ConnectPoints) continue;
            foreach (var p in series.Points)
            {
                string text = ShortLabel(p.Label, series.Name);
                var extent = Extent(p, text.Length);
                if (!Free(extent, p)) continue;
                placed.Add((extent.From, extent.To, p.Y));
                var label = plot.Add.Text(text, p.X, p.Y);
                label.LabelFontSize = 14;
                label.LabelFontColor = scatter.Color;
                label.LabelOffsetY = -14;
                if (extent.Left) { label.LabelAlignment = ScottPlot.Alignment.UpperRight; label.LabelOffsetX = -6; }
                else label.LabelOffsetX = 6;
            }
        }
        // Labels sit right of their point: without room on the right the rightmost label ("none" at
        // full tokens) was cut to "non" at the plot's edge.
        plot.Axes.Margins(left: 0.05, right: 0.14, bottom: 0.08, top: 0.1);
        // Outside the data area: inside, it sat on the column of full-token points (FastV, the α sweep).
        plot.ShowLegend(ScottPlot.Edge.Right);
        return plot;
    }

    /// <summary>"fastervlm:64" on the fastervlm line reads "64".</summary>
    static string ShortLabel(string label, string method)
    {
        string spec = label.Contains(' ') ? label[(label.LastIndexOf(' ') + 1)..] : label;
        return spec.StartsWith(method + ":", StringComparison.Ordinal) ? spec[(method.Length + 1)..] : spec;
    }
}
