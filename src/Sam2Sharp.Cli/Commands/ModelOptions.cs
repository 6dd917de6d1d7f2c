using System.CommandLine;
using Sam2Sharp.Modeling;

namespace Sam2Sharp.Cli.Commands;

/// <summary>The --checkpoint / --config pair and --precision every model command takes.</summary>
public sealed class ModelOptions
{
    public Option<string> Checkpoint { get; }
    public Option<string?> Config { get; } = new("--config")
    {
        Description = "Model config: a built-in name (sam2.1_hiera_t, sam2_hiera_l, …) or an official-format YAML file. Default: inferred from the checkpoint.",
    };

    public Option<string> Precision { get; } = new("--precision")
    {
        Description = "fp32 (default: the reference's numbers), bf16 (the encoder and memory in bfloat16: fast on CPUs with AMX or AVX512_BF16), or auto (bf16 where the CPU has them).",
        DefaultValueFactory = _ => "fp32",
    };

    public ModelOptions(bool checkpointRequired = true)
    {
        Precision.AcceptOnlyFromAmong("fp32", "bf16", "auto");
        Checkpoint = new Option<string>("--checkpoint")
        {
            Description = "Checkpoint in the official layout (torch.save({\"model\": state_dict})).",
            Required = checkpointRequired,
        };
    }

    public void AddTo(Command c) { c.Options.Add(Checkpoint); c.Options.Add(Config); c.Options.Add(Precision); }

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
        return new Sam2ModelOptions { Precision = precision };
    }

    /// <summary>The model; with neither --config nor --checkpoint, <paramref name="defaultConfig"/> with random weights (benchmarks).</summary>
    public Sam2Base Load(ParseResult r, Func<Config.Sam2Config, Config.Sam2Config>? adjust = null, string? defaultConfig = null)
    {
        string? config = r.GetValue(Config), checkpoint = r.GetValue(Checkpoint);
        return Sam2Builder.Load(config ?? (checkpoint is null ? defaultConfig : null), checkpoint, adjust, Options(r));
    }
}
