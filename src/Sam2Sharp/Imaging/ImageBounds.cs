using System.Globalization;

namespace Sam2Sharp.Imaging;

/// <summary>Checks that prompt coordinates lie on an image.</summary>
public static class ImageBounds
{
    /// <summary>Refuses a non-finite point or one outside a W×H image (its edges included), naming <paramref name="what"/>.</summary>
    /// <exception cref="Sam2Exception">the point is outside the image.</exception>
    public static void CheckInside(string what, float x, float y, int width, int height)
    {
        if (!float.IsFinite(x) || !float.IsFinite(y) || x < 0 || y < 0 || x > width || y > height)
            throw new Sam2Exception($"{what} ({x.ToString(CultureInfo.InvariantCulture)},{y.ToString(CultureInfo.InvariantCulture)}) is outside the {width}×{height} image");
    }
}
