namespace Sam2Sharp.Cluster.Kubernetes;

// The part of the Kubernetes batch/v1 Job schema an Indexed Job of sam2 tasks uses, as typed YAML models
// (property names become camelCase keys; null properties are left out).

/// <summary>A Kubernetes Job (<c>apiVersion: batch/v1</c>, <c>kind: Job</c>).</summary>
public sealed class JobManifest
{
    /// <summary>Always <c>batch/v1</c>.</summary>
    public string ApiVersion { get; set; } = "batch/v1";
    /// <summary>Always <c>Job</c>.</summary>
    public string Kind { get; set; } = "Job";
    /// <summary>Name, namespace, labels.</summary>
    public ObjectMeta Metadata { get; set; } = new();
    /// <summary>The Job's spec.</summary>
    public JobSpec Spec { get; set; } = new();
}

/// <summary>An object's name, namespace and labels.</summary>
public sealed class ObjectMeta
{
    /// <summary>The object's name.</summary>
    public string? Name { get; set; }
    /// <summary>Its namespace (null: the context's).</summary>
    public string? Namespace { get; set; }
    /// <summary>Its labels.</summary>
    public Dictionary<string, string>? Labels { get; set; }
}

/// <summary>What the Job runs: <see cref="Completions"/> indexed pods, <see cref="Parallelism"/> at once.</summary>
public sealed class JobSpec
{
    /// <summary><c>Indexed</c>: each pod gets JOB_COMPLETION_INDEX.</summary>
    public string CompletionMode { get; set; } = "Indexed";
    /// <summary>How many indexes (shards).</summary>
    public int Completions { get; set; }
    /// <summary>Pods at once.</summary>
    public int Parallelism { get; set; }
    /// <summary>Retries per index before that index counts as failed (Kubernetes 1.29 or later).</summary>
    public int? BackoffLimitPerIndex { get; set; }
    /// <summary>The pods' template.</summary>
    public PodTemplateSpec Template { get; set; } = new();
}

/// <summary>A pod template.</summary>
public sealed class PodTemplateSpec
{
    /// <summary>The pods' labels.</summary>
    public ObjectMeta? Metadata { get; set; }
    /// <summary>The pods' spec.</summary>
    public PodSpec Spec { get; set; } = new();
}

/// <summary>A pod's containers and volumes.</summary>
public sealed class PodSpec
{
    /// <summary><c>Never</c>: a failed index is retried as a new pod (required by backoffLimitPerIndex).</summary>
    public string RestartPolicy { get; set; } = "Never";
    /// <summary>The containers (one).</summary>
    public List<Container> Containers { get; set; } = [];
    /// <summary>The volumes (the shared claim).</summary>
    public List<Volume> Volumes { get; set; } = [];
}

/// <summary>A container.</summary>
public sealed class Container
{
    /// <summary>Its name.</summary>
    public string Name { get; set; } = "sam2";
    /// <summary>The image (the repository's Dockerfile: ENTRYPOINT sam2).</summary>
    public string? Image { get; set; }
    /// <summary>The arguments after the entry point: the batch command.</summary>
    public List<string> Args { get; set; } = [];
    /// <summary>Where relative paths of the command start.</summary>
    public string? WorkingDir { get; set; }
    /// <summary>Environment variables.</summary>
    public List<EnvVar> Env { get; set; } = [];
    /// <summary>Requests and limits.</summary>
    public ResourceRequirements? Resources { get; set; }
    /// <summary>Volume mounts.</summary>
    public List<VolumeMount> VolumeMounts { get; set; } = [];
}

/// <summary>An environment variable.</summary>
public sealed class EnvVar
{
    /// <summary>Its name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Its value.</summary>
    public string Value { get; set; } = "";
}

/// <summary>Resource requests and limits (<c>cpu</c>, <c>memory</c>, <c>nvidia.com/gpu</c>).</summary>
public sealed class ResourceRequirements
{
    /// <summary>What the scheduler reserves.</summary>
    public Dictionary<string, string>? Requests { get; set; }
    /// <summary>What the container may use at most.</summary>
    public Dictionary<string, string>? Limits { get; set; }
}

/// <summary>A volume mounted in a container.</summary>
public sealed class VolumeMount
{
    /// <summary>The volume's name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Where it appears in the container.</summary>
    public string MountPath { get; set; } = "";
}

/// <summary>A pod volume backed by a persistent volume claim.</summary>
public sealed class Volume
{
    /// <summary>Its name.</summary>
    public string Name { get; set; } = "";
    /// <summary>The claim.</summary>
    public PersistentVolumeClaimSource? PersistentVolumeClaim { get; set; }
}

/// <summary>A reference to a persistent volume claim.</summary>
public sealed class PersistentVolumeClaimSource
{
    /// <summary>The claim's name.</summary>
    public string ClaimName { get; set; } = "";
}
