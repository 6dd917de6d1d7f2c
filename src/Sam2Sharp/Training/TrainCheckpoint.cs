using System.Collections;
using System.Text.Json;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>Where a run stands: enough to continue it exactly (weights and optimiser state are stored beside it).</summary>
public sealed record ResumeState
{
    /// <summary>Optimiser steps done.</summary>
    public long Step { get; init; }
    /// <summary>Steps the run was started for.</summary>
    public long TotalSteps { get; init; }
    /// <summary>The run's seed; each step's random numbers derive from (seed, step), so resuming draws the same ones.</summary>
    public int Seed { get; init; }
    /// <summary>The model config the run was started with.</summary>
    public string? ConfigPath { get; init; }
    /// <summary>The core loss of the last step before the checkpoint.</summary>
    public double LastLoss { get; init; }
}

/// <summary>
/// Training checkpoints. The model file is written by <see cref="Checkpoint.Save"/> in the official layout;
/// the resume file holds the step, the seed and the AdamW state (our own format).
/// </summary>
public static class TrainCheckpoint
{
    const string ResumeMagic = "SAM2SHARP-RESUME-1";

    /// <summary>Writes the resume state and the optimiser's state (AdamW moments and step counts).</summary>
    public static void SaveResume(string path, ResumeState state, TrainOptimizer optimizer)
    {
        var tmp = path + ".tmp";
        using (var fs = File.Create(tmp))
        using (var w = new BinaryWriter(fs))
        {
            w.Write(ResumeMagic);
            w.Write(JsonSerializer.Serialize(state));
            w.Write(optimizer.Groups.Count);
            foreach (var g in optimizer.Groups) w.Write(string.Join("\n", g.Names));
            optimizer.Optimizer.save_state_dict(w);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a resume file into the given optimiser (built the same way: same groups in the same order).</summary>
    public static ResumeState LoadResume(string path, TrainOptimizer optimizer)
    {
        using var fs = File.OpenRead(path);
        using var r = new BinaryReader(fs);
        if (r.ReadString() != ResumeMagic) throw new Sam2Exception($"{path} is not a Sam2Sharp resume file");
        var state = JsonSerializer.Deserialize<ResumeState>(r.ReadString()) ?? throw new Sam2Exception($"{path}: no state");
        int n = r.ReadInt32();
        if (n != optimizer.Groups.Count) throw new Sam2Exception($"{path}: {n} parameter groups, the optimiser has {optimizer.Groups.Count}");
        for (int i = 0; i < n; i++)
            if (r.ReadString() != string.Join("\n", optimizer.Groups[i].Names))
                throw new Sam2Exception($"{path}: parameter group {i} differs from the optimiser's (another model or settings?)");
        optimizer.Optimizer.load_state_dict(r);
        optimizer.SetStep(state.Step);
        return state;
    }

    /// <summary>
    /// The random numbers of one step, all seeded from (seed, step): a System.Random and a torch generator
    /// for Sam2Train's prompt sampling, and torch's global generator (dropout, drop-path).
    /// </summary>
    public static (Random Rng, Generator TorchRng) SeedStep(int seed, long step)
    {
        int s = Mix(seed, step);
        torch.manual_seed(s ^ 0x2545F491);
        return (new Random(s), new Generator((ulong)s));
    }

    /// <summary>A non-negative seed from (seed, n): a fixed splitmix64 mix, the same in every process (HashCode is not).</summary>
    public static int Mix(int seed, long n)
    {
        unchecked
        {
            ulong z = (ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)n * 0xBF58476D1CE4E5B9UL + 0x94D049BB133111EBUL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z & 0x7FFFFFFF);
        }
    }
}
