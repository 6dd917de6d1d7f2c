namespace Sam2Sharp.Server;

/// <summary>What <c>sam2 serve</c> is started with: where it listens, who may use it, and its limits.</summary>
public sealed record ServeOptions
{
    /// <summary>The address to bind; anything but a loopback address needs a token.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>The TCP port (0: any free port, e.g. for tests).</summary>
    public int Port { get; init; } = 7263;
    /// <summary>The only folder whose files sessions may open by path (null: uploads only).</summary>
    public string? DataDir { get; init; }
    /// <summary>The token every request must carry (null: none on loopback, a generated one on other hosts).</summary>
    public string? Token { get; init; }
    /// <summary>Sessions open at once; one more is refused with 429.</summary>
    public int MaxSessions { get; init; } = 8;
    /// <summary>A session unused this long is closed.</summary>
    public double IdleMinutes { get; init; } = 30;
    /// <summary>The largest upload (and unpacked frame archive) in MiB.</summary>
    public int MaxUploadMb { get; init; } = 512;
    /// <summary>The most frames a video may have.</summary>
    public int MaxFrames { get; init; } = 3000;
    /// <summary>Video frames are shrunk to fit this long side and short side (the reference demo's 1280×720).</summary>
    public int MaxLongSide { get; init; } = 1280;
    public int MaxShortSide { get; init; } = 720;
    /// <summary>Images larger than this many pixels on a side are refused (they are embedded at the model's size anyway).</summary>
    public int MaxImageSide { get; init; } = 8192;
    /// <summary>
    /// Video frames whose image features a session keeps: the current one and those after it are embedded ahead in
    /// idle time, so a click or a propagation there skips the encoder (1: no embedding ahead). Each frame costs the
    /// encoder's outputs (about 100 MB at 1024 pixels).
    /// </summary>
    public int EmbedAheadFrames { get; init; } = 4;
    /// <summary>What /api/health names as the model.</summary>
    public string ModelName { get; init; } = "sam2";

    /// <summary>Refuses options that cannot work, with one line naming the option.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new Sam2Exception($"--port {Port}: must be 0 to 65535");
        if (MaxSessions < 1) throw new Sam2Exception("--max-sessions must be at least 1");
        if (!(IdleMinutes > 0) || !double.IsFinite(IdleMinutes)) throw new Sam2Exception("--idle-minutes must be a positive number");
        if (MaxUploadMb < 1) throw new Sam2Exception("--max-upload-mb must be at least 1");
        if (MaxFrames < 1) throw new Sam2Exception("--max-frames must be at least 1");
        if (EmbedAheadFrames is < 1 or > 64) throw new Sam2Exception("--embed-ahead must be 1 to 64 frames");
        if (DataDir is not null && !Directory.Exists(DataDir)) throw new Sam2Exception($"--data {DataDir}: no such folder");
        if (Token is not null && Token.Length < 8) throw new Sam2Exception("--token must be at least 8 characters");
        if (string.IsNullOrWhiteSpace(Host)) throw new Sam2Exception("--host is empty");
    }

    /// <summary>Whether <see cref="Host"/> is reachable only from this machine.</summary>
    public bool IsLoopback => Host is "127.0.0.1" or "localhost" or "::1" or "[::1]"
        || (System.Net.IPAddress.TryParse(Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip));
}
