namespace Sam2Sharp;

/// <summary>An <see cref="IProgress{T}"/> that calls its handler at once on the reporting thread (unlike
/// <see cref="Progress{T}"/>, which posts), so that reports stay in order.</summary>
public sealed class InlineProgress<T>(Action<T> handler) : IProgress<T>
{
    /// <summary>Calls the handler with <paramref name="value"/>.</summary>
    public void Report(T value) => handler(value);
}
