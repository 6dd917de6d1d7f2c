using System.Reflection;
using Sam2Sharp.IO;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Sam2Sharp.Config;

/// <summary>
/// Reads a model config in the official Hydra YAML format (the <c>model:</c> tree with
/// <c>_target_</c> names) into <see cref="Sam2Config"/>, deserialized by YamlDotNet straight into the
/// typed records (snake_case keys). Unknown keys are refused by name, so a typo does not silently
/// fall back to a default; every value is then checked by <see cref="ConfigValidation"/>.
/// </summary>
public static class ConfigLoader
{
    // The class each section's `_target_` may name (the reference's module paths end in these),
    // which is also the list of sections a model config must have.
    static readonly Dictionary<string, string[]> Targets = new()
    {
        ["model"] = ["SAM2Base", "SAM2VideoPredictor", "SAM2VideoPredictorVOS", "SAM2Train"],
        ["model.image_encoder"] = ["ImageEncoder"],
        ["model.image_encoder.trunk"] = ["Hiera"],
        ["model.image_encoder.neck"] = ["FpnNeck"],
        ["model.image_encoder.neck.position_encoding"] = ["PositionEmbeddingSine"],
        ["model.memory_attention"] = ["MemoryAttention"],
        ["model.memory_attention.layer"] = ["MemoryAttentionLayer"],
        ["model.memory_attention.layer.self_attention"] = ["RoPEAttention"],
        ["model.memory_attention.layer.cross_attention"] = ["RoPEAttention"],
        ["model.memory_encoder"] = ["MemoryEncoder"],
        ["model.memory_encoder.mask_downsampler"] = ["MaskDownSampler"],
        ["model.memory_encoder.fuser"] = ["Fuser"],
        ["model.memory_encoder.fuser.layer"] = ["CXBlock"],
        ["model.memory_encoder.position_encoding"] = ["PositionEmbeddingSine"],
    };

    // Keys of SAM2Train configs (training only) and the trunk's weights_path: accepted, not used.
    static readonly HashSet<string> Ignored =
    [
        .. new[]
        {
            "prob_to_use_pt_input_for_train", "prob_to_use_pt_input_for_eval", "prob_to_use_box_input_for_train",
            "prob_to_use_box_input_for_eval", "num_frames_to_correct_for_train", "num_frames_to_correct_for_eval",
            "rand_frames_to_correct_for_train", "rand_frames_to_correct_for_eval", "num_init_cond_frames_for_train",
            "num_init_cond_frames_for_eval", "rand_init_cond_frames_for_train", "rand_init_cond_frames_for_eval",
            "add_all_frames_to_correct_as_cond", "num_correction_pt_per_frame", "pt_sampling_for_eval", "prob_to_sample_from_gt_for_train",
            "use_act_ckpt_iterative_pt_sampling", "forward_backbone_per_frame_for_eval", "freeze_image_encoder",
        }.Select(k => "model." + k),
        "model.image_encoder.trunk.weights_path",
    ];

    static readonly INamingConvention Naming = UnderscoredNamingConvention.Instance;

    static readonly IDeserializer Deserializer = new DeserializerBuilder()
        .WithNamingConvention(Naming)
        .WithAttributeOverride<Sam2Config>(c => c.Name, new YamlIgnoreAttribute())
        .WithAttributeOverride<HieraConfig>(h => h.ReturnInterimLayers, new YamlMemberAttribute { Alias = "return_interm_layers" })
        .Build();

    /// <summary>A built-in name (sam2.1_hiera_t, …) or a path to a YAML file.</summary>
    public static Sam2Config Load(string nameOrPath)
    {
        if (File.Exists(nameOrPath) || Directory.Exists(nameOrPath)) return LoadYaml(nameOrPath);
        if (BuiltinConfigs.TryGet(nameOrPath, out var c)) return c;
        if (nameOrPath.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || nameOrPath.Contains('/'))
            throw new Sam2Exception($"config file not found: {nameOrPath}");
        return BuiltinConfigs.Get(nameOrPath);
    }

    /// <summary>Reads a YAML config file (at most <see cref="YamlInput.MaxBytes"/>).</summary>
    public static Sam2Config LoadYaml(string path)
    {
        using var stream = InputFiles.OpenRegular(path, "config");
        return LoadYaml(stream, path);
    }

    /// <summary>Reads a YAML config from a stream; <paramref name="name"/> names it in messages.</summary>
    public static Sam2Config LoadYaml(Stream stream, string name)
    {
        var events = YamlInput.ReadEvents(stream, $"config {name}");
        var model = new ModelEvents(events, name);
        Sam2Config cfg;
        try { cfg = Deserializer.Deserialize<Sam2Config>(model) ?? throw new Sam2Exception($"config {name}: 'model' is empty"); }
        catch (YamlException e) { throw model.Explain(e); }
        foreach (var section in Targets.Keys)
            if (!model.Seen.Contains(section)) throw new Sam2Exception($"config {name}: {section} is missing");
        cfg = cfg with { Name = name };
        ConfigValidation.Validate(cfg);
        return cfg;
    }

