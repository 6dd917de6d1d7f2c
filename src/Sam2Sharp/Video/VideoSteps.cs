using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Sam2Sharp.Imaging;

namespace Sam2Sharp.Video;

/// <summary>
/// One operation of a steps file (<c>{"steps": [...]}</c>), the JSON object named by its <c>op</c>. Fields are
/// snake_case (<c>obj_id</c>, <c>clear_old_points</c>, …); coordinates are video pixels.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "op")]
[JsonDerivedType(typeof(AddPointsStep), "add_points")]
[JsonDerivedType(typeof(AddBoxStep), "add_box")]
[JsonDerivedType(typeof(AddMaskStep), "add_mask")]
[JsonDerivedType(typeof(PropagateStep), "propagate")]
[JsonDerivedType(typeof(ClearPromptsStep), "clear_prompts")]
[JsonDerivedType(typeof(RemoveObjectStep), "remove_object")]
[JsonDerivedType(typeof(ResetStep), "reset")]
public abstract record VideoStep
{
    /// <summary>The step's position in its file, from 0.</summary>
    [JsonIgnore] public int Index { get; init; }

    /// <summary>The step's <c>op</c>.</summary>
    [JsonIgnore] public string Op => VideoSteps.OpOf(GetType());

    /// <summary>The object the step is about, if it is about one.</summary>
    [JsonIgnore] public virtual int? ObjectId => null;
}

/// <summary>Clicks on a frame (labels 1 foreground, 0 background), added to the object's clicks there unless <see cref="ClearOldPoints"/>.</summary>
public sealed record AddPointsStep(int Frame, int ObjId, float[][] Points, int[] Labels, bool ClearOldPoints = true) : VideoStep
{
    /// <inheritdoc/>
    public override int? ObjectId => ObjId;
}

/// <summary>A box [x0, y0, x1, y1] on a frame.</summary>
public sealed record AddBoxStep(int Frame, int ObjId, float[] Box) : VideoStep
{
    /// <inheritdoc/>
    public override int? ObjectId => ObjId;
}

/// <summary>
/// A mask on a frame: a PNG of the video's size (relative to the steps file) or <c>"empty"</c>. With
/// <see cref="MaskValue"/> only the pixels of that palette index or gray level are the object (one object of a
/// DAVIS-style annotation), else every nonzero pixel.
/// </summary>
public sealed record AddMaskStep(int Frame, int ObjId, string Mask, int? MaskValue = null) : VideoStep
{
    /// <summary>The mask file's full path, null for "empty" (set when the file is read).</summary>
    [JsonIgnore] public string? MaskPath { get; init; }

    /// <inheritdoc/>
    public override int? ObjectId => ObjId;
}

/// <summary>Tracks every object, by default from the first prompted frame to the end.</summary>
public sealed record PropagateStep(bool Reverse = false, int? StartFrame = null, int? MaxFrames = null) : VideoStep;

/// <summary>Removes an object's prompts on a frame.</summary>
public sealed record ClearPromptsStep(int Frame, int ObjId) : VideoStep
{
    /// <inheritdoc/>
    public override int? ObjectId => ObjId;
}

/// <summary>Removes an object everywhere.</summary>
public sealed record RemoveObjectStep(int ObjId) : VideoStep
{
    /// <inheritdoc/>
    public override int? ObjectId => ObjId;
}

/// <summary>Forgets every object and prompt.</summary>
public sealed record ResetStep : VideoStep;

