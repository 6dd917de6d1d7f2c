namespace Sam2Sharp;

/// <summary>What a prompt point says about the object (the model's point labels).</summary>
public enum PointLabel
{
    /// <summary>The point is not on the object (label 0).</summary>
    Background = 0,
    /// <summary>The point is on the object (label 1).</summary>
    Foreground = 1,
    /// <summary>The top-left corner of a box (label 2); boxes are usually given as a <see cref="PromptBox"/>.</summary>
    BoxTopLeft = 2,
    /// <summary>The bottom-right corner of a box (label 3).</summary>
    BoxBottomRight = 3,
}

/// <summary>A click at (<paramref name="X"/>, <paramref name="Y"/>) in pixels of the image or video frame.</summary>
public readonly record struct PromptPoint(float X, float Y, PointLabel Label = PointLabel.Foreground)
{
    /// <summary>A click on the object.</summary>
    public static PromptPoint Foreground(float x, float y) => new(x, y, PointLabel.Foreground);
    /// <summary>A click off the object.</summary>
    public static PromptPoint Background(float x, float y) => new(x, y, PointLabel.Background);
}

/// <summary>A box from (<paramref name="X0"/>, <paramref name="Y0"/>) to (<paramref name="X1"/>, <paramref name="Y1"/>) in pixels.</summary>
public readonly record struct PromptBox(float X0, float Y0, float X1, float Y1)
{
    /// <summary>The corners as the array overloads take them: x0, y0, x1, y1.</summary>
    public float[] ToArray() => [X0, Y0, X1, Y1];

    /// <summary>Boxes as a B×4 array.</summary>
    public static float[,] ToArray(IReadOnlyList<PromptBox> boxes)
    {
        var a = new float[boxes.Count, 4];
        for (int i = 0; i < boxes.Count; i++) (a[i, 0], a[i, 1], a[i, 2], a[i, 3]) = (boxes[i].X0, boxes[i].Y0, boxes[i].X1, boxes[i].Y1);
        return a;
    }
}

/// <summary>Typed prompts to the arrays the predictors take.</summary>
internal static class PromptArrays
{
    /// <summary>N×2 coordinates and N labels, or nulls for no points.</summary>
    public static (float[,]? Coords, int[]? Labels) Points(IReadOnlyList<PromptPoint>? points)
    {
        if (points is null || points.Count == 0) return (null, null);
        var coords = new float[points.Count, 2];
        var labels = new int[points.Count];
        for (int i = 0; i < points.Count; i++)
        {
            if (!Enum.IsDefined(points[i].Label)) throw new Sam2Exception($"point {i}: label {(int)points[i].Label} is not a PointLabel (0 to 3)");
            (coords[i, 0], coords[i, 1], labels[i]) = (points[i].X, points[i].Y, (int)points[i].Label);
        }
        return (coords, labels);
    }
}
