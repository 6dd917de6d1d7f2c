using System.Globalization;
using SkiaSharp;

namespace Sam2Sharp.Evaluation;

/// <summary>One line of a <see cref="LineChart"/>: points in data coordinates, drawn in order.</summary>
public sealed record LineSeries(IReadOnlyList<(double X, double Y)> Points, SKColor Color, float StrokeWidth = 2.5f, bool Dots = false, string? Label = null);

/// <summary>
/// A plain line chart written as PNG with SkiaSharp: grid, axes, tick labels, axis titles, a title and an
/// optional legend. Values outside the Y range (or not finite) are drawn at the nearest edge so that a
/// spike cannot squash the rest of the curve.
/// </summary>
public sealed class LineChart
{
    /// <summary>The first series colour (matplotlib's default blue).</summary>
    public static readonly SKColor Blue = new(31, 119, 180);
    /// <summary>The second series colour (matplotlib's default orange).</summary>
    public static readonly SKColor Orange = new(255, 127, 14);

    /// <summary>The title above the plot.</summary>
    public required string Title { get; init; }
    /// <summary>The X axis title.</summary>
    public required string XLabel { get; init; }
    /// <summary>The Y axis title.</summary>
    public required string YLabel { get; init; }
    /// <summary>The left end of the X axis, in data units.</summary>
    public required double XMin { get; init; }
    /// <summary>The right end of the X axis, in data units.</summary>
    public required double XMax { get; init; }
    /// <summary>The bottom of the Y axis; lower values are drawn at it.</summary>
    public required double YMin { get; init; }
    /// <summary>The top of the Y axis; higher values are drawn at it.</summary>
    public required double YMax { get; init; }
    /// <summary>X values that get a grid line and a label (e.g. from <see cref="NiceTicks"/>).</summary>
    public required IReadOnlyList<double> XTicks { get; init; }
    /// <summary>Y values that get a grid line and a label.</summary>
    public required IReadOnlyList<double> YTicks { get; init; }
    /// <summary>.NET numeric format of the X tick labels.</summary>
    public string XTickFormat { get; init; } = "0";
    /// <summary>.NET numeric format of the Y tick labels.</summary>
    public string YTickFormat { get; init; } = "F1";
    /// <summary>The lines, drawn in order (later ones on top).</summary>
    public IReadOnlyList<LineSeries> Series { get; init; } = [];
    /// <summary>Image width in pixels.</summary>
    public int Width { get; init; } = 720;
    /// <summary>Image height in pixels.</summary>
    public int Height { get; init; } = 440;

    /// <summary>
    /// Round tick values (steps of 1, 2 or 5 times a power of ten) covering [min, max] with about
    /// <paramref name="approxCount"/> intervals.
    /// </summary>
    public static IReadOnlyList<double> NiceTicks(double min, double max, int approxCount = 6)
    {
        if (!(max > min)) return [min];
        double raw = (max - min) / Math.Max(1, approxCount);
        int exp = (int)Math.Floor(Math.Log10(raw));
        double mag = Math.Pow(10, exp);
        double m = new[] { 1.0, 2, 5, 10 }.First(f => f * mag >= raw * (1 - 1e-9));
        // k * m * 10^exp, computed as a division by an exact power of ten for negative exponents so that 0.6 prints as 0.6.
        double Tick(long k) => exp >= 0 ? k * m * mag : k * m / Math.Pow(10, -exp);
        double step = m * mag;
        var ticks = new List<double>();
        for (long k = (long)Math.Ceiling(min / step - 1e-9); Tick(k) <= max + step * 1e-9; k++)
            ticks.Add(Tick(k));
        return ticks;
    }

    /// <summary>Draws the chart and writes it to <paramref name="path"/> as PNG.</summary>
    /// <exception cref="Sam2Exception">The file cannot be written.</exception>
    public void Save(string path)
    {
        const float left = 72, right = 24, top = 40, bottom = 52;
        float pw = Width - left - right, ph = Height - top - bottom;
        float X(double x) => left + (XMax > XMin ? pw * (float)((x - XMin) / (XMax - XMin)) : pw / 2);
        float Y(double y) => top + ph * (float)(1 - (Math.Clamp(double.IsFinite(y) ? y : YMin, YMin, YMax) - YMin) / (YMax - YMin));

        using var surface = SKSurface.Create(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var c = surface.Canvas;
        c.Clear(SKColors.White);
        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1, IsAntialias = true };
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, IsAntialias = true };
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var font = new SKFont(SKTypeface.Default, 13);
        using var titleFont = new SKFont(SKTypeface.Default, 16);

        foreach (var t in YTicks)
        {
            c.DrawLine(left, Y(t), left + pw, Y(t), grid);
            c.DrawText(t.ToString(YTickFormat, CultureInfo.InvariantCulture), left - 8, Y(t) + 4, SKTextAlign.Right, font, text);
        }
        foreach (var t in XTicks)
        {
            c.DrawLine(X(t), top, X(t), top + ph, grid);
            c.DrawText(t.ToString(XTickFormat, CultureInfo.InvariantCulture), X(t), top + ph + 18, SKTextAlign.Center, font, text);
        }
        c.DrawLine(left, top, left, top + ph, axis);
        c.DrawLine(left, top + ph, left + pw, top + ph, axis);

        foreach (var s in Series)
        {
            using var line = new SKPaint { Color = s.Color, StrokeWidth = s.StrokeWidth, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeJoin = SKStrokeJoin.Round };
            using var dot = new SKPaint { Color = s.Color, IsAntialias = true, Style = SKPaintStyle.Fill };
            using (var p = new SKPath())
            {
                for (int i = 0; i < s.Points.Count; i++)
                    if (i == 0) p.MoveTo(X(s.Points[i].X), Y(s.Points[i].Y)); else p.LineTo(X(s.Points[i].X), Y(s.Points[i].Y));
                c.DrawPath(p, line);
            }
            if (s.Dots)
                foreach (var (x, y) in s.Points) c.DrawCircle(X(x), Y(y), 3.5f, dot);
        }

        // Legend in the top right corner of the plot, one row per labelled series.
        float ly = top + 16;
        foreach (var s in Series.Where(s => s.Label is not null))
        {
            using var swatch = new SKPaint { Color = s.Color, StrokeWidth = 3, IsAntialias = true };
            float tx = left + pw - 12 - font.MeasureText(s.Label!);
            c.DrawLine(tx - 30, ly - 4, tx - 8, ly - 4, swatch);
            c.DrawText(s.Label!, tx, ly, SKTextAlign.Left, font, text);
            ly += 18;
        }

        c.DrawText(XLabel, left + pw / 2, Height - 12, SKTextAlign.Center, font, text);
        c.Save();
        c.RotateDegrees(-90, 16, top + ph / 2);
        c.DrawText(YLabel, 16, top + ph / 2, SKTextAlign.Center, font, text);
        c.Restore();
        c.DrawText(Title, left + pw / 2, 24, SKTextAlign.Center, titleFont, text);

        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        try { File.WriteAllBytes(path, data.ToArray()); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot write {path}: {e.Message}", e);
        }
    }
}
