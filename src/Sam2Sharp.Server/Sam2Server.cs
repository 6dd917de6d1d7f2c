using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sam2Sharp.Modeling;
using Sam2Sharp.Video;

namespace Sam2Sharp.Server;

/// <summary>
/// The annotator: a Kestrel server with the page (embedded) and the JSON API of docs/api.md over one shared model.
/// Start it, read <see cref="Url"/>, dispose it to close every session and remove their temporary files.
/// </summary>
public sealed class Sam2Server : IAsyncDisposable
{
    internal const string TokenCookie = "sam2_token";
    readonly WebApplication app;

    public ServeOptions Options { get; }
    public Sam2Base Model { get; }
    /// <summary>The token requests need (null: none, on loopback without <c>--token</c>).</summary>
    public string? Token { get; }
    public SessionStore Sessions { get; }
    internal MediaIntake Intake { get; }
    internal Sam2VideoPredictor VideoPredictor { get; }
    /// <summary>Where every model computation runs (one at a time, one thread).</summary>
    internal ComputeThread Compute { get; } = new();

    /// <summary>The address it listens on, once started (the port chosen when <see cref="ServeOptions.Port"/> is 0).</summary>
    public Uri Url { get; private set; } = null!;

    public Sam2Server(Sam2Base model, ServeOptions options)
    {
        options.Validate();
        Options = options;
        Model = model;
        Token = options.Token ?? (options.IsLoopback ? null : Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant());
        Sessions = new SessionStore(options.MaxSessions, TimeSpan.FromMinutes(options.IdleMinutes), Compute);
        Intake = new MediaIntake(options);
        VideoPredictor = new Sam2VideoPredictor(model, new Sam2VideoPredictorOptions { FeatureCacheFrames = options.EmbedAheadFrames });

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        string host = options.Host.Contains(':') && !options.Host.StartsWith('[') ? $"[{options.Host}]" : options.Host;
        builder.WebHost.UseUrls($"http://{host}:{options.Port}");
        long maxBody = (long)options.MaxUploadMb * 1024 * 1024 + 64 * 1024; // room for the multipart framing
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = maxBody);
        builder.Services.Configure<FormOptions>(f => f.MultipartBodyLengthLimit = maxBody);
        builder.Services.ConfigureHttpJsonOptions(j => j.SerializerOptions.Encoder = ApiException.Json.Encoder);
        app = builder.Build();
        app.Use(HandleErrors);
        app.Use(CheckAccess);
        StaticAssets.Map(app);
        Endpoints.Map(app, this);
    }

    public async Task StartAsync(CancellationToken ct = default)
    {
        try { await app.StartAsync(ct); }
        catch (IOException e) { throw new Sam2Exception($"cannot listen on {Options.Host}:{Options.Port}: {e.Message}", e); }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Url = new Uri(address.Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "[::1]") + "/");
    }

    /// <summary>Completes when the process is asked to stop (Ctrl-C, SIGTERM) or <paramref name="ct"/> is cancelled.</summary>
    public Task WaitForShutdownAsync(CancellationToken ct = default) => app.WaitForShutdownAsync(ct);

    /// <summary>Stops listening, closes every session (propagations cancelled) and frees their files.</summary>
    public async ValueTask DisposeAsync()
    {
        await Sessions.DisposeAsync();
        await app.StopAsync();
        await app.DisposeAsync();
        Compute.Dispose();
    }

    static async Task HandleErrors(HttpContext ctx, RequestDelegate next)
    {
        try { await next(ctx); }
        catch (Exception e) when (ctx.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException) { }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            var (status, message) = e switch
            {
                ApiException a => (a.Status, a.Message),
                Sam2Exception s => (ApiException.From(s).Status, s.Message),
                BadHttpRequestException b => (b.StatusCode, b.StatusCode == 413 ? "the upload is larger than the limit (--max-upload-mb)" : b.Message),
                InvalidDataException d when d.Message.Contains("limit", StringComparison.OrdinalIgnoreCase) =>
                    (StatusCodes.Status413PayloadTooLarge, "the upload is larger than the limit (--max-upload-mb)"),
                InvalidDataException d => (StatusCodes.Status400BadRequest, $"bad upload: {d.Message}"),
                _ => (StatusCodes.Status500InternalServerError, $"internal error ({e.GetType().Name}): {e.Message}"),
            };
            if (status == 500) Console.Error.WriteLine($"sam2 serve: {ctx.Request.Method} {ctx.Request.Path}: {e}");
            await ApiException.Write(ctx, status, message);
        }
    }

    /// <summary>
    /// With a token, every request needs it (header, or the cookie set by opening the page's URL with <c>?token=</c>).
    /// Without one (loopback), only loopback host names are served, so a web page elsewhere cannot reach the API
    /// through a rebound DNS name.
    /// </summary>
    Task CheckAccess(HttpContext ctx, RequestDelegate next)
    {
        if (Token is null)
        {
            string h = ctx.Request.Host.Host;
            if (h is not ("127.0.0.1" or "localhost" or "::1" or "[::1]"))
                return ApiException.Write(ctx, StatusCodes.Status401Unauthorized, $"host name '{h}' is not served without a token (use 127.0.0.1 or localhost)");
            return next(ctx);
        }
        string? given = ctx.Request.Headers.Authorization.ToString() is { Length: > 7 } a && a.StartsWith("Bearer ", StringComparison.Ordinal) ? a[7..]
            : ctx.Request.Headers["X-Sam2-Token"].FirstOrDefault() ?? ctx.Request.Cookies[TokenCookie];
        if (given is null && ctx.Request.Path == "/" && ctx.Request.Query["token"].FirstOrDefault() is { } q && Matches(q))
        {
            ctx.Response.Cookies.Append(TokenCookie, q, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/" });
            ctx.Response.Redirect("/");
            return Task.CompletedTask;
        }
        if (given is null || !Matches(given))
            return ApiException.Write(ctx, StatusCodes.Status401Unauthorized, "a valid token is needed: open the URL sam2 serve printed, or send 'Authorization: Bearer TOKEN'");
        return next(ctx);
    }

    bool Matches(string given) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(Token!));
}
