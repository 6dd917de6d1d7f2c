using System.CommandLine;
using Sam2Sharp.Modeling;

namespace Sam2Sharp.Cli.Commands;

/// <summary>The --checkpoint / --model / --config options every model command takes (with --models, --offline), --precision and --device.</summary>
public sealed class ModelOptions(bool checkpointRequired = true)
{
    public Option<string?> Checkpoint { get; } = new("--checkpoint")
    {
        Description = "Checkpoint in the official layout (torch.save({\"model\": state_dict})). Or --model.",
    };
    public Option<string?> Model { get; } = new("--model")
    {
        Description = "An official checkpoint by name (sam2.1_hiera_tiny, …, sam2_hiera_large; `sam2 models list`), downloaded and verified once into the cache. Or --checkpoint.",
    };
    public Option<string?> Config { get; } = new("--config")
    {
        Description = "Model config: a built-in name (sam2.1_hiera_t, sam2_hiera_l, …) or an official-format YAML file. Default: the --model's, else inferred from the checkpoint.",
    };
    public Option<string> Precision { get; } = new Option<string>("--precision")
    {
        Description = "fp32 (default: the reference's numbers), bf16 (the encoder and memory in bfloat16: fast on CPUs with AMX or AVX512_BF16), or auto (bf16 where the CPU has them).",
        DefaultValueFactory = _ => "fp32",
    }.AcceptOnlyFromAmong("fp32", "bf16", "auto");
    public Option<string> Device { get; } = new("--device")
    {
        Description = "Where the model runs: cpu (default), cuda or cuda:N (needs the CUDA build of the tool; see the README).",
        DefaultValueFactory = _ => "cpu",
    };
    public HubOptions Hub { get; } = new();

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { Checkpoint, Model, Config, Precision, Device }) c.Options.Add(o);
        Hub.AddTo(c);
    }

    /// <summary>The checkpoint file and config to build from: --checkpoint as given, or --model fetched into the cache.</summary>
    public (string? Checkpoint, string? Config) Resolve(ParseResult r)
    {
        string? checkpoint = r.GetValue(Checkpoint), name = r.GetValue(Model), config = r.GetValue(Config);
        if (checkpoint is not null && name is not null) throw new Sam2Exception("give --checkpoint FILE or --model NAME, not both");
        if (name is null)
            return checkpoint is null && checkpointRequired ? throw new Sam2Exception("no model: give --model NAME (sam2 models list) or --checkpoint FILE") : (checkpoint, config);
        var (path, registered) = Hub.Resolve(r, name);
        return (path, config ?? registered);
    }

    /// <summary>The library's model options from the command line; warns in one line where bf16 would be slower than fp32.</summary>
    public Sam2ModelOptions Options(ParseResult r)
    {
        var precision = r.GetValue(Precision) switch
        {
            "fp32" => Sam2Precision.Float32,
            "bf16" => Sam2Precision.BFloat16,
            "auto" => CpuInfo.Current.FastestPrecision,
            var v => throw new Sam2Exception($"--precision {v}: expected fp32, bf16 or auto"),
        };
        if (CpuInfo.Current.SlowPrecisionWarning(precision) is { } warning) Console.Error.WriteLine(warning);
        return new Sam2ModelOptions { Precision = precision, Device = Sam2ModelOptions.ParseDevice(r.GetValue(Device)!) };
    }

    /// <summary>The model (default options: the reference builders' post-processing) at the precision asked for; with
    /// neither a checkpoint nor a config, <paramref name="defaultConfig"/> with random weights (benchmarks).</summary>
    public Sam2Base Load(ParseResult r, Sam2ModelOptions? options = null, string? defaultConfig = null)
    {
        var (checkpoint, config) = Resolve(r);
        var fromFlags = Options(r);
        var withFlags = (options ?? new Sam2ModelOptions()) with { Precision = fromFlags.Precision, Device = fromFlags.Device };
        return Sam2Builder.Load(config ?? (checkpoint is null ? defaultConfig : null), checkpoint, withFlags);
    }
}
