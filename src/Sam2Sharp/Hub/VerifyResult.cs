namespace Sam2Sharp.Hub;

/// <summary>The outcome of re-hashing a cached checkpoint; a bad file has been removed.</summary>
public sealed record VerifyResult(ModelEntry Entry, string Path, bool Ok, string ActualSha256, long Length);
