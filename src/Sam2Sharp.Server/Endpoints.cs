using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sam2Sharp.Amg;
using Sam2Sharp.Export;

namespace Sam2Sharp.Server;

/// <summary>The JSON API (docs/api.md). Handlers parse and check the request, then call the session; nothing else.</summary>
static class Endpoints
{
    public static void Map(WebApplication app, Sam2Server server)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/health", () => Results.Json(new
        {
            status = "ok",
            model = server.Options.ModelName,
            sessions = server.Sessions.Count,
            max_sessions = server.Options.MaxSessions,
            max_upload_mb = server.Options.MaxUploadMb,
            max_frames = server.Options.MaxFrames,
            max_video_size = new[] { server.Options.MaxLongSide, server.Options.MaxShortSide },
            data = server.Options.DataDir is not null,
        }));

        api.MapPost("/sessions", (Delegate)((HttpContext ctx) => OpenSession(ctx, server)));
        api.MapGet("/sessions/{id}", (string id) => Results.Json(Describe(server.Sessions.Get(id))));
        api.MapGet("/sessions/{id}/status", (string id) => Results.Json(Status(server.Sessions.Get(id))));
        api.MapDelete("/sessions/{id}", async (string id) =>
            await server.Sessions.CloseAsync(id) ? Results.Json(new { closed = id }) : throw ApiException.NotFound($"session {id} does not exist"));

        api.MapGet("/sessions/{id}/frames/{frame:int}", (string id, int frame) =>
            Results.Bytes(server.Sessions.Get(id).ReadFrame(frame).EncodeJpeg(), "image/jpeg"));
        api.MapGet("/sessions/{id}/frames/{frame:int}/masks", (string id, int frame) =>
            Results.Json(FrameJson(server.Sessions.Get(id).CurrentMasks(frame))));

        api.MapPost("/sessions/{id}/prompts", async (HttpContext ctx, string id) =>
        {
            var s = server.Sessions.Get(id);
            var q = await RequestJson.ReadAsync(ctx.Request, "frame", "obj_id", "points", "labels", "box", "clear_old_points");
            int frame = q.Int("frame"), objId = ObjId(q.Int("obj_id"));
            var points = q.OptionalPoints("points");
            var labels = q.OptionalInts("labels");
            var box = q.OptionalNumbers("box", 4);
            if (points is null != labels is null) throw ApiException.BadRequest("fields 'points' and 'labels' must be given together");
            if (points is not null && points.GetLength(0) != labels!.Length) throw ApiException.BadRequest("field 'labels' must hold one label per point");
            if (labels is not null && labels.Any(l => l is not (0 or 1))) throw ApiException.BadRequest("field 'labels': 1 (object) or 0 (background)");
            if ((points is null || points.Length == 0) && box is null) throw ApiException.BadRequest("give 'points' with 'labels', or a 'box'");
            if (box is not null && (box[2] <= box[0] || box[3] <= box[1])) throw ApiException.BadRequest("field 'box': x1 must exceed x0 and y1 exceed y0");
            bool clear = q.OptionalBool("clear_old_points") ?? true;
            s.CheckFrame(frame);
            var r = await Run(server, s, ctx, () => s.Prompt(frame, objId, points is { Length: > 0 } ? points : null, points is { Length: > 0 } ? labels : null, box, clear));
            return Results.Json(FrameJson(r));
        });

        api.MapPost("/sessions/{id}/clear", async (HttpContext ctx, string id) =>
        {
            var s = server.Sessions.Get(id);
            var q = await RequestJson.ReadAsync(ctx.Request, "frame", "obj_id");
            int frame = q.Int("frame"), objId = q.Int("obj_id");
            s.CheckFrame(frame);
            return Results.Json(FrameJson(await Run(server, s, ctx, () => s.ClearPrompts(frame, objId))));
        });

        api.MapDelete("/sessions/{id}/objects/{objId:int}", async (HttpContext ctx, string id, int objId) =>
        {
            var s = server.Sessions.Get(id);
            var updated = await Run(server, s, ctx, () => s.RemoveObject(objId));
            return Results.Json(new { removed = objId, frames = updated.Select(FrameJson).ToList() });
        });

        api.MapPut("/sessions/{id}/objects/{objId:int}", async (HttpContext ctx, string id, int objId) =>
        {
            var s = server.Sessions.Get(id);
            var q = await RequestJson.ReadAsync(ctx.Request, "name");
            string? name = q.OptionalString("name");
            if (name is { Length: > 200 }) throw ApiException.BadRequest("field 'name' is longer than 200 characters");
            s.Annotations.SetName(ObjId(objId), name);
            return Results.Json(new { obj_id = objId, name = s.Annotations.NameOf(objId) });
        });

        api.MapPost("/sessions/{id}/amg", async (HttpContext ctx, string id) =>
        {
            var s = server.Sessions.Get(id) as ImageAnnotation ?? throw ApiException.BadRequest("segment everything works on image sessions");
            var q = await RequestJson.ReadAsync(ctx.Request, "points_per_side", "pred_iou_thresh", "stability_score_thresh", "box_nms_thresh", "min_mask_region_area");
            var o = new AmgOptions();
            o = o with
            {
                PointsPerSide = q.OptionalInt("points_per_side") ?? o.PointsPerSide,
                PredIouThresh = q.OptionalDouble("pred_iou_thresh") ?? o.PredIouThresh,
                StabilityScoreThresh = q.OptionalDouble("stability_score_thresh") ?? o.StabilityScoreThresh,
                BoxNmsThresh = q.OptionalDouble("box_nms_thresh") ?? o.BoxNmsThresh,
                MinMaskRegionArea = q.OptionalInt("min_mask_region_area") ?? o.MinMaskRegionArea,
            };
            if (o.PointsPerSide is < 1 or > 64) throw ApiException.BadRequest("field 'points_per_side' must be 1 to 64");
            try { o.Validate(); }
            catch (Sam2Exception e) { throw ApiException.BadRequest(e.Message); }
            return Results.Json(FrameJson(await Run(server, s, ctx, () => s.SegmentEverything(o))));
        });

        api.MapPost("/sessions/{id}/propagate", (HttpContext ctx, string id) => Propagation.Run(ctx, server, id));
        api.MapPost("/sessions/{id}/cancel", (string id) =>
        {
            var s = server.Sessions.Get(id);
            var c = s.PropagationCancel;
            c?.Cancel();
            return Results.Json(new { cancelled = c is not null });
        });

        api.MapGet("/sessions/{id}/export", (HttpContext ctx, string id, string? format) => Export(ctx, server.Sessions.Get(id), format));
        api.MapFallback(() => Results.Json(new { error = "no such API endpoint" }, statusCode: StatusCodes.Status404NotFound));
    }

    static int ObjId(int id) => id is >= 1 ? id : throw ApiException.BadRequest($"field 'obj_id': {id} must be a positive integer");

    /// <summary>Runs one model operation on a session: refused while it propagates, one at a time per session and in the server.</summary>
    internal static async Task<T> Run<T>(Sam2Server server, AnnotationSession s, HttpContext ctx, Func<T> op)
    {
        s.ThrowIfPropagating();
        await s.WhenReadyAsync();
        await s.Lock.WaitAsync(ctx.RequestAborted);
        try
        {
            if (s.IsClosed) throw ApiException.NotFound($"session {s.Id} was closed");
            s.ThrowIfPropagating();
            return await server.Compute.RunAsync(op, ctx.RequestAborted);
        }
        finally
        {
            s.Lock.Release();
            s.Touch();
        }
    }

    static async Task<IResult> OpenSession(HttpContext ctx, Sam2Server server)
    {
        long max = (long)server.Options.MaxUploadMb * 1024 * 1024;
        if (ctx.Request.ContentLength > max + 64 * 1024)
            throw ApiException.TooLarge($"the upload is larger than the limit ({server.Options.MaxUploadMb} MB, --max-upload-mb)");
        var s = await server.Sessions.OpenAsync(async () =>
        {
            OpenedMedia media;
            if (ctx.Request.HasFormContentType)
                media = await server.Intake.FromUploadAsync((await ctx.Request.ReadFormAsync(ctx.RequestAborted)).Files, ctx.RequestAborted);
            else if (ctx.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
            {
                var q = await RequestJson.ReadAsync(ctx.Request, "path");
                media = server.Intake.FromPath(q.OptionalString("path") ?? throw ApiException.BadRequest("field 'path' is required"));
            }
            else throw ApiException.BadRequest("send a multipart upload (field 'file') or JSON {\"path\": …}");
            try
            {
                var opened = await server.Compute.RunAsync<AnnotationSession>(() => media switch
                {
                    OpenedMedia.Image i => new ImageAnnotation(server.Model, i.Picture, i.Name, i.TempFolder),
                    OpenedMedia.Video v => new VideoAnnotation(server.VideoPredictor, v.Frames, v.TempFolder, server.Compute),
                    _ => throw new InvalidOperationException(),
                }, ctx.RequestAborted);
                // The response does not wait for the embedding: the page polls the status for its progress.
                opened.BeginEmbedding(server.Compute);
                return opened;
            }
            catch
            {
                if (media is OpenedMedia.Video v) v.Frames.Dispose();
                if (media.TempFolder is { } t && Directory.Exists(t)) Directory.Delete(t, recursive: true);
                throw;
            }
        });
        return Results.Json(Describe(s));
    }

    static object Describe(AnnotationSession s) => new
    {
        id = s.Id,
        kind = s.Kind,
        frames = s.NumFrames,
        width = s.Width,
        height = s.Height,
        source_width = s is VideoAnnotation v ? ((Imaging.ScaledFrameSource)v.Frames).SourceWidth : s.Width,
        source_height = s is VideoAnnotation w ? ((Imaging.ScaledFrameSource)w.Frames).SourceHeight : s.Height,
        frame_names = s.Annotations.FrameNames,
        ready = s.IsReady,
    };

    /// <summary>The first embedding's progress and the frames embedded so far (ahead of need, for a video).</summary>
    static object Status(AnnotationSession s) => new
    {
        ready = s.IsReady,
        progress = Math.Round(s.EmbedProgress, 4),
        embedded_frames = s.EmbeddedFrames,
        error = s.EmbedError,
    };

    internal static object FrameJson(FrameMasks f) => new { frame = f.Frame, masks = MasksJson(f) };

    internal static List<object> MasksJson(FrameMasks f) => f.Masks.Select(m => (object)new
    {
        obj_id = m.ObjId,
        rle = new { size = m.Rle.Size, counts = m.Rle.Counts },
        score = m.Score,
    }).ToList();

    static async Task Export(HttpContext ctx, AnnotationSession s, string? format)
    {
        var a = s.Annotations;
        string stem = "sam2-" + s.Id[..8];
        (string type, string file, Action<Stream> write) = format switch
        {
            "davis" => ("application/zip", stem + "-davis.zip", (Action<Stream>)(o => AnnotationExport.WriteDavisZip(a, o))),
            "masks" => ("application/zip", stem + "-masks.zip", o => AnnotationExport.WriteObjectMasksZip(a, o)),
            "coco" => ("application/json", stem + "-coco.json", o => AnnotationExport.WriteCoco(a, o, CocoSegmentation.Rle)),
            "polygons" => ("application/json", stem + "-polygons.json", o => AnnotationExport.WriteCoco(a, o, CocoSegmentation.Polygons)),
            "video" => ("video/mp4", stem + "-overlay.mp4", o => OverlayExport.Write(s, o)),
            null => throw ApiException.BadRequest("query 'format' is required: davis, masks, coco, polygons or video"),
            _ => throw ApiException.BadRequest($"query 'format': '{format}' is not one of davis, masks, coco, polygons, video"),
        };
        if (a.Frames.Count == 0) throw ApiException.BadRequest("nothing to export: no object has a mask yet");
        using var ms = new MemoryStream();
        write(ms);
        ctx.Response.ContentType = type;
        ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"{file}\"";
        ctx.Response.ContentLength = ms.Length;
        ms.Position = 0;
        await ms.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }
}
