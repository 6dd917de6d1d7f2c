using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Sam2Sharp.Server;

/// <summary>What <see cref="LoadBenchmark"/> measured: click-to-mask latencies, frames tracked, errors.</summary>
public sealed record LoadBenchmarkResult(IReadOnlyList<double> PromptMs, int PropagatedFrames, IReadOnlyList<string> Errors, double WallSeconds);

/// <summary>
/// A bounded load on a running server over loopback: <c>clients</c> image sessions each sending <c>prompts</c> clicks
/// one after another (every client at once), while <c>propagations</c> video sessions each track one object.
/// Every request goes through the HTTP API, as the page's would.
/// </summary>
public static class LoadBenchmark
{
    public static async Task<LoadBenchmarkResult> RunAsync(Uri server, string? token, string imagePath, string videoPath,
        int clients = 8, int prompts = 20, int propagations = 2, int maxFrames = 30, CancellationToken ct = default)
    {
        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(30) };
        if (token is not null) http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var latencies = new List<double>();
        var errors = new List<string>();
        int frames = 0;
        var (img, vid) = (await File.ReadAllBytesAsync(imagePath, ct), videoPath);

        async Task<string> Open(HttpContent body)
        {
            var r = await http.PostAsync("api/sessions", body, ct);
            var text = await r.Content.ReadAsStringAsync(ct);
            if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"open: {(int)r.StatusCode} {text}");
            return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
        }

        async Task Client(int k)
        {
            using var form = new MultipartFormDataContent { { new ByteArrayContent(img), "file", Path.GetFileName(imagePath) } };
            string id = await Open(form);
            var (w, h) = await Size(http, id, ct);
            var rng = new Random(k);
            for (int i = 0; i < prompts; i++)
            {
                var body = new { frame = 0, obj_id = 1 + i % 3, points = new[] { new[] { rng.Next(w), rng.Next(h) } }, labels = new[] { 1 } };
                var sw = Stopwatch.StartNew();
                var r = await http.PostAsJsonAsync($"api/sessions/{id}/prompts", body, ct);
                await r.Content.ReadAsByteArrayAsync(ct);
                sw.Stop();
                lock (latencies)
                {
                    if (r.IsSuccessStatusCode) latencies.Add(sw.Elapsed.TotalMilliseconds);
                    else errors.Add($"prompt: {(int)r.StatusCode}");
                }
            }
            await http.DeleteAsync($"api/sessions/{id}", ct);
        }

        async Task Propagation()
        {
            string id = await Open(JsonContent.Create(new { path = vid }));
            var (w, h) = await Size(http, id, ct);
            var p = await http.PostAsJsonAsync($"api/sessions/{id}/prompts", new { frame = 0, obj_id = 1, points = new[] { new[] { w / 2, h / 2 } }, labels = new[] { 1 } }, ct);
            if (!p.IsSuccessStatusCode) { lock (latencies) errors.Add($"video prompt: {(int)p.StatusCode}"); return; }
            using var req = new HttpRequestMessage(HttpMethod.Post, $"api/sessions/{id}/propagate") { Content = JsonContent.Create(new { start_frame = 0, max_frames = maxFrames }) };
            using var r = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
            using var reader = new StreamReader(await r.Content.ReadAsStreamAsync(ct));
            string? line;
            while ((line = await reader.ReadLineAsync(ct)) is not null)
            {
                if (line == "event: frame") Interlocked.Increment(ref frames);
                if (line == "event: error")
                {
                    string? data = await reader.ReadLineAsync(ct);
                    lock (latencies) errors.Add("propagation: " + data);
                }
            }
            await http.DeleteAsync($"api/sessions/{id}", ct);
        }

        var wall = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, clients).Select(Client).Concat(Enumerable.Range(0, propagations).Select(_ => Propagation())).ToList();
        try { await Task.WhenAll(tasks); }
        catch (Exception) { foreach (var t in tasks.Where(t => t.IsFaulted)) errors.Add(t.Exception!.InnerException!.Message); }
        return new LoadBenchmarkResult(latencies, frames, errors, wall.Elapsed.TotalSeconds);
    }

    static async Task<(int W, int H)> Size(HttpClient http, string id, CancellationToken ct)
    {
        var s = JsonDocument.Parse(await http.GetStringAsync($"api/sessions/{id}", ct)).RootElement;
        return (s.GetProperty("width").GetInt32(), s.GetProperty("height").GetInt32());
    }
}
