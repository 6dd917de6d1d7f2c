using System.Globalization;

namespace Sam2Sharp.Cli.Commands;

/// <summary>Parses "X,Y[,LABEL]" points and "X0,Y0,X1,Y1" boxes given on the command line.</summary>
public static class PromptParsing
{
    public static (float X, float Y, int Label) Point(string text)
    {
        var p = text.Split(',');
        if (p.Length is < 2 or > 3 || !TryFloat(p[0], out var x) || !TryFloat(p[1], out var y))
            throw new Sam2Exception($"--point '{text}': expected X,Y or X,Y,LABEL");
        int label = 1;
        if (p.Length == 3 && !(int.TryParse(p[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out label) && label is 0 or 1))
            throw new Sam2Exception($"--point '{text}': the label must be 1 (foreground) or 0 (background)");
        return (x, y, label);
    }

    public static float[] Box(string text)
    {
        var p = text.Split(',');
        var v = new float[4];
        if (p.Length != 4 || Enumerable.Range(0, 4).Any(i => !TryFloat(p[i], out v[i])))
            throw new Sam2Exception($"--box '{text}': expected X0,Y0,X1,Y1");
        if (v[2] < v[0] || v[3] < v[1]) throw new Sam2Exception($"--box '{text}': X1,Y1 must not be left of or above X0,Y0");
        return v;
    }

    static bool TryFloat(string s, out float v) =>
        float.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out v) && float.IsFinite(v);

    /// <summary>Refuses coordinates outside a W×H image, naming the option.</summary>
    public static void CheckInside(string what, float x, float y, int width, int height) => Imaging.ImageBounds.CheckInside(what, x, y, width, height);
}