    static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>
    /// The events of the top-level <c>model</c> value as a document of its own, without the
    /// <c>_target_</c> keys (checked against <see cref="Targets"/>) and the ignored keys, remembering
    /// where each key is so that a deserialization error can name it.
    /// </summary>
    sealed class ModelEvents : IParser
    {
        readonly List<ParsingEvent> output = [];
        readonly Dictionary<Mark, string> keyAt = [];
        readonly string name;
        int next = -1;

        public HashSet<string> Seen { get; } = [];

        public ModelEvents(List<ParsingEvent> events, string name)
        {
            this.name = name;
            int i = 0;
            while (i < events.Count && events[i] is StreamStart or DocumentStart) i++;
            if (i >= events.Count || events[i] is not MappingStart)
                throw new Sam2Exception($"config {name}: empty or not a mapping");
            i++;
            while (events[i] is not MappingEnd)
            {
                var key = events[i] as Scalar ?? throw new Sam2Exception($"config {name}: keys must be plain names (line {events[i].Start.Line})");
                if (key.Value == "model")
                {
                    output.Add(new StreamStart());
                    output.Add(new DocumentStart());
                    Copy(events, i + 1, "model");
                    output.Add(new DocumentEnd(true));
                    output.Add(new StreamEnd());
                    return;
                }
                i = Skip(events, i + 1); // scratch, dataset, trainer, launcher of training configs are not ours
            }
            throw new Sam2Exception($"config {name}: no 'model' section");
        }

        /// <summary>Copies the node at <paramref name="i"/> (the value of <paramref name="path"/>); returns the index after it.</summary>
        int Copy(List<ParsingEvent> events, int i, string path)
        {
            Seen.Add(path);
            keyAt.TryAdd(events[i].Start, path);
            if (events[i] is not MappingStart)
            {
                int end = Skip(events, i);
                output.AddRange(events.GetRange(i, end - i));
                return end;
            }
            output.Add(events[i++]);
            while (events[i] is not MappingEnd)
            {
                var key = events[i] as Scalar ?? throw new Sam2Exception($"config {name}: {path}: keys must be plain names (line {events[i].Start.Line})");
                string child = $"{path}.{key.Value}";
                if (key.Value == "_target_") { CheckTarget(path, events[i + 1]); i = Skip(events, i + 1); continue; }
                if (Ignored.Contains(child)) { i = Skip(events, i + 1); continue; }
                keyAt.TryAdd(key.Start, child);
                output.Add(key);
                i = Copy(events, i + 1, child);
            }
            output.Add(events[i]);
            return i + 1;
        }

        void CheckTarget(string path, ParsingEvent value)
        {
            if (!Targets.TryGetValue(path, out var classes) || value is not Scalar { Value: var target }) return;
            var cls = target[(target.LastIndexOf('.') + 1)..];
            if (!classes.Contains(cls))
                throw new Sam2Exception($"config {name}: {path}._target_: '{target}' is not supported here (expected {string.Join(" or ", classes)})");
        }

        /// <summary>The index after the node starting at <paramref name="i"/>.</summary>
        static int Skip(List<ParsingEvent> events, int i)
        {
            int depth = 0;
            do
            {
                if (events[i] is MappingStart or SequenceStart) depth++;
                else if (events[i] is MappingEnd or SequenceEnd) depth--;
                i++;
            } while (depth > 0);
            return i;
        }

        /// <summary>A deserialization error as one line naming the key, what it should be and the line.</summary>
        public Sam2Exception Explain(YamlException e)
        {
            // YamlDotNet marks the key for an unknown property and the value for a bad one.
            var path = keyAt.TryGetValue(e.Start, out var p) ? p : null;
            if (path is null) return new($"config {name}: invalid value at line {e.Start.Line}: {FirstLine(e.InnerException?.Message ?? e.Message)}");
            var type = TypeAt(path);
            if (type is null) return new($"config {name}: {path}: unknown key (line {e.Start.Line})");
            return new($"config {name}: {path}: expected {Describe(type)} (line {e.Start.Line})");
        }

        public ParsingEvent? Current => next >= 0 && next < output.Count ? output[next] : null;

        public bool MoveNext() => ++next < output.Count;
    }

    /// <summary>The property type a dotted YAML path lands on, or null when no record has that key.</summary>
    static Type? TypeAt(string path)
    {
        Type? t = typeof(Sam2Config);
        foreach (var part in path.Split('.').Skip(1))
        {
            var prop = t?.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .FirstOrDefault(p => YamlName(p) == part);
            t = prop?.PropertyType;
            if (t is null) return null;
        }
        return t;
    }

    static string YamlName(PropertyInfo p) =>
        p.Name == nameof(HieraConfig.ReturnInterimLayers) ? "return_interm_layers" : Naming.Apply(p.Name);

    static string Describe(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (t == typeof(int)) return "an integer";
        if (t == typeof(double)) return "a number";
        if (t == typeof(bool)) return "true or false";
        if (t == typeof(string)) return "a name";
        if (t == typeof(int[])) return "a list of integers";
        return "a mapping";
    }
}
