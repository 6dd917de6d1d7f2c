using System.IO.Compression;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sam2Sharp.Amg;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.IO;
using Sam2Sharp.Server;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The annotator's API on a real Kestrel (loopback) with the golden micro models.</summary>
public sealed class ServerApiTests
{
    static string GoldenInputs(string folder) => Path.Combine(folder, "inputs");

    /// <summary>The image_predict cases the server's rule reproduces: one click alone is multimask (best mask), anything else one mask.</summary>
    public static IEnumerable<object[]> ImageCases() => Golden.CasesOfKind("image_predict").Where(x =>
    {
        var c = Golden.Case((string)x[0], (string)x[1]);
        var p = c.GetProperty("prompts");
        if (p.TryGetProperty("mask_input", out _)) return false;
        bool hasBox = p.TryGetProperty("box", out var b);
        if (hasBox && b[0].ValueKind == JsonValueKind.Array) return false; // batched boxes
        int points = p.TryGetProperty("point_coords", out var pc) ? pc.GetArrayLength() : 0;
        return c.GetProperty("multimask_output").GetBoolean() == (points == 1 && !hasBox);
    });

    static bool[] Decode(JsonElement rle) =>
        AmgUtils.RleToMaskArray(CocoRleCodec.Decode(new CocoRle(rle.GetProperty("size")[0].GetInt32(), rle.GetProperty("size")[1].GetInt32(), rle.GetProperty("counts").GetString()!)));

