using Xunit;

// Torch already uses both cores of the CI machine, and some tests capture the console:
// running test classes one at a time is both faster and deterministic here.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
