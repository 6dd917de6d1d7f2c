using System.Net.Http.Json;
using System.Text.Json;
using Sam2Sharp.Modeling;
using Sam2Sharp.Server;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>A real Kestrel server on 127.0.0.1 (a free port) over a golden micro model, and a client for it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public Sam2Server Server { get; }
    public HttpClient Http { get; }
    readonly bool ownsModel;

    TestServer(Sam2Server server, bool ownsModel)
    {
        Server = server;
        this.ownsModel = ownsModel;
        Http = new HttpClient { BaseAddress = server.Url, Timeout = TimeSpan.FromMinutes(3) };
    }

    /// <summary>The golden micro model as <c>sam2 serve</c> builds it (the video predictor's post-processing).</summary>
    public static Sam2Base LoadModel(string folder) =>
        Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"));

    public static async Task<TestServer> StartAsync(ServeOptions? options = null, string? folder = null, Sam2Base? model = null)
    {
        bool owns = model is null;
        model ??= LoadModel(folder ?? Golden.Folders()[0]);
        var server = new Sam2Server(model, (options ?? new ServeOptions()) with { Port = 0 });
        await server.StartAsync();
        return new TestServer(server, owns);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        if (ownsModel) Server.Model.Dispose();
    }

    public async Task<JsonElement> Json(HttpResponseMessage r)
    {
        string body = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"{(int)r.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    /// <summary>Asserts an error response: the status, a JSON body with one line in "error" (no stack trace), containing <paramref name="words"/>.</summary>
    public static async Task<string> AssertError(HttpResponseMessage r, int status, string? words = null)
    {
        string body = await r.Content.ReadAsStringAsync();
        Assert.True((int)r.StatusCode == status, $"expected {status}, got {(int)r.StatusCode}: {body}");
        Assert.StartsWith("application/json", r.Content.Headers.ContentType?.ToString());
        var doc = JsonDocument.Parse(body).RootElement;
        string error = doc.GetProperty("error").GetString()!;
        Assert.DoesNotContain('\n', error);
        Assert.DoesNotContain(" at Sam2Sharp", error);
        if (words is not null) Assert.Contains(words, error);
        return error;
    }

    public async Task<JsonElement> UploadAsync(string file)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(file)), "file", Path.GetFileName(file));
        return await Json(await Http.PostAsync("api/sessions", form));
    }

    public async Task<JsonElement> OpenPathAsync(string path) =>
        await Json(await Http.PostAsJsonAsync("api/sessions", new { path }));

    public Task<HttpResponseMessage> PostJson(string url, object body) => Http.PostAsJsonAsync(url, body);
}
