using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Sam2Sharp.Server;

/// <summary>A request the API refuses: an HTTP status and one line for <c>{"error": …}</c>.</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ApiException BadRequest(string message) => new(StatusCodes.Status400BadRequest, message);
    public static ApiException NotFound(string message) => new(StatusCodes.Status404NotFound, message);
    public static ApiException Conflict(string message) => new(StatusCodes.Status409Conflict, message);
    public static ApiException TooLarge(string message) => new(StatusCodes.Status413PayloadTooLarge, message);
    public static ApiException TooMany(string message) => new(StatusCodes.Status429TooManyRequests, message);
    public static ApiException Unauthorized(string message) => new(StatusCodes.Status401Unauthorized, message);

    /// <summary>The library's refusal as an API error, by its kind: 404 (not found), 413 (over a limit), else 400.</summary>
    public static ApiException From(Sam2Exception e, string prefix = "") => new(e.Kind switch
    {
        Sam2ErrorKind.NotFound => StatusCodes.Status404NotFound,
        Sam2ErrorKind.LimitExceeded => StatusCodes.Status413PayloadTooLarge,
        _ => StatusCodes.Status400BadRequest,
    }, prefix + e.Message);

    /// <summary>Writes <c>{"error": message}</c> (first line only) with the status.</summary>
    public static Task Write(HttpContext ctx, int status, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(new { error = OneLine(message) }, Json));
    }

    /// <summary>JSON as clients read it: no \u escapes for quotes and backticks (the responses are never embedded in HTML).</summary>
    public static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string OneLine(string message) => message.Split('\n')[0].Trim();
}
