using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Imaging;

/// <summary>What the library's own CPU kernels (mask resizing, threshold counts, boxes, RLE) share.</summary>
internal static class CpuKernel
{
    /// <summary>Whether a kernel can read <paramref name="t"/> in place: of <paramref name="dtype"/>, contiguous, in CPU memory, at least <paramref name="dims"/> dimensions.</summary>
    public static bool Reads(Tensor t, ScalarType dtype, int dims) =>
        t.device_type == DeviceType.CPU && t.dtype == dtype && t.dim() >= dims && t.is_contiguous();

    /// <summary>As many workers as torch has threads: the kernels run between torch's operators, on the same cores.</summary>
    public static ParallelOptions TorchThreads => new() { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) };
}
