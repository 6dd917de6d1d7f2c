using System.Text.RegularExpressions;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Sam2Sharp.Cluster.Kubernetes;

/// <summary>What an Indexed Job of sam2 tasks needs: the image, the shared claim, the pods' resources.</summary>
public sealed record IndexedJobOptions
{
    /// <summary>The container image (built from the repository's Dockerfile).</summary>
    public required string Image { get; init; }
    /// <summary>The persistent volume claim holding the data, the model cache and the outputs (ReadWriteMany).</summary>
    public required string ClaimName { get; init; }
    /// <summary>Where the claim is mounted; the tasks run there, so relative paths of the command are on it.</summary>
    public string MountPath { get; init; } = "/data";
    /// <summary>Indexes (shards).</summary>
    public int Completions { get; init; } = 1;
    /// <summary>Pods at once (null: all).</summary>
    public int? Parallelism { get; init; }
    /// <summary>Retries of one index.</summary>
    public int BackoffLimitPerIndex { get; init; } = 3;
    /// <summary>CPUs per pod (a Kubernetes quantity: <c>2</c>, <c>500m</c>).</summary>
    public string Cpu { get; init; } = "1";
    /// <summary>Memory per pod (<c>8Gi</c>).</summary>
    public string? Memory { get; init; }
    /// <summary>GPUs per pod (<c>nvidia.com/gpu</c>); null for none.</summary>
    public int? Gpus { get; init; }
    /// <summary>The Job's name.</summary>
    public string JobName { get; init; } = "sam2";
    /// <summary>Its namespace (null: the context's).</summary>
    public string? Namespace { get; init; }
}

/// <summary>
/// A Kubernetes Indexed Job that runs one batch command over shards: pod K of N gets <c>JOB_COMPLETION_INDEX</c> = K and
/// <c>SAM2_SHARD_COUNT</c> = N, the model cache (<c>SAM2_HOME</c>) and the outputs are on the shared claim.
/// </summary>
public static partial class IndexedJob
{
    /// <summary>The cache folder on the claim (tasks share it; one downloads a model, the others wait for it).</summary>
    public const string CacheFolder = "sam2-cache";

    /// <summary>The manifest.</summary>
    /// <exception cref="Sam2Exception">an option is out of range or not of Kubernetes' form.</exception>
    public static JobManifest Create(BatchCommandLine batch, IndexedJobOptions o)
    {
        Check(o);
        var quantities = new Dictionary<string, string> { ["cpu"] = o.Cpu };
        if (o.Memory is { } m) quantities["memory"] = m;
        var limits = new Dictionary<string, string>(quantities);
        if (o.Gpus is { } g) limits["nvidia.com/gpu"] = g.ToString();
        var labels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = "sam2", ["sam2/job"] = o.JobName };
        return new JobManifest
        {
            Metadata = new ObjectMeta { Name = o.JobName, Namespace = o.Namespace, Labels = labels },
            Spec = new JobSpec
            {
                Completions = o.Completions,
                Parallelism = o.Parallelism ?? o.Completions,
                BackoffLimitPerIndex = o.BackoffLimitPerIndex,
                Template = new PodTemplateSpec
                {
                    Metadata = new ObjectMeta { Labels = labels },
                    Spec = new PodSpec
                    {
                        Containers =
                        [
                            new Container
                            {
                                Image = o.Image,
                                Args = [.. batch.Words],
                                WorkingDir = o.MountPath,
                                Env =
                                [
                                    new EnvVar { Name = "SAM2_SHARD_COUNT", Value = o.Completions.ToString() },
                                    new EnvVar { Name = "SAM2_HOME", Value = $"{o.MountPath.TrimEnd('/')}/{CacheFolder}" },
                                    new EnvVar { Name = "OMP_NUM_THREADS", Value = Threads(o.Cpu) },
                                ],
                                Resources = new ResourceRequirements { Requests = quantities, Limits = limits },
                                VolumeMounts = [new VolumeMount { Name = "shared", MountPath = o.MountPath }],
                            },
                        ],
                        Volumes = [new Volume { Name = "shared", PersistentVolumeClaim = new PersistentVolumeClaimSource { ClaimName = o.ClaimName } }],
                    },
                },
            },
        };
    }

    /// <summary>The manifest as YAML.</summary>
    public static string ToYaml(JobManifest manifest) => Serializer.Serialize(manifest);

    /// <summary>Reads a manifest back (unknown keys refused).</summary>
    public static JobManifest Parse(string yaml) => Deserializer.Deserialize<JobManifest>(yaml);

    static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(CamelCaseNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull)
        .DisableAliases()
        .WithQuotingNecessaryStrings() // env values such as "3" stay strings, as the Kubernetes schema wants
        .Build();

    static readonly IDeserializer Deserializer = new DeserializerBuilder()
        .WithNamingConvention(CamelCaseNamingConvention.Instance)
        .Build();

    // Whole CPUs, at least one thread: "500m" → 1, "2" → 2, "2500m" → 2.
    static string Threads(string cpu) =>
        Math.Max(1, cpu.EndsWith('m') ? int.Parse(cpu[..^1]) / 1000 : (int)double.Parse(cpu, System.Globalization.CultureInfo.InvariantCulture)).ToString();

    static void Check(IndexedJobOptions o)
    {
        if (o.Completions < 1) throw new Sam2Exception($"--completions {o.Completions}: at least 1");
        if (o.Parallelism is < 1) throw new Sam2Exception($"--parallelism {o.Parallelism}: at least 1");
        if (o.BackoffLimitPerIndex < 0) throw new Sam2Exception($"--backoff-limit-per-index {o.BackoffLimitPerIndex}: not negative");
        if (o.Gpus is < 0) throw new Sam2Exception($"--gpus {o.Gpus}: not negative");
        if (!CpuForm().IsMatch(o.Cpu)) throw new Sam2Exception($"--cpu '{o.Cpu}': expected a quantity such as 2, 0.5 or 500m");
        if (o.Memory is { } m && !MemoryForm().IsMatch(m)) throw new Sam2Exception($"--memory '{m}': expected a quantity such as 8Gi or 512Mi");
        if (!DnsName().IsMatch(o.JobName) || o.JobName.Length > 63) throw new Sam2Exception($"--job-name '{o.JobName}': lower-case letters, digits and '-' (at most 63)");
        if (o.Namespace is { } ns && !DnsName().IsMatch(ns)) throw new Sam2Exception($"--namespace '{ns}': lower-case letters, digits and '-'");
        if (!DnsName().IsMatch(o.ClaimName)) throw new Sam2Exception($"--pvc '{o.ClaimName}': a claim name is lower-case letters, digits and '-'");
        if (!o.MountPath.StartsWith('/')) throw new Sam2Exception($"--mount-path '{o.MountPath}': an absolute path in the container");
        if (string.IsNullOrWhiteSpace(o.Image)) throw new Sam2Exception("--image: the container image is required");
    }

    [GeneratedRegex(@"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")] private static partial Regex CpuForm();
    [GeneratedRegex(@"^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$")] private static partial Regex MemoryForm();
    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] private static partial Regex DnsName();
}
