using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Sam2Sharp.Server;

/// <summary>The page's files, served from the assembly's embedded resources.</summary>
static class StaticAssets
{
    static readonly (string Route, string Resource, string ContentType)[] Files =
    {
        ("/", "wwwroot/index.html", "text/html; charset=utf-8"),
        ("/app.js", "wwwroot/app.js", "text/javascript; charset=utf-8"),
        ("/rle.js", "wwwroot/rle.js", "text/javascript; charset=utf-8"),
        ("/app.css", "wwwroot/app.css", "text/css; charset=utf-8"),
    };

    public static void Map(WebApplication app)
    {
        var asm = typeof(StaticAssets).Assembly;
        foreach (var (route, resource, type) in Files)
        {
            using var s = asm.GetManifestResourceStream(resource) ?? throw new InvalidOperationException($"embedded asset {resource} is missing");
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            var bytes = ms.ToArray();
            app.MapGet(route, (HttpContext ctx) =>
            {
                ctx.Response.Headers.CacheControl = "no-cache";
                return Results.Bytes(bytes, type);
            });
        }
    }
}
