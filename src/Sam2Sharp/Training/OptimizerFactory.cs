using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>
/// The optimisation settings of the official SAM 2.1 fine-tuning config: AdamW, a base and a vision
/// (image encoder) learning rate, each on a cosine schedule to a tenth, layer-wise lr decay in the
/// Hiera trunk (pos_embed exempt), weight decay except on biases and LayerNorm parameters, gradient
/// clipping. Linear warm-up is our addition (0 steps = none, as the official config).
/// </summary>
public sealed record OptimizerSettings
{
    /// <summary>The starting lr of every parameter outside the image encoder.</summary>
    public double BaseLr { get; init; } = 5.0e-6;
    /// <summary>The lr of parameters matching <see cref="VisionLrPatterns"/> (the image encoder).</summary>
    public double VisionLr { get; init; } = 3.0e-6;
    /// <summary>Parameter-name patterns (fnmatch style) that take <see cref="VisionLr"/>.</summary>
    public IReadOnlyList<string> VisionLrPatterns { get; init; } = new[] { "image_encoder.*" };
    /// <summary>Both schedules end at this fraction of their start.</summary>
    public double EndLrFactor { get; init; } = 0.1;
    /// <summary>Steps of linear lr warm-up before the cosine schedule (0: none).</summary>
    public long WarmupSteps { get; init; }
    /// <summary>AdamW's weight decay, on every parameter not exempt.</summary>
    public double WeightDecay { get; init; } = 0.1;
    /// <summary>Parameters (name patterns, fnmatch style) with no weight decay; LayerNorm parameters too when set.</summary>
    public IReadOnlyList<string> NoWeightDecayPatterns { get; init; } = new[] { "*bias*" };
    /// <summary>Whether LayerNorm weights and biases are exempt from weight decay.</summary>
    public bool NoWeightDecayForLayerNorm { get; init; } = true;
    /// <summary>Layer-wise lr decay per trunk block (1: none).</summary>
    public double LayerDecay { get; init; } = 0.9;
    /// <summary>Lower bound of a layer-decay scale (<see langword="null"/>: none).</summary>
    public double? LayerDecayMin { get; init; }
    /// <summary>Name prefix of the parameters layer decay applies to (the Hiera trunk).</summary>
    public string LayerDecayApplyTo { get; init; } = "image_encoder.trunk";
    /// <summary>Name patterns (fnmatch style) whose layer-decay scale is set directly, first match wins.</summary>
    public IReadOnlyList<(string Pattern, double Value)> LayerDecayOverrides { get; init; } = new[] { ("*pos_embed*", 1.0) };
    /// <summary>Max L2 norm of all gradients together (null or ≤ 0: no clipping).</summary>
    public double? GradClipMaxNorm { get; init; } = 0.1;
    /// <summary>AdamW's first-moment decay.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW's second-moment decay.</summary>
    public double Beta2 { get; init; } = 0.999;
    /// <summary>AdamW's denominator epsilon.</summary>
    public double Eps { get; init; } = 1e-8;
}

/// <summary>A parameter group: its parameters and what scales its options.</summary>
public sealed record TrainParamGroup(IReadOnlyList<string> Names, bool Vision, double LrScale, double WeightDecay, ParamGroup Group);

/// <summary>
/// AdamW over the model's trainable parameters in groups (lr schedule × layer scale × weight decay),
/// with the schedule applied per step and gradient clipping before each update.
/// </summary>
public sealed class TrainOptimizer : IDisposable
{
    /// <summary>The underlying AdamW optimiser.</summary>
    public AdamW Optimizer { get; }
    /// <summary>The parameter groups, each with its lr scale and weight decay.</summary>
    public IReadOnlyList<TrainParamGroup> Groups { get; }
    /// <summary>The settings it was built with.</summary>
    public OptimizerSettings Settings { get; }
    /// <summary>Steps of the whole run: the schedule reaches its end lr here.</summary>
    public long TotalSteps { get; }
    readonly List<Parameter> parameters;

    internal TrainOptimizer(AdamW optimizer, IReadOnlyList<TrainParamGroup> groups, OptimizerSettings settings, long totalSteps)
    {
        Optimizer = optimizer; Groups = groups; Settings = settings; TotalSteps = totalSteps;
        parameters = groups.SelectMany(g => g.Group.Parameters).ToList();
        SetStep(0);
    }

