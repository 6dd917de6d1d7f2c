using System.Runtime.CompilerServices;
using Xunit;

// Torch already uses both cores of the CI machine, and some tests capture the console:
// running test classes one at a time is both faster and deterministic here.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

static class TestAssembly
{
    // The tests ask for huge pages as `sam2 amg` does, before their first tensor, so that HugePagesTests can see libtorch
    // take them (everything else gives the same numbers either way).
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "must run before the first tensor")]
    [ModuleInitializer]
    internal static void HugePagesFirst() => Sam2Sharp.HugePages.Request();
}
