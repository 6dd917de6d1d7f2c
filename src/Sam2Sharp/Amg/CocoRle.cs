using System.Text;

namespace Sam2Sharp.Amg;

/// <summary>
/// Compressed COCO RLE as pycocotools' <c>frPyObjects</c> returns it (counts as a string).
/// </summary>
public sealed record CocoRle(int Height, int Width, string Counts)
{
    /// <summary>[h, w], as the reference's "size".</summary>
    public int[] Size => new[] { Height, Width };
}

/// <summary>
/// pycocotools' compact string form of RLE counts (maskApi.c rleToString / rleFrString).
/// Each count from index 3 on is stored as its difference from the count two places earlier
/// (the previous run of the same value; indices 0–2 are stored as they are), then written as 5-bit groups, least
/// significant first, each as the character 48 + group, with 0x20 set when more groups follow;
/// bit 0x10 of the last group is the sign.
/// </summary>
public static class CocoRleCodec
{
    /// <summary>The reference <c>coco_encode_rle</c>: uncompressed RLE → COCO RLE with string counts.</summary>
    public static CocoRle Encode(Rle rle) => new(rle.Height, rle.Width, CountsToString(rle.Counts));

    /// <summary>Decodes a COCO RLE back to the uncompressed form.</summary>
    public static Rle Decode(CocoRle rle) => new(rle.Height, rle.Width, StringToCounts(rle.Counts));

    /// <summary>Uncompressed RLE counts → pycocotools' string form (rleToString).</summary>
    public static string CountsToString(IReadOnlyList<int> counts)
    {
        var sb = new StringBuilder(counts.Count * 2);
        for (int i = 0; i < counts.Count; i++)
        {
            // pycocotools holds counts as uint and the delta as long.
            long x = (uint)counts[i];
            if (i > 2) x -= (uint)counts[i - 2];
            bool more = true;
            while (more)
            {
                int c = (int)(x & 0x1f);
                x >>= 5; // arithmetic: negative deltas end at -1
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more) c |= 0x20;
                sb.Append((char)(c + 48));
            }
        }
        return sb.ToString();
    }

    /// <summary>pycocotools' string form → the uncompressed counts (rleFrString).</summary>
    public static int[] StringToCounts(string s)
    {
        var counts = new List<int>();
        int p = 0;
        while (p < s.Length)
        {
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= s.Length) throw new FormatException("truncated COCO RLE string");
                long c = s[p] - 48;
                x |= (c & 0x1f) << (5 * k);
                more = (c & 0x20) != 0;
                p++;
                k++;
                if (!more && (c & 0x10) != 0) x |= -1L << (5 * k);
            }
            if (counts.Count > 2) x += counts[^2];
            counts.Add(checked((int)x));
        }
        return counts.ToArray();
    }
}
