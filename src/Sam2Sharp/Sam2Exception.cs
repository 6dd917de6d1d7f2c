namespace Sam2Sharp;

/// <summary>What kind of problem a <see cref="Sam2Exception"/> reports, for callers that answer differently (HTTP statuses).</summary>
public enum Sam2ErrorKind
{
    /// <summary>The input is wrong (a bad value, format or combination).</summary>
    Invalid,
    /// <summary>Something named does not exist (a file, a path under a root).</summary>
    NotFound,
    /// <summary>The input is over a size or count limit.</summary>
    LimitExceeded,
}

/// <summary>
/// A problem with what the user gave (a file, key, frame, object, option). The CLI prints its
/// message as one line and exits non-zero; library callers can catch it apart from bugs, and tell
/// its <see cref="Kind"/> without reading the message.
/// </summary>
public sealed class Sam2Exception(string message, Exception? inner = null, Sam2ErrorKind kind = Sam2ErrorKind.Invalid)
    : Exception(message, inner)
{
    /// <summary>What kind of problem it is.</summary>
    public Sam2ErrorKind Kind { get; } = kind;

    /// <summary>Something named does not exist.</summary>
    public static Sam2Exception NotFound(string message) => new(message, kind: Sam2ErrorKind.NotFound);

    /// <summary>The input is over a limit.</summary>
    public static Sam2Exception LimitExceeded(string message) => new(message, kind: Sam2ErrorKind.LimitExceeded);
}