    /// <summary>The base (or vision) lr at a step: linear warm-up, then cosine from the start value to EndLrFactor of it.</summary>
    public double ScheduledLr(long step, bool vision) =>
        CosineWithWarmup(vision ? Settings.VisionLr : Settings.BaseLr, Settings.EndLrFactor, Settings.WarmupSteps, TotalSteps, step);

    /// <summary>A cosine schedule from <paramref name="start"/> to <paramref name="start"/>×<paramref name="endFactor"/> over the steps after a linear warm-up.</summary>
    /// <param name="start">The lr after warm-up.</param>
    /// <param name="endFactor">The final lr as a fraction of <paramref name="start"/>.</param>
    /// <param name="warmupSteps">Steps of linear warm-up from start/warmupSteps to start (0: none).</param>
    /// <param name="totalSteps">Steps of the whole run, warm-up included.</param>
    /// <param name="step">The 0-based step; steps past the end keep the final lr.</param>
    public static double CosineWithWarmup(double start, double endFactor, long warmupSteps, long totalSteps, long step)
    {
        if (warmupSteps > 0 && step < warmupSteps) return start * (step + 1) / warmupSteps;
        double end = start * endFactor;
        long span = Math.Max(1, totalSteps - warmupSteps);
        double where = Math.Clamp((double)(step - warmupSteps) / span, 0.0, 1.0);
        return end + 0.5 * (start - end) * (1 + Math.Cos(Math.PI * where));
    }

    /// <summary>Sets every group's lr for the given step.</summary>
    public void SetStep(long step)
    {
        foreach (var g in Groups) g.Group.LearningRate = ScheduledLr(step, g.Vision) * g.LrScale;
    }

    /// <summary>The lr of the default (non-vision, unscaled) parameters at the current step.</summary>
    public double CurrentLr(long step) => ScheduledLr(step, false);

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad() => Optimizer.zero_grad();

    /// <summary>Clips the gradients (if set) and updates with the lr of <paramref name="step"/>; returns the gradient norm before clipping.</summary>
    public double Step(long step)
    {
        SetStep(step);
        double norm = Settings.GradClipMaxNorm is double max && max > 0
            ? nn.utils.clip_grad_norm_(parameters, max)
            : GradNorm(parameters);
        Optimizer.step();
        return norm;
    }

    static double GradNorm(IEnumerable<Parameter> ps)
    {
        double sq = 0;
        foreach (var p in ps)
            if (p.grad is { } g) sq += g.pow(2).sum().item<float>();
        return Math.Sqrt(sq);
    }

    /// <summary>Disposes the optimiser's state tensors.</summary>
    public void Dispose() => Optimizer.Dispose();
}

/// <summary>Builds <see cref="TrainOptimizer"/> for a SAM 2 model (the reference's construct_optimizer with the fine-tuning config).</summary>
public static class OptimizerFactory
{
    /// <summary>
    /// Groups the model's trainable parameters (frozen ones are left out) by lr schedule (base or
    /// vision), layer-decay scale and weight decay, and builds AdamW over the groups.
    /// </summary>
    public static TrainOptimizer Create(nn.Module model, OptimizerSettings settings, long totalSteps)
    {
        var named = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        if (named.Count == 0) throw new ArgumentException("the model has no trainable parameters");
        var names = named.Select(p => p.name).ToList();
        var noDecay = new HashSet<string>(names.Where(n => settings.NoWeightDecayPatterns.Any(pat => FnMatch(n, pat))), StringComparer.Ordinal);
        if (settings.NoWeightDecayForLayerNorm) noDecay.UnionWith(LayerNormParameterNames(model));
        int numBlocks = NumBlocks(names, settings.LayerDecayApplyTo);

        var byKey = new Dictionary<(bool Vision, string Layer, bool Decay), (double Scale, List<(string, Parameter)> Items)>();
        // Sorted names keep the grouping (and the optimiser state order) stable across runs.
        foreach (var (name, p) in named.OrderBy(p => p.name, StringComparer.Ordinal))
        {
            bool vision = settings.VisionLrPatterns.Any(pat => FnMatch(name, pat));
            var (layer, scale) = LayerScale(name, settings, numBlocks);
            bool decay = !noDecay.Contains(name);
            var key = (vision, layer, decay);
            if (!byKey.TryGetValue(key, out var entry)) byKey[key] = entry = (scale, new());
            entry.Items.Add((name, p));
        }
        var groups = new List<TrainParamGroup>();
        foreach (var ((vision, _, decay), (scale, items)) in byKey)
        {
            double wd = decay ? settings.WeightDecay : 0.0;
            var pg = new AdamW.ParamGroup(items.Select(i => i.Item2), new AdamW.Options
            {
                LearningRate = settings.BaseLr, InitialLearningRate = settings.BaseLr,
                beta1 = settings.Beta1, beta2 = settings.Beta2, eps = settings.Eps, weight_decay = wd, amsgrad = false, maximize = false,
            });
            groups.Add(new TrainParamGroup(items.Select(i => i.Item1).ToList(), vision, scale, wd, pg));
        }
        var opt = new AdamW(groups.Select(g => (AdamW.ParamGroup)g.Group), settings.BaseLr, settings.Beta1, settings.Beta2,
            settings.Eps, settings.WeightDecay, false, false);
        return new TrainOptimizer(opt, groups, settings, totalSteps);
    }

