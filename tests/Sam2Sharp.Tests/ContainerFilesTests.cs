using Sam2Sharp.Cluster;
using Sam2Sharp.Cluster.Kubernetes;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace Sam2Sharp.Tests;

/// <summary>
/// The Kubernetes manifest and the Dockerfile, checked offline: no cluster, image registry or docker is reachable here,
/// so they are parsed back and their fields checked, not run.
/// </summary>
public sealed class ContainerFilesTests
{
    [Fact]
    public void IndexedJobManifestHasTheFieldsKubernetesNeeds()
    {
        var line = BatchCommandLine.Parse(["vos", "--model", "sam2.1_hiera_tiny", "--base-video-dir", "DAVIS/JPEGImages/480p",
            "--input-mask-dir", "DAVIS/Annotations/480p", "--output-mask-dir", "out/davis"]);
        string yaml = IndexedJob.ToYaml(IndexedJob.Create(line, new IndexedJobOptions
        {
            Image = "registry.example.org/sam2sharp:1.0", ClaimName = "vos-data", Completions = 8, Parallelism = 4,
            Cpu = "4", Memory = "8Gi", Gpus = 1, JobName = "sam2-davis", Namespace = "annot",
        }));
        var job = IndexedJob.Parse(yaml);
        Assert.Equal(("batch/v1", "Job"), (job.ApiVersion, job.Kind));
        Assert.Equal(("sam2-davis", "annot"), (job.Metadata.Name, job.Metadata.Namespace));
        Assert.Equal(("Indexed", 8, 4, 3), (job.Spec.CompletionMode, job.Spec.Completions, job.Spec.Parallelism, job.Spec.BackoffLimitPerIndex));
        var pod = job.Spec.Template.Spec;
        Assert.Equal("Never", pod.RestartPolicy);
        var c = Assert.Single(pod.Containers);
        Assert.Equal("registry.example.org/sam2sharp:1.0", c.Image);
        Assert.Equal(line.Words, c.Args);
        Assert.Equal("/data", c.WorkingDir);
        var env = c.Env.ToDictionary(e => e.Name, e => e.Value);
        Assert.Equal("8", env["SAM2_SHARD_COUNT"]);
        Assert.Equal("/data/" + IndexedJob.CacheFolder, env["SAM2_HOME"]);
        Assert.Equal("4", env["OMP_NUM_THREADS"]);
        Assert.Equal(new Dictionary<string, string> { ["cpu"] = "4", ["memory"] = "8Gi" }, c.Resources!.Requests);
        Assert.Equal("1", c.Resources.Limits!["nvidia.com/gpu"]);
        var mount = Assert.Single(c.VolumeMounts);
        var volume = Assert.Single(pod.Volumes);
        Assert.Equal((volume.Name, "/data"), (mount.Name, mount.MountPath));
        Assert.Equal("vos-data", volume.PersistentVolumeClaim!.ClaimName);

        // Kubernetes wants env values as strings: the scalar "8" must be quoted in the YAML, not a number.
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var envNode = (YamlSequenceNode)Walk(stream.Documents[0].RootNode, "spec", "template", "spec", "containers", "0", "env");
        foreach (YamlMappingNode e in envNode)
        {
            var value = (YamlScalarNode)e.Children[new YamlScalarNode("value")];
            if (int.TryParse(value.Value, out _)) Assert.NotEqual(YamlDotNet.Core.ScalarStyle.Plain, value.Style);
        }
        Assert.DoesNotContain("&", yaml); // no YAML anchors: plain manifests for kubectl and humans
    }

    static YamlNode Walk(YamlNode node, params string[] path) =>
        path.Aggregate(node, (n, key) => n is YamlSequenceNode s ? s.Children[int.Parse(key)] : ((YamlMappingNode)n).Children[new YamlScalarNode(key)]);

    [Theory]
    [InlineData("--cpu", "two", "--cpu 'two'")]
    [InlineData("--memory", "8GB", "--memory '8GB'")]
    [InlineData("--job-name", "Sam2_Job", "--job-name 'Sam2_Job'")]
    [InlineData("--mount-path", "data", "an absolute path")]
    [InlineData("--completions", "0", "--completions 0")]
    public void BadManifestOptionsAreOneLineErrors(string option, string value, string expected)
    {
        var (code, _, err) = ClusterSubmissionTests.Run("k8s", "--image", "i", "--pvc", "p", option, value, "--", "vos", "--output-mask-dir", "o");
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains(expected, err);
    }

    /// <summary>Dockerfile instructions: comments dropped, continuation lines joined.</summary>
    static List<(string Op, string Args)> Instructions(string text)
    {
        var list = new List<(string, string)>();
        string pending = "";
        foreach (var raw in text.Split('\n'))
        {
            var l = raw.TrimEnd();
            if (pending.Length == 0 && (l.TrimStart().StartsWith('#') || l.Trim().Length == 0)) continue;
            if (l.EndsWith('\\')) { pending += l[..^1] + " "; continue; }
            l = (pending + l).Trim();
            pending = "";
            int space = l.IndexOf(' ');
            list.Add((l[..space].ToUpperInvariant(), l[(space + 1)..].Trim()));
        }
        Assert.Equal("", pending);
        return list;
    }

    [Fact]
    public void DockerfilePublishesTheCliIntoARuntimeImageWithFfmpegAndNoModel()
    {
        var ins = Instructions(File.ReadAllText(Path.Combine(Golden.RepoRoot, "Dockerfile")));
        var froms = ins.Where(i => i.Op == "FROM").Select(i => i.Args.Split(' ')).ToList();
        Assert.Equal(2, froms.Count);
        Assert.Equal(["mcr.microsoft.com/dotnet/sdk:10.0", "AS", "build"], froms[0]);
        Assert.Equal("mcr.microsoft.com/dotnet/aspnet:10.0", froms[1][0]); // sam2 serve needs ASP.NET Core
        int runtime = ins.FindIndex(i => i.Op == "FROM" && i.Args.EndsWith("runtime"));
        var build = ins[..runtime];
        var final = ins[runtime..];
        Assert.Contains(build, i => i.Op == "RUN" && i.Args.Contains("dotnet publish src/Sam2Sharp.Cli -c Release -o /app"));
        // The GLIBCXX patch runs after publish: the targets that do it are in the build context.
        Assert.Contains(build, i => i.Op == "COPY" && i.Args.Contains("Directory.Build.targets"));
        Assert.Contains(build, i => i.Op == "COPY" && i.Args.StartsWith("build/"));
        Assert.Contains(final, i => i.Op == "RUN" && i.Args.Contains("apt-get install") && i.Args.Contains("ffmpeg"));
        Assert.Contains(final, i => i.Op == "COPY" && i.Args == "--from=build /app /opt/sam2");
        Assert.Equal("[\"/opt/sam2/sam2\"]", final.Single(i => i.Op == "ENTRYPOINT").Args);
        Assert.DoesNotContain(ins, i => i.Args.Contains(".pt") || i.Args.Contains("models download"));
        // Every file the build stage copies exists in the repository.
        foreach (var (_, args) in build.Where(i => i.Op == "COPY"))
            foreach (var src in args.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1])
                Assert.True(Path.Exists(Path.Combine(Golden.RepoRoot, src)), $"Dockerfile copies {src}, which is not in the repository");

        var ignored = File.ReadAllLines(Path.Combine(Golden.RepoRoot, ".dockerignore")).Where(l => !l.StartsWith('#')).ToList();
        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
        Assert.DoesNotContain(ignored, l => l.TrimEnd('/') is "src" or "build");
    }
}
