using System.Text.Json;
using Sam2Sharp.Imaging;

namespace Sam2Sharp.Cli.Commands;

/// <summary>One operation of a <c>sam2 video</c> steps file.</summary>
public abstract record VideoStep(int Index, string Op);
public sealed record AddPointsStep(int Index, int Frame, int ObjId, float[,] Points, int[] Labels, bool ClearOldPoints) : VideoStep(Index, "add_points");
public sealed record AddBoxStep(int Index, int Frame, int ObjId, float[] Box) : VideoStep(Index, "add_box");
/// <summary><see cref="MaskPath"/> is null for "empty" (an all-zero mask); with <see cref="MaskValue"/> only the pixels of
/// that palette index or gray level are the object (one object of a DAVIS-style annotation), else every nonzero pixel.</summary>
public sealed record AddMaskStep(int Index, int Frame, int ObjId, string? MaskPath, int? MaskValue = null) : VideoStep(Index, "add_mask");
public sealed record PropagateStep(int Index, bool Reverse, int? StartFrame, int? MaxFrames) : VideoStep(Index, "propagate");
public sealed record ClearPromptsStep(int Index, int Frame, int ObjId) : VideoStep(Index, "clear_prompts");
public sealed record RemoveObjectStep(int Index, int ObjId) : VideoStep(Index, "remove_object");
public sealed record ResetStep(int Index) : VideoStep(Index, "reset");

/// <summary>
/// Reads and checks a steps file (<c>{"steps": [...]}</c>) against a video before any model work:
/// every field's presence and type, frames inside the video, clicks and boxes inside the frame,
/// mask files present and of the video's size, and the objects each step refers to (replayed
/// through the adds, removals and resets). Errors are one line naming the step (from 0), op and field.
/// </summary>
public static class VideoSteps
{
    static readonly Dictionary<string, string[]> Fields = new()
    {
        ["add_points"] = ["frame", "obj_id", "points", "labels", "clear_old_points"],
        ["add_box"] = ["frame", "obj_id", "box"],
        ["add_mask"] = ["frame", "obj_id", "mask", "mask_value"],
        ["propagate"] = ["reverse", "start_frame", "max_frames"],
        ["clear_prompts"] = ["frame", "obj_id"],
        ["remove_object"] = ["obj_id"],
        ["reset"] = [],
    };