    static double Iou(bool[] a, bool[] b)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++) { if (a[i] && b[i]) inter++; if (a[i] || b[i]) union++; }
        return union == 0 ? 1 : (double)inter / union;
    }

    [Theory]
    [MemberData(nameof(ImageCases))]
    public async Task PromptMaskIsTheGoldenImagePredictMask(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var p = c.GetProperty("prompts");
        await using var t = await TestServer.StartAsync(folder: folder);
        var s = await t.UploadAsync(Path.Combine(folder, c.GetProperty("image").GetString()!));
        Assert.Equal("image", s.GetProperty("kind").GetString());
        var body = new JsonObject { ["frame"] = 0, ["obj_id"] = 1 };
        if (p.TryGetProperty("point_coords", out var pc)) { body["points"] = JsonNode.Parse(pc.GetRawText()); body["labels"] = JsonNode.Parse(p.GetProperty("point_labels").GetRawText()); }
        if (p.TryGetProperty("box", out var box)) body["box"] = JsonNode.Parse(box.GetRawText());
        var r = await t.Json(await t.Http.PostAsync($"api/sessions/{s.GetProperty("id").GetString()}/prompts",
            new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json")));
        var m = r.GetProperty("masks").EnumerateArray().Single();
        Assert.Equal(1, m.GetProperty("obj_id").GetInt32());

        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        int best = (int)exp["iou_predictions"].reshape(-1).argmax().item<long>();
        var expMask = exp["masks"].reshape(-1, exp["masks"].shape[^2], exp["masks"].shape[^1])[best];
        var expected = (expMask.to_type(float32) > 0).reshape(-1).data<bool>().ToArray();
        Assert.True(Iou(Decode(m.GetProperty("rle")), expected) >= 0.995, $"{name}: IoU below 0.995");
        Assert.Equal(exp["iou_predictions"].reshape(-1)[best].item<float>(), m.GetProperty("score").GetDouble(), 1e-3);
    }

    /// <summary>Reads server-sent events until <paramref name="stopAfter"/> says stop (or the stream ends).</summary>
    static async Task<List<(string Event, JsonElement Data)>> ReadEvents(HttpResponseMessage r, Func<(string Event, JsonElement Data), bool>? stopAfter = null)
    {
        var events = new List<(string, JsonElement)>();
        using var reader = new StreamReader(await r.Content.ReadAsStreamAsync());
        string? ev = null, line;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            if (line.StartsWith("event: ")) ev = line[7..];
            else if (line.StartsWith("data: "))
            {
                var e = (ev!, JsonDocument.Parse(line[6..]).RootElement);
                events.Add(e);
                if (stopAfter?.Invoke(e) == true) break;
            }
        }
        return events;
    }

    static Task<HttpResponseMessage> StartPropagation(TestServer t, string id, object body) =>
        t.Http.SendAsync(new HttpRequestMessage(HttpMethod.Post, $"api/sessions/{id}/propagate") { Content = JsonContent.Create(body) },
            HttpCompletionOption.ResponseHeadersRead);

    [Fact]
    public async Task VideoSessionThroughTheApiGivesTheMasksOfSam2Video()
    {
        var folder = Golden.Folders()[0];
        string video = Path.Combine(GoldenInputs(folder), "video");
        var steps = new[]
        {
            """{"op":"add_points","frame":0,"obj_id":1,"points":[[144,108],[192,54]],"labels":[1,0]}""",
            """{"op":"add_box","frame":0,"obj_id":2,"box":[198,18,288,81]}""",
            """{"op":"propagate"}""",
            """{"op":"add_points","frame":6,"obj_id":1,"points":[[150,100]],"labels":[0],"clear_old_points":false}""",
            """{"op":"propagate","start_frame":6}""",
        };
        string tmp = TestCli.TempDir("sam2-serve-video-");
        try
        {
            // sam2 video on the steps
            string stepsFile = Path.Combine(tmp, "steps.json"), outDir = Path.Combine(tmp, "cli");
            File.WriteAllText(stepsFile, "{\"steps\":[" + string.Join(",", steps) + "]}");
            var (code, err) = TestCli.RunCapturingErrors(VideoCommand.Create(), "video", "--checkpoint", Path.Combine(folder, "model.pt"),
                "--config", Path.Combine(folder, "config.yaml"), "--input", video, "--prompts", stepsFile, "--output", outDir);
            Assert.True(code == 0, err);

            // the same steps through the API
            await using var t = await TestServer.StartAsync(new ServeOptions { DataDir = GoldenInputs(folder) }, folder);
            var s = await t.OpenPathAsync("video");
            string id = s.GetProperty("id").GetString()!;
            Assert.Equal(("video", 10, 320, 180), (s.GetProperty("kind").GetString(), s.GetProperty("frames").GetInt32(), s.GetProperty("width").GetInt32(), s.GetProperty("height").GetInt32()));
            await t.Json(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 0, obj_id = 1, points = new[] { new[] { 144, 108 }, new[] { 192, 54 } }, labels = new[] { 1, 0 } }));
            var two = await t.Json(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 0, obj_id = 2, box = new[] { 198, 18, 288, 81 } }));
            Assert.Equal(new[] { 1, 2 }, two.GetProperty("masks").EnumerateArray().Select(m => m.GetProperty("obj_id").GetInt32()));
            // Video scores: the probability that the object is on the frame.
            Assert.All(two.GetProperty("masks").EnumerateArray(), m => Assert.InRange(m.GetProperty("score").GetDouble(), 0, 1));
            var first = await ReadEvents(await StartPropagation(t, id, new { }));
            Assert.All(first.Where(e => e.Event == "frame").SelectMany(e => e.Data.GetProperty("masks").EnumerateArray()),
                m => Assert.InRange(m.GetProperty("score").GetDouble(), 0, 1));
            Assert.Equal(Enumerable.Range(0, 10), first.Where(e => e.Event == "frame").Select(e => e.Data.GetProperty("frame").GetInt32()));
            Assert.Equal("done", first[^1].Event);
            Assert.Equal(10, first[^1].Data.GetProperty("frames").GetInt32());
            await t.Json(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 6, obj_id = 1, points = new[] { new[] { 150, 100 } }, labels = new[] { 0 }, clear_old_points = false }));
            var second = await ReadEvents(await StartPropagation(t, id, new { start_frame = 6, direction = "forward" }));
            Assert.Equal(Enumerable.Range(6, 4), second.Where(e => e.Event == "frame").Select(e => e.Data.GetProperty("frame").GetInt32()));

            // The DAVIS export holds every frame's last state: the PNGs sam2 video wrote.
            var zipBytes = await (await t.Http.GetAsync($"api/sessions/{id}/export?format=davis")).Content.ReadAsByteArrayAsync();
            using var zip = new ZipArchive(new MemoryStream(zipBytes));
            var cliPngs = Directory.GetFiles(outDir).Select(Path.GetFileName).Order().ToList();
            Assert.Equal(cliPngs, zip.Entries.Select(e => e.FullName).Order().ToList());
            foreach (var e in zip.Entries)
            {
                using var ms = new MemoryStream();
                using (var es = e.Open()) es.CopyTo(ms);
                ms.Position = 0;
                var api = PalettePng.Read(ms, e.FullName);
                var cli = PalettePng.Read(Path.Combine(outDir, e.FullName));
                Assert.Equal(cli.Samples, api.Samples);
                Assert.Equal(cli.Palette, api.Palette);
            }
            // The streamed masks of the last propagation are those frames' exported state.
            var last = second.Where(e => e.Event == "frame").Last().Data;
            var labels = PalettePng.Read(Path.Combine(outDir, "00009.png")).Samples;
            foreach (var m in last.GetProperty("masks").EnumerateArray())
            {
                int obj = m.GetProperty("obj_id").GetInt32();
                var mask = Decode(m.GetProperty("rle"));
                // Where objects overlap the smaller id is in the label map; object 1's pixels are all its own.
                if (obj == 1) Assert.Equal(labels.Select(v => v == 1).ToArray(), mask);
            }

            // The overlay video: every frame, at the session's size.
            string mp4 = Path.Combine(tmp, "overlay.mp4");
            File.WriteAllBytes(mp4, await t.Http.GetByteArrayAsync($"api/sessions/{id}/export?format=video"));
            var probe = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
                "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", mp4]) { RedirectStandardOutput = true })!;
            string info = probe.StandardOutput.ReadToEnd().Trim();
            probe.WaitForExit();
            Assert.Equal("320,180,10", info);
        }
        finally { Directory.Delete(tmp, recursive: true); }
    }

    [Fact]
    public async Task ExportsHoldThePromptedMask()
    {
        var folder = Golden.Folders()[0];
        await using var t = await TestServer.StartAsync(folder: folder);
        var s = await t.UploadAsync(Path.Combine(GoldenInputs(folder), "image.png"));
        string id = s.GetProperty("id").GetString()!;
        var r = await t.Json(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 0, obj_id = 3, box = new[] { 30, 120, 570, 360 } }));
        var mask = Decode(r.GetProperty("masks")[0].GetProperty("rle"));
        await t.Json(await t.Http.PutAsJsonAsync($"api/sessions/{id}/objects/3", new { name = "street" }));

        var coco = JsonDocument.Parse(await t.Http.GetStringAsync($"api/sessions/{id}/export?format=coco")).RootElement;
        var ann = coco.GetProperty("annotations").EnumerateArray().Single();
        Assert.Equal(3, ann.GetProperty("category_id").GetInt32());
        Assert.Equal("street", coco.GetProperty("categories")[0].GetProperty("name").GetString());
        Assert.Equal(mask, Decode(ann.GetProperty("segmentation")));
        Assert.Equal(mask.Count(b => b), ann.GetProperty("area").GetInt64());

        var poly = JsonDocument.Parse(await t.Http.GetStringAsync($"api/sessions/{id}/export?format=polygons")).RootElement;
        var segs = poly.GetProperty("annotations")[0].GetProperty("segmentation");
        Assert.True(segs.GetArrayLength() >= 1);
        Assert.All(segs.EnumerateArray(), p => Assert.True(p.GetArrayLength() >= 8 && p.GetArrayLength() % 2 == 0));

        using var masks = new ZipArchive(new MemoryStream(await t.Http.GetByteArrayAsync($"api/sessions/{id}/export?format=masks")));
        var entry = masks.Entries.Single();
        Assert.Equal("003/image.png", entry.FullName);
        using var ms = new MemoryStream();
        using (var es = entry.Open()) es.CopyTo(ms);
        ms.Position = 0;
        Assert.Equal(mask.Select(b => b ? (ushort)255 : (ushort)0).ToArray(), PalettePng.Read(ms, "mask").Samples);
        await TestServer.AssertError(await t.Http.GetAsync($"api/sessions/{id}/export?format=tiff"), 400, "format");
    }

    [Fact]
    public async Task ErrorsAreOneLineJsonWithTheirStatus()
    {
        var folder = Golden.Folders()[0];
        var data = TestCli.TempDir("sam2-serve-data-");
        try
        {
            File.Copy(Path.Combine(GoldenInputs(folder), "image.png"), Path.Combine(data, "image.png"));
            File.CreateSymbolicLink(Path.Combine(data, "out"), Path.GetTempPath());
            var model = TestServer.LoadModel(folder);
            try
            {
                await using (var t = await TestServer.StartAsync(new ServeOptions { DataDir = data, MaxSessions = 1, MaxUploadMb = 1, MaxFrames = 5 }, model: model))
                {
                    // 400: bad requests name the field
                    await TestServer.AssertError(await t.PostJson("api/sessions", new { path = "../etc/passwd" }), 400, "..");
                    await TestServer.AssertError(await t.PostJson("api/sessions", new { path = "out" }), 400, "outside");
                    await TestServer.AssertError(await t.PostJson("api/sessions", new { path = "/etc/passwd" }), 400, "relative");
                    await TestServer.AssertError(await t.PostJson("api/sessions", new { path = "nothing.png" }), 404, "does not exist");
                    await TestServer.AssertError(await t.PostJson("api/sessions", new { pathx = "x" }), 400, "pathx");
                    // 413: an upload over the cap, a video over the frame cap
                    // With Expect: 100-continue (as large uploads are sent) the refusal comes before the body.
                    using (var big = new HttpRequestMessage(HttpMethod.Post, "api/sessions")
                    { Content = new MultipartFormDataContent { { new ByteArrayContent(new byte[2 * 1024 * 1024]), "file", "big.png" } } })
                    {
                        big.Headers.ExpectContinue = true;
                        await TestServer.AssertError(await t.Http.SendAsync(big), 413, "--max-upload-mb");
                    }
                    using (var frames = new MultipartFormDataContent())
                    {
                        foreach (var f in Directory.GetFiles(Path.Combine(GoldenInputs(folder), "video")))
                            frames.Add(new ByteArrayContent(File.ReadAllBytes(f)), "file", Path.GetFileName(f));
                        await TestServer.AssertError(await t.Http.PostAsync("api/sessions", frames), 413, "limit is 5");
                    }
                    // 413 from the library's limit, by its kind: a zip of more frames than the cap
                    using (var ms = new MemoryStream())
                    {
                        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
                            foreach (var f in Directory.GetFiles(Path.Combine(GoldenInputs(folder), "video")))
                                zip.CreateEntryFromFile(f, Path.GetFileName(f));
                        using var form = new MultipartFormDataContent { { new ByteArrayContent(ms.ToArray()), "file", "frames.zip" } };
                        await TestServer.AssertError(await t.Http.PostAsync("api/sessions", form), 413, "more than 5 frames (the limit)");
                    }
                    var s = await t.OpenPathAsync("image.png");
                    string id = s.GetProperty("id").GetString()!;
                    // 429: one session is the cap
                    await TestServer.AssertError(await t.PostJson("api/sessions", new { path = "image.png" }), 429, "--max-sessions");
                    // 400 with the field named, 404 for unknown session, frame and object
                    await TestServer.AssertError(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 0, points = new[] { new[] { 1, 2 } }, labels = new[] { 1 } }), 400, "'obj_id'");
                    await TestServer.AssertError(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 0, obj_id = 1, points = new[] { new[] { 1, 2 } }, labels = new[] { 1, 0 } }), 400, "one label per point");
                    await TestServer.AssertError(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 0, obj_id = 1, box = new[] { 5, 5, 1 } }), 400, "'box'");
                    await TestServer.AssertError(await t.Http.PostAsync($"api/sessions/{id}/prompts", new StringContent("{", Encoding.UTF8, "application/json")), 400, "JSON");
                    await TestServer.AssertError(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 3, obj_id = 1, points = new[] { new[] { 1, 2 } }, labels = new[] { 1 } }), 404, "frame 3");
                    await TestServer.AssertError(await t.PostJson("api/sessions/nope/prompts", new { frame = 0, obj_id = 1 }), 404, "session nope");
                    await TestServer.AssertError(await t.Http.GetAsync($"api/sessions/{id}/frames/7"), 404, "frame 7");
                    await TestServer.AssertError(await t.Http.DeleteAsync($"api/sessions/{id}/objects/4"), 404, "object 4");
                    await TestServer.AssertError(await t.PostJson($"api/sessions/{id}/propagate", new { }), 400, "video");
                    await TestServer.AssertError(await t.Http.GetAsync($"api/sessions/{id}/export?format=coco"), 400, "nothing to export");
                    await TestServer.AssertError(await t.Http.GetAsync("api/nothing"), 404);
                    // a closed session is gone, with its temporary folder
                    await t.Json(await t.Http.DeleteAsync($"api/sessions/{id}"));
                    await TestServer.AssertError(await t.Http.GetAsync($"api/sessions/{id}"), 404);
                }
                // 401: another host needs the token; the page's URL with ?token= sets a cookie
                await using (var t = await TestServer.StartAsync(new ServeOptions { Host = "127.0.0.1", Token = "secret-token-1" }, model: model))
                {
                    await TestServer.AssertError(await t.Http.GetAsync("api/health"), 401, "token");
                    await TestServer.AssertError(await t.Http.GetAsync("/"), 401);
                    using var ok = new HttpRequestMessage(HttpMethod.Get, "api/health");
                    ok.Headers.Authorization = new("Bearer", "secret-token-1");
                    Assert.Equal("ok", (await t.Json(await t.Http.SendAsync(ok))).GetProperty("status").GetString());
                    using var wrong = new HttpRequestMessage(HttpMethod.Get, "api/health");
                    wrong.Headers.Add("X-Sam2-Token", "secret-token-2");
                    await TestServer.AssertError(await t.Http.SendAsync(wrong), 401);
                    var page = await t.Http.GetAsync("/?token=secret-token-1");
                    Assert.Contains("<canvas", await page.Content.ReadAsStringAsync()); // redirected, with the cookie
                }
                Assert.False(new ServeOptions { Host = "0.0.0.0" }.IsLoopback);
                Assert.Null(Record.Exception(() => new ServeOptions { Host = "::1" }.Validate()));
            }
            finally { model.Dispose(); }
        }
        finally { Directory.Delete(data, recursive: true); }
    }

    [Fact]
    public async Task OnePropagationPerSessionCancelledOrStoppedByADisconnect()
    {
        var folder = Golden.Folders()[0];
        await using var t = await TestServer.StartAsync(new ServeOptions { DataDir = Path.Combine(Golden.SharedDir, "samples", "videos") }, folder);
        var s = await t.OpenPathAsync("01_dog.mp4");
        string id = s.GetProperty("id").GetString()!;
        Assert.Equal((1280, 720, 289), (s.GetProperty("width").GetInt32(), s.GetProperty("height").GetInt32(), s.GetProperty("frames").GetInt32()));
        await t.Json(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 0, obj_id = 1, points = new[] { new[] { 640, 400 } }, labels = new[] { 1 } }));

        // While it runs: 409 for another propagation and for prompts; cancel stops it at the next frame.
        var running = await StartPropagation(t, id, new { start_frame = 0, max_frames = 200 });
        var events = ReadEvents(running, e => e.Event == "done");
        await Task.Delay(300);
        await TestServer.AssertError(await t.PostJson($"api/sessions/{id}/propagate", new { }), 409, "already running");
        await TestServer.AssertError(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 5, obj_id = 1, points = new[] { new[] { 10, 10 } }, labels = new[] { 1 } }), 409, "propagation");
        Assert.True((await t.Json(await t.Http.PostAsync($"api/sessions/{id}/cancel", null))).GetProperty("cancelled").GetBoolean());
        var got = await events;
        Assert.Equal("done", got[^1].Event);
        Assert.True(got[^1].Data.GetProperty("cancelled").GetBoolean());
        Assert.True(got[^1].Data.GetProperty("frames").GetInt32() < 200);

        // A client that goes away stops it too: the session takes prompts again shortly after.
        using (var cts = new CancellationTokenSource())
        {
            var r = await StartPropagation(t, id, new { start_frame = 0, max_frames = 200, direction = "forward" });
            var stream = await r.Content.ReadAsStreamAsync();
            await stream.ReadAsync(new byte[64]);
            r.Dispose();
        }
        var deadline = DateTime.UtcNow.AddSeconds(20);
        HttpResponseMessage prompt;
        do
        {
            await Task.Delay(200);
            prompt = await t.PostJson($"api/sessions/{id}/prompts", new { frame = 3, obj_id = 1, points = new[] { new[] { 640, 400 } }, labels = new[] { 1 } });
        } while ((int)prompt.StatusCode == 409 && DateTime.UtcNow < deadline);
        Assert.Equal(200, (int)prompt.StatusCode);
    }

    static async Task<JsonElement> StatusWhen(TestServer t, string id, Func<JsonElement, bool> done)
    {
        var until = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var st = await t.Json(await t.Http.GetAsync($"api/sessions/{id}/status"));
            Assert.True(st.GetProperty("error").ValueKind == JsonValueKind.Null, st.ToString());
            double p = st.GetProperty("progress").GetDouble();
            Assert.InRange(p, 0, 1);
            if (done(st)) return st;
            Assert.True(DateTime.UtcNow < until, $"status never reached the expected state: {st}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task SessionsReportTheirEmbeddingAndEmbedFramesAheadWithinTheCap()
    {
        var folder = Golden.Folders()[0];
        await using var t = await TestServer.StartAsync(new ServeOptions { DataDir = GoldenInputs(folder), EmbedAheadFrames = 3 }, folder);
        var image = await t.OpenPathAsync("image.png");
        var done = await StatusWhen(t, image.GetProperty("id").GetString()!, st => st.GetProperty("ready").GetBoolean());
        Assert.Equal((1.0, 1), (done.GetProperty("progress").GetDouble(), done.GetProperty("embedded_frames").GetInt32()));

        var video = await t.OpenPathAsync("video");
        string id = video.GetProperty("id").GetString()!;
        // Idle time embeds the frames from the current one on, up to the cap, and no more.
        await StatusWhen(t, id, st => st.GetProperty("ready").GetBoolean() && st.GetProperty("embedded_frames").GetInt32() == 3);
        await Task.Delay(300);
        Assert.Equal(3, (await t.Json(await t.Http.GetAsync($"api/sessions/{id}/status"))).GetProperty("embedded_frames").GetInt32());
        // Viewing frame 8 moves the window there; a prompt on it and a propagation still give every frame.
        Assert.True((await t.Http.GetAsync($"api/sessions/{id}/frames/8")).IsSuccessStatusCode);
        await Task.Delay(300);
        await t.Json(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 8, obj_id = 1, points = new[] { new[] { 144, 108 } }, labels = new[] { 1 } }));
        var events = await ReadEvents(await StartPropagation(t, id, new { start_frame = 8, direction = "both" }));
        Assert.Equal(Enumerable.Range(0, 10), events.Where(e => e.Event == "frame").Select(e => e.Data.GetProperty("frame").GetInt32()).Distinct().Order());
        Assert.InRange((await t.Json(await t.Http.GetAsync($"api/sessions/{id}/status"))).GetProperty("embedded_frames").GetInt32(), 1, 3);
    }

    [Fact]
    public async Task IdleSessionsExpireAndTheirFilesGo()
    {
        var folder = Golden.Folders()[0];
        await using var t = await TestServer.StartAsync(new ServeOptions { IdleMinutes = 0.01 }, folder);
        using var form = new MultipartFormDataContent();
        using (var ms = new MemoryStream())
        {
            using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
                foreach (var f in Directory.GetFiles(Path.Combine(GoldenInputs(folder), "video")).Take(3))
                    zip.CreateEntryFromFile(f, "frames/" + Path.GetFileName(f));
            form.Add(new ByteArrayContent(ms.ToArray()), "file", "frames.zip");
        }
        var before = Directory.GetDirectories(Path.GetTempPath(), "sam2serve-*").ToHashSet();
        var s = await t.Json(await t.Http.PostAsync("api/sessions", form));
        Assert.Equal(3, s.GetProperty("frames").GetInt32());
        var mine = Directory.GetDirectories(Path.GetTempPath(), "sam2serve-*").Where(d => !before.Contains(d)).ToList();
        Assert.Single(mine);
        await Task.Delay(2500);
        await TestServer.AssertError(await t.Http.GetAsync($"api/sessions/{s.GetProperty("id").GetString()}"), 404);
        Assert.False(Directory.Exists(mine[0]));
    }

    [Fact]
    public async Task HundredSessionsLeaveResidentMemoryFlat()
    {
        var folder = Golden.Folders()[0];
        await using var t = await TestServer.StartAsync(folder: folder);
        var image = Path.Combine(GoldenInputs(folder), "image.png");
        long Rss()
        {
            GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
            using var p = System.Diagnostics.Process.GetCurrentProcess();
            return p.WorkingSet64;
        }
        long afterFirst = 0;
        for (int i = 0; i < 100; i++)
        {
            var s = await t.UploadAsync(image);
            string id = s.GetProperty("id").GetString()!;
            await t.Json(await t.PostJson($"api/sessions/{id}/prompts", new { frame = 0, obj_id = 1, points = new[] { new[] { 168, 248 } }, labels = new[] { 1 } }));
            await t.Json(await t.Http.DeleteAsync($"api/sessions/{id}"));
            if (i == 0) afterFirst = Rss();
        }
        long afterAll = Rss();
        Assert.True(afterAll <= afterFirst * 1.10, $"resident memory {afterAll / 1e6:F1} MB after 100 sessions, {afterFirst / 1e6:F1} MB after the first");
        Assert.Equal(0, t.Server.Sessions.Count);
    }

    [Fact]
    public async Task ConcurrentClientsAndPropagationsGetNoError()
    {
        var folder = Golden.Folders()[0];
        await using var t = await TestServer.StartAsync(new ServeOptions { DataDir = GoldenInputs(folder), MaxSessions = 4 }, folder);
        var r = await LoadBenchmark.RunAsync(t.Server.Url, null, Path.Combine(GoldenInputs(folder), "image.png"), "video",
            clients: 3, prompts: 4, propagations: 1, maxFrames: 5);
        Assert.Empty(r.Errors);
        Assert.Equal(12, r.PromptMs.Count);
        Assert.Equal(6, r.PropagatedFrames);
        Assert.Equal(0, t.Server.Sessions.Count);
    }
}