/// <summary>
/// Reads and checks a steps file against a video before any model work: every field's presence and type (unknown and
/// repeated fields refused), frames inside the video, clicks and boxes inside the frame, mask files present and of
/// the video's size, and the objects each step refers to (replayed through the adds, removals and resets). Errors
/// are one line naming the file, the step (from 0), its op and the field.
/// </summary>
public static class VideoSteps
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectRequiredConstructorParameters = true,
        AllowOutOfOrderMetadataProperties = true,
        AllowDuplicateProperties = false,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    static readonly Dictionary<string, JsonTypeInfo> Ops = Json.GetTypeInfo(typeof(VideoStep)).PolymorphismOptions!.DerivedTypes
        .ToDictionary(d => (string)d.TypeDiscriminator!, d => Json.GetTypeInfo(d.DerivedType));

    internal static string OpOf(Type t) => Ops.First(kv => kv.Value.Type == t).Key;

    /// <summary>The steps of a file, checked against <paramref name="video"/>; mask paths are relative to the file.</summary>
    /// <exception cref="Sam2Exception">the file is missing, not JSON, or a step is wrong (the message names it).</exception>
    public static IReadOnlyList<VideoStep> Load(string path, IFrameSource video)
    {
        if (!File.Exists(path)) throw new Sam2Exception($"steps file not found: {path}");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new Sam2Exception($"cannot read {path}: {e.Message}", e); }
        return Parse(text, video, Path.GetDirectoryName(Path.GetFullPath(path))!, path);
    }

    /// <summary>The steps of a JSON text; <paramref name="source"/> names it in messages.</summary>
    public static IReadOnlyList<VideoStep> Parse(string json, IFrameSource video, string baseDir, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e) { throw new Sam2Exception($"{source} is not valid JSON: {e.Message.Split('\n')[0]}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("steps", out var arr) || arr.ValueKind != JsonValueKind.Array)
                throw new Sam2Exception($"{source}: expected an object {{\"steps\": [...]}}");
            if (arr.GetArrayLength() == 0) throw new Sam2Exception($"{source}: \"steps\" is empty; nothing to do");
            var steps = new List<VideoStep>();
            var replay = new ObjectReplay();
            foreach (var el in arr.EnumerateArray())
            {
                var reader = new StepReader(source, steps.Count, el, video, baseDir);
                var step = reader.Read();
                replay.Apply(step, reader.Fail);
                steps.Add(step);
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

    /// <summary>Reads one step: the JSON shape by the serializer, then what the video decides.</summary>
    sealed class StepReader(string file, int index, JsonElement el, IFrameSource video, string baseDir)
    {
        string op = "?";

        public Exception Fail(string? field, string message) =>
            new Sam2Exception($"{file}: step {index} ({op}){(field is null ? "" : $", field '{field}'")}: {message}");

        public VideoStep Read()
        {
            if (el.ValueKind != JsonValueKind.Object) throw Fail(null, $"a step must be a JSON object, got {Kind(el)}");
            if (!el.TryGetProperty("op", out var opEl)) throw Fail("op", "missing");
            if (opEl.ValueKind != JsonValueKind.String) throw Fail("op", $"must be a string, got {Kind(opEl)}");
            op = opEl.GetString()!;
            if (!Ops.TryGetValue(op, out var info)) throw Fail("op", $"unknown op '{op}' (known: {string.Join(", ", Ops.Keys)})");
            // The fields are the records' constructor parameters (Index, Op and ObjectId are not read from JSON).
            var fields = info.Properties.Where(p => p.AssociatedParameter is not null).ToList();
            var allowed = fields.Select(p => p.Name).ToList();
            var seen = new HashSet<string>();
            foreach (var p in el.EnumerateObject())
            {
                if (!seen.Add(p.Name)) throw Fail(p.Name, "given twice");
                if (p.Name != "op" && !allowed.Contains(p.Name))
                    throw Fail(p.Name, $"unknown field for {op} (allowed: {(allowed.Count == 0 ? "none" : string.Join(", ", allowed))})");
            }
            foreach (var p in fields)
                if (p.AssociatedParameter is { HasDefaultValue: false } && !seen.Contains(p.Name)) throw Fail(p.Name, "missing");
            VideoStep step;
            try { step = el.Deserialize<VideoStep>(Json)!; }
            catch (JsonException e)
            {
                string field = FieldOf(e.Path);
                var prop = fields.FirstOrDefault(p => p.Name == field);
                string got = el.TryGetProperty(field, out var v) ? Truncate(v.GetRawText()) : "?";
                throw Fail(field, prop is null ? e.Message.Split('\n')[0] : $"must be {Expected(prop.PropertyType)}, got {got}");
            }
            return Check(step with { Index = index });
        }

        VideoStep Check(VideoStep step)
        {
            switch (step)
            {
                case AddPointsStep s:
                    Frame("frame", s.Frame);
                    if (s.Points.Length == 0) throw Fail("points", "must be a non-empty array of [x, y]");
                    for (int n = 0; n < s.Points.Length; n++)
                    {
                        if (s.Points[n] is not { Length: 2 } xy) throw Fail("points", $"point {n} must be [x, y]");
                        Inside("points", $"point {n}", xy[0], xy[1]);
                    }
                    foreach (int l in s.Labels)
                        if (l is not (0 or 1)) throw Fail("labels", $"each label must be 1 (foreground) or 0 (background), got {l}");
                    if (s.Labels.Length != s.Points.Length) throw Fail("labels", $"{s.Labels.Length} labels for {s.Points.Length} points");
                    return s;
                case AddBoxStep s:
                    Frame("frame", s.Frame);
                    if (s.Box.Length != 4) throw Fail("box", "must be [x0, y0, x1, y1]");
                    foreach (var v in s.Box) if (!float.IsFinite(v)) throw Fail("box", $"must be finite numbers, got {v}");
                    if (s.Box[2] < s.Box[0] || s.Box[3] < s.Box[1]) throw Fail("box", "x1, y1 must not be left of or above x0, y0");
                    Inside("box", "corner", s.Box[0], s.Box[1]);
                    Inside("box", "corner", s.Box[2], s.Box[3]);
                    return s;
                case AddMaskStep s:
                    Frame("frame", s.Frame);
                    return s with { MaskPath = MaskFile(s) };
                case PropagateStep s:
                    if (s.StartFrame is { } sf) Frame("start_frame", sf);
                    if (s.MaxFrames is < 0) throw Fail("max_frames", $"must not be negative, got {s.MaxFrames}");
                    return s;
                case ClearPromptsStep s:
                    Frame("frame", s.Frame);
                    return s;
                default:
                    return step;
            }
        }

        string? MaskFile(AddMaskStep s)
        {
            string? full = null;
            if (s.Mask != "empty")
            {
                full = Path.GetFullPath(Path.Combine(baseDir, s.Mask));
                if (!File.Exists(full)) throw Fail("mask", $"mask file not found: {full}");
                (int w, int h) size;
                try { size = RgbImage.ReadSize(full); }
                catch (Sam2Exception e) { throw Fail("mask", e.Message); }
                if (size.w != video.Width || size.h != video.Height)
                    throw Fail("mask", $"{full} is {size.w}×{size.h}, but the video is {video.Width}×{video.Height}");
            }
            if (s.MaskValue is not { } value) return full;
            if (value < 1) throw Fail("mask_value", $"must be a palette index or gray level of at least 1, got {value}");
            if (full is null) throw Fail("mask_value", "cannot go with \"empty\"");
            int[] values;
            try { values = IO.PalettePng.ReadMask(full).Values; }
            catch (Sam2Exception e) { throw Fail("mask_value", e.Message); }
            if (!values.Contains(value)) throw Fail("mask_value", $"no pixel of {full} has the value {value}");
            return full;
        }

        void Frame(string field, int f)
        {
            if (f < 0 || f >= video.Count) throw Fail(field, $"frame {f} is outside the video (frames 0 to {video.Count - 1})");
        }

        void Inside(string field, string what, float x, float y)
        {
            try { ImageBounds.CheckInside(what, x, y, video.Width, video.Height); }
            catch (Sam2Exception e) { throw Fail(field, e.Message); }
        }

        /// <summary>The top-level field of a serializer error path such as <c>$.points[0][1]</c>.</summary>
        static string FieldOf(string? path)
        {
            if (path is null || !path.StartsWith("$.")) return "?";
            var rest = path[2..];
            int end = rest.IndexOfAny(['.', '[']);
            return end < 0 ? rest : rest[..end];
        }

        static string Expected(Type t) => (Nullable.GetUnderlyingType(t) ?? t) switch
        {
            var x when x == typeof(int) => "an integer",
            var x when x == typeof(bool) => "true or false",
            var x when x == typeof(string) => "a string",
            var x when x == typeof(float[]) => "an array of numbers",
            var x when x == typeof(int[]) => "an array of integers",
            var x when x == typeof(float[][]) => "an array of [x, y] numbers",
            var x => x.Name,
        };

        static string Truncate(string s) => s.Length <= 60 ? s : s[..57] + "...";

        static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();
    }
}