    public static IReadOnlyList<VideoStep> Load(string path, IFrameSource video)
    {
        if (!File.Exists(path)) throw new Sam2Exception($"steps file not found: {path}");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new Sam2Exception($"cannot read {path}: {e.Message}", e); }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e) { throw new Sam2Exception($"{path} is not valid JSON: {e.Message.Split('\n')[0]}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("steps", out var arr) || arr.ValueKind != JsonValueKind.Array)
                throw new Sam2Exception($"{path}: expected an object {{\"steps\": [...]}}");
            if (arr.GetArrayLength() == 0) throw new Sam2Exception($"{path}: \"steps\" is empty; nothing to do");
            string baseDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
            var steps = new List<VideoStep>();
            var state = new ObjectReplay();
            int i = 0;
            foreach (var el in arr.EnumerateArray())
            {
                var step = new StepReader(path, i, el, video, baseDir).Read();
                state.Apply(step, (field, msg) => new StepReader(path, i, el, video, baseDir).Fail(field, msg));
                steps.Add(step);
                i++;
            }
            return steps;
        }
    }

    /// <summary>Replays which objects exist and which frames hold their prompts, as the predictor would.</summary>
    sealed class ObjectReplay
    {
        readonly List<(int Id, HashSet<int> Frames)> objects = new();

        HashSet<int>? Find(int id) => objects.FirstOrDefault(o => o.Id == id).Frames;

        public void Apply(VideoStep step, Func<string?, string, Exception> fail)
        {
            string Known() => objects.Count == 0 ? "there are no objects at this point" : $"objects at this point: {string.Join(", ", objects.Select(o => o.Id))}";
            switch (step)
            {
                case AddPointsStep s: Add(s.ObjId, s.Frame); break;
                case AddBoxStep s: Add(s.ObjId, s.Frame); break;
                case AddMaskStep s: Add(s.ObjId, s.Frame); break;
                case ClearPromptsStep s:
                    (Find(s.ObjId) ?? throw fail("obj_id", $"object {s.ObjId} was never added ({Known()})")).Remove(s.Frame);
                    break;
                case RemoveObjectStep s:
                    if (Find(s.ObjId) is null) throw fail("obj_id", $"object {s.ObjId} was never added ({Known()})");
                    objects.RemoveAll(o => o.Id == s.ObjId);
                    break;
                case ResetStep: objects.Clear(); break;
                case PropagateStep:
                    if (objects.Count == 0) throw fail(null, "no object has a prompt to propagate (add points, a box or a mask first)");
                    foreach (var (id, frames) in objects)
                        if (frames.Count == 0) throw fail(null, $"object {id} has no prompt left on any frame (its prompts were cleared)");
                    break;
            }
        }

        void Add(int id, int frame)
        {
            var f = Find(id);
            if (f is null) objects.Add((id, f = new HashSet<int>()));
            f.Add(frame);
        }
    }

    /// <summary>Reads one step, failing with the file, step index, op and field.</summary>
    sealed class StepReader(string file, int index, JsonElement el, IFrameSource video, string baseDir)
    {
        public Exception Fail(string? field, string message)
        {
            string op = el.ValueKind == JsonValueKind.Object && el.TryGetProperty("op", out var o) && o.ValueKind == JsonValueKind.String ? o.GetString()! : "?";
            return new Sam2Exception($"{file}: step {index} ({op}){(field is null ? "" : $", field '{field}'")}: {message}");
        }

        public VideoStep Read()
        {
            if (el.ValueKind != JsonValueKind.Object) throw Fail(null, $"a step must be a JSON object, got {Kind(el)}");
            if (!el.TryGetProperty("op", out var opEl)) throw Fail("op", "missing");
            if (opEl.ValueKind != JsonValueKind.String) throw Fail("op", $"must be a string, got {Kind(opEl)}");
            string op = opEl.GetString()!;
            if (!Fields.TryGetValue(op, out var allowed))
                throw Fail("op", $"unknown op '{op}' (known: {string.Join(", ", Fields.Keys)})");
            var seen = new HashSet<string>();
            foreach (var p in el.EnumerateObject())
            {
                if (!seen.Add(p.Name)) throw Fail(p.Name, "given twice");
                if (p.Name != "op" && !allowed.Contains(p.Name))
                    throw Fail(p.Name, $"unknown field for {op} (allowed: {(allowed.Length == 0 ? "none" : string.Join(", ", allowed))})");
            }
            return op switch
            {
                "add_points" => ReadAddPoints(),
                "add_box" => new AddBoxStep(index, Frame("frame"), ObjId(), Box()),
                "add_mask" => ReadAddMask(),
                "propagate" => new PropagateStep(index, Bool("reverse", false),
                    el.TryGetProperty("start_frame", out _) ? Frame("start_frame") : null,
                    el.TryGetProperty("max_frames", out _) ? NonNegative("max_frames") : null),
                "clear_prompts" => new ClearPromptsStep(index, Frame("frame"), ObjId()),
                "remove_object" => new RemoveObjectStep(index, ObjId()),
                _ => new ResetStep(index),
            };
        }

        VideoStep ReadAddPoints()
        {
            int frame = Frame("frame"), obj = ObjId();
            var pts = Required("points");
            if (pts.ValueKind != JsonValueKind.Array || pts.GetArrayLength() == 0) throw Fail("points", "must be a non-empty array of [x, y]");
            var points = new float[pts.GetArrayLength(), 2];
            int n = 0;
            foreach (var p in pts.EnumerateArray())
            {
                if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2) throw Fail("points", $"point {n} must be [x, y]");
                points[n, 0] = Number(p[0], "points"); points[n, 1] = Number(p[1], "points");
                CheckInside("points", $"point {n}", points[n, 0], points[n, 1]);
                n++;
            }
            var lbl = Required("labels");
            if (lbl.ValueKind != JsonValueKind.Array) throw Fail("labels", $"must be an array of 1 (foreground) / 0 (background), got {Kind(lbl)}");
            var labels = lbl.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int x) && x is 0 or 1 ? x
                : throw Fail("labels", $"each label must be 1 (foreground) or 0 (background), got {v.GetRawText()}")).ToArray();
            if (labels.Length != n) throw Fail("labels", $"{labels.Length} labels for {n} points");
            return new AddPointsStep(index, frame, obj, points, labels, Bool("clear_old_points", true));
        }

        VideoStep ReadAddMask()
        {
            int frame = Frame("frame"), obj = ObjId();
            string? path = Mask();
            if (!el.TryGetProperty("mask_value", out _)) return new AddMaskStep(index, frame, obj, path);
            int value = Integer("mask_value");
            if (value < 1) throw Fail("mask_value", $"must be a palette index or gray level of at least 1, got {value}");
            if (path is null) throw Fail("mask_value", "cannot go with \"empty\"");
            int[] values;
            try { values = IO.PalettePng.ReadMask(path).Values; }
            catch (Sam2Exception e) { throw Fail("mask_value", e.Message); }
            if (!values.Contains(value)) throw Fail("mask_value", $"no pixel of {path} has the value {value}");
            return new AddMaskStep(index, frame, obj, path, value);
        }

        float[] Box()
        {
            var b = Required("box");
            if (b.ValueKind != JsonValueKind.Array || b.GetArrayLength() != 4) throw Fail("box", "must be [x0, y0, x1, y1]");
            var v = b.EnumerateArray().Select(x => Number(x, "box")).ToArray();
            if (v[2] < v[0] || v[3] < v[1]) throw Fail("box", "x1, y1 must not be left of or above x0, y0");
            CheckInside("box", "corner", v[0], v[1]);
            CheckInside("box", "corner", v[2], v[3]);
            return v;
        }

        string? Mask()
        {
            var m = Required("mask");
            if (m.ValueKind != JsonValueKind.String) throw Fail("mask", $"must be a PNG file name or \"empty\", got {Kind(m)}");
            string name = m.GetString()!;
            if (name == "empty") return null;
            string full = Path.GetFullPath(Path.Combine(baseDir, name));
            if (!File.Exists(full)) throw Fail("mask", $"mask file not found: {full}");
            (int w, int h) size;
            try { size = RgbImage.ReadSize(full); }
            catch (Sam2Exception e) { throw Fail("mask", e.Message); }
            if (size.w != video.Width || size.h != video.Height)
                throw Fail("mask", $"{full} is {size.w}×{size.h}, but the video is {video.Width}×{video.Height}");
            return full;
        }

        JsonElement Required(string field) => el.TryGetProperty(field, out var v) ? v : throw Fail(field, "missing");

        int Integer(string field)
        {
            var v = Required(field);
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int x) ? x : throw Fail(field, $"must be an integer, got {v.GetRawText()}");
        }

        int ObjId() => Integer("obj_id");

        int NonNegative(string field)
        {
            int x = Integer(field);
            return x >= 0 ? x : throw Fail(field, $"must not be negative, got {x}");
        }

        int Frame(string field)
        {
            int f = Integer(field);
            return f >= 0 && f < video.Count ? f : throw Fail(field, $"frame {f} is outside the video (frames 0 to {video.Count - 1})");
        }

        bool Bool(string field, bool dflt)
        {
            if (!el.TryGetProperty(field, out var v)) return dflt;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Fail(field, $"must be true or false, got {v.GetRawText()}"),
            };
        }

        float Number(JsonElement v, string field) =>
            v.ValueKind == JsonValueKind.Number && v.TryGetSingle(out float x) && float.IsFinite(x) ? x
            : throw Fail(field, $"must be a number, got {v.GetRawText()}");

        void CheckInside(string field, string what, float x, float y)
        {
            try { PromptParsing.CheckInside(what, x, y, video.Width, video.Height); }
            catch (Sam2Exception e) { throw Fail(field, e.Message); }
        }

        static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();
    }
}
