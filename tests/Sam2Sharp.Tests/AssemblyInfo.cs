using System.Runtime.CompilerServices;
using Xunit;

// Torch already uses both cores of the CI machine, and some tests capture the console:
// running test classes one at a time is both faster and deterministic here.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

static class TestAssembly
{
    // A test that makes tensors before it touches a library type would start libtorch before the library's own module
    // initializer asks for huge pages; running that initializer first gives every test the library's settings.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "must run before the first tensor")]
    [ModuleInitializer]
    internal static void LibraryFirst() => RuntimeHelpers.RunModuleConstructor(typeof(Sam2Sharp.HugePages).Module.ModuleHandle);
}
