namespace Sam2Sharp;

/// <summary>
/// A problem with what the user gave (a file, key, frame, object, option). The CLI prints its
/// message as one line and exits non-zero; library callers can catch it apart from bugs.
/// </summary>
public sealed class Sam2Exception(string message, Exception? inner = null) : Exception(message, inner);