    /// <summary>
    /// The layer-decay group and lr scale of a parameter (the reference's layer_decay_param_modifier with
    /// Hiera's get_layer_id): with L blocks, patch and position embeddings get decay^(L+1), block i
    /// decay^(L-i), everything else 1; an override pattern sets the scale directly.
    /// </summary>
    public static (string Layer, double Scale) LayerScale(string name, OptimizerSettings s, int numBlocks)
    {
        if (s.LayerDecay == 1.0 || !name.StartsWith(s.LayerDecayApplyTo, StringComparison.Ordinal)) return ("rest", 1.0);
        foreach (var (pattern, value) in s.LayerDecayOverrides)
            if (FnMatch(name, pattern)) return ("override:" + pattern, value);
        int numLayers = numBlocks + 1;
        int id = HieraLayerId(name, numBlocks);
        double scale = Math.Pow(s.LayerDecay, numLayers - id);
        if (s.LayerDecayMin is double min) scale = Math.Max(scale, min);
        return (id == numLayers ? "rest" : "layer" + id, scale);
    }

    /// <summary>Hiera's get_layer_id: 0 for embeddings, block index + 1 for blocks, L + 1 otherwise.</summary>
    public static int HieraLayerId(string name, int numBlocks)
    {
        if (name.Contains("rel_pos")) return numBlocks + 1;
        if (name.Contains("pos_embed") || name.Contains("patch_embed")) return 0;
        int i = name.IndexOf("blocks", StringComparison.Ordinal);
        if (i >= 0)
        {
            var parts = name[(i + "blocks".Length)..].Split('.');
            if (parts.Length > 1 && int.TryParse(parts[1], out int b)) return b + 1;
        }
        return numBlocks + 1;
    }

    static int NumBlocks(IEnumerable<string> names, string applyTo)
    {
        var re = new Regex("^" + Regex.Escape(applyTo) + @"\.blocks\.(\d+)\.");
        int n = 0;
        foreach (var name in names)
            if (re.Match(name) is { Success: true } m) n = Math.Max(n, int.Parse(m.Groups[1].Value) + 1);
        return n;
    }

    /// <summary>Names of the parameters owned directly by torch LayerNorm modules.</summary>
    public static HashSet<string> LayerNormParameterNames(nn.Module model)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (moduleName, m) in model.named_modules())
        {
            if (m is not LayerNorm) continue;
            foreach (var (pn, _) in m.named_parameters(recurse: false))
                set.Add(moduleName.Length == 0 ? pn : moduleName + "." + pn);
        }
        return set;
    }

    /// <summary>Python fnmatch.fnmatchcase: '*' any run (dots too), '?' one character, [seq] a set.</summary>
    public static bool FnMatch(string name, string pattern)
    {
        var sb = new System.Text.StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '*') sb.Append(".*");
            else if (c == '?') sb.Append('.');
            else if (c == '[')
            {
                int j = pattern.IndexOf(']', i + 1);
                if (j < 0) { sb.Append(@"\["); continue; }
                var set = pattern[(i + 1)..j];
                sb.Append('[').Append(set.StartsWith('!') ? "^" + Regex.Escape(set[1..]) : Regex.Escape(set)).Append(']');
                i = j;
            }
            else sb.Append(Regex.Escape(c.ToString()));
        }
        return Regex.IsMatch(name, sb.Append('$').ToString(), RegexOptions.Singleline);
    }
}
