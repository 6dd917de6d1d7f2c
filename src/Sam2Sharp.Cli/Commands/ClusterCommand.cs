using System.CommandLine;
using Sam2Sharp.Batch;
using Sam2Sharp.Cluster;
using Sam2Sharp.Cluster.Kubernetes;
using Sam2Sharp.Hub;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 cluster slurm|k8s|status|merge</c>: batch commands as array jobs on Slurm or Kubernetes, and their results.</summary>
public static class ClusterCommand
{
    public static Command Create()
    {
        var cmd = new Command("cluster", "Run a batch command (vos, amg, image, eval) as a Slurm array job or a Kubernetes Indexed Job, one shard per task; then check and merge what the tasks wrote.");
        cmd.Subcommands.Add(Slurm());
        cmd.Subcommands.Add(Kubernetes());
        cmd.Subcommands.Add(Status());
        cmd.Subcommands.Add(Merge());
        return cmd;
    }

    static Argument<string[]> BatchArgument() => new("COMMAND")
    {
        Description = "After --: the batch command and its arguments, without --shard (e.g. -- vos --model sam2.1_hiera_tiny --base-video-dir … --output-mask-dir …)",
        Arity = ArgumentArity.OneOrMore,
    };

    static Command Slurm()
    {
        var array = new Option<int>("--array") { Description = "Array tasks (shards): 0 … N−1", DefaultValueFactory = _ => 1 };
        var throttle = new Option<int?>("--max-concurrent") { Description = "At most this many tasks at once (the array's %)" };
        var cpus = new Option<int>("--cpus-per-task") { Description = "CPUs per task (also its OMP_NUM_THREADS)", DefaultValueFactory = _ => 1 };
        var gpus = new Option<int?>("--gpus-per-task") { Description = "GPUs per task" };
        var mem = new Option<string?>("--mem") { Description = "Memory per task (8G, 16000M)" };
        var time = new Option<string?>("--time") { Description = "Time limit per task (02:00:00)" };
        var partition = new Option<string?>("--partition") { Description = "Partition (default: the cluster's)" };
        var jobName = new Option<string?>("--job-name") { Description = "Job name (default: sam2-COMMAND)" };
        var logs = new Option<string?>("--output-log") { Description = "Folder for the tasks' logs (default: OUTPUT/.sam2-tasks/logs)" };
        var sam2 = new Option<string?>("--sam2") { Description = "The sam2 the tasks run (default: this one; a .dll runs under dotnet)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the script; write and submit nothing" };
        var force = new Option<bool>("--force") { Description = "Replace a different submit.sbatch of an earlier submission" };
        var batch = BatchArgument();
        var c = new Command("slurm", "Write OUTPUT/.sam2-tasks/submit.sbatch (an array job running the batch command, one shard per task) and submit it with sbatch; --model is resolved to the shared cache first, so tasks never download.");
        foreach (var o in new Option[] { array, throttle, cpus, gpus, mem, time, partition, jobName, logs, sam2, dryRun, force }) c.Options.Add(o);
        c.Arguments.Add(batch);
        c.SetAction((r, ct) => Cli.Run(() =>
        {
            var line = BatchCommandLine.Parse(r.GetValue(batch)!);
            var executable = Sam2Executable.Resolve(r.GetValue(sam2));
            line = line.WithModelResolved(name => ResolveModel(line, name, ct));
            var options = new SlurmJobOptions
            {
                Tasks = r.GetValue(array), MaxConcurrent = r.GetValue(throttle), CpusPerTask = r.GetValue(cpus),
                GpusPerTask = r.GetValue(gpus), Memory = r.GetValue(mem), Time = r.GetValue(time), Partition = r.GetValue(partition),
                JobName = r.GetValue(jobName) ?? $"sam2-{line.Command}",
                LogFolder = Path.GetFullPath(r.GetValue(logs) ?? Path.Combine(TaskReport.FolderIn(line.OutputRoot), "logs")),
                WorkingDirectory = Environment.CurrentDirectory,
            };
            string script = SlurmJob.Render(executable, line, options);
            if (r.GetValue(dryRun)) { Console.Write(script); return 0; }
            string path = SlurmJob.Write(line.OutputRoot, options, script, r.GetValue(force));
            Console.WriteLine(SlurmJob.Submit(path));
            return 0;
        }, ct));
        return c;
    }

    // The batch command's own --models and --offline choose the registry and the network, as they would in one task.
    static (string, string?) ResolveModel(BatchCommandLine line, string name, CancellationToken cancellationToken)
    {
        bool offline = line.Args.Contains("--offline");
        using var hub = new ModelHub(ModelHubOptions.FromEnvironment(BatchCommandLine.Value(line.Args, "--models"), offline));
        return hub.Resolve(name, new DownloadProgressView(), cancellationToken);
    }

    static Command Kubernetes()
    {
        var image = new Option<string>("--image") { Description = "Container image built from the repository's Dockerfile", Required = true };
        var pvc = new Option<string>("--pvc") { Description = "Persistent volume claim (ReadWriteMany) with the data, model cache and outputs", Required = true };
        var mount = new Option<string>("--mount-path") { Description = "Where the claim is mounted; the tasks run there", DefaultValueFactory = _ => "/data" };
        var completions = new Option<int>("--completions") { Description = "Indexes (shards)", DefaultValueFactory = _ => 1 };
        var parallelism = new Option<int?>("--parallelism") { Description = "Pods at once (default: all)" };
        var backoff = new Option<int>("--backoff-limit-per-index") { Description = "Retries of one index", DefaultValueFactory = _ => 3 };
        var cpu = new Option<string>("--cpu") { Description = "CPUs per pod (2, 500m)", DefaultValueFactory = _ => "1" };
        var memory = new Option<string?>("--memory") { Description = "Memory per pod (8Gi)" };
        var gpus = new Option<int?>("--gpus") { Description = "GPUs per pod (nvidia.com/gpu)" };
        var jobName = new Option<string?>("--job-name") { Description = "Job name (default: sam2-COMMAND)" };
        var ns = new Option<string?>("--namespace") { Description = "Namespace (default: the context's)" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the manifest to this file (default: print it)" };
        var force = new Option<bool>("--force") { Description = "Replace a different existing --output file" };
        var batch = BatchArgument();
        var c = new Command("k8s", "Write a Kubernetes Indexed Job manifest running the batch command, one shard per index (paths as the pods see them, on the claim); apply it with kubectl apply -f.");
        foreach (var o in new Option[] { image, pvc, mount, completions, parallelism, backoff, cpu, memory, gpus, jobName, ns, output, force }) c.Options.Add(o);
        c.Arguments.Add(batch);
        c.SetAction(r => Cli.Run(() =>
        {
            var line = BatchCommandLine.Parse(r.GetValue(batch)!);
            var manifest = IndexedJob.Create(line, new IndexedJobOptions
            {
                Image = r.GetValue(image)!, ClaimName = r.GetValue(pvc)!, MountPath = r.GetValue(mount)!,
                Completions = r.GetValue(completions), Parallelism = r.GetValue(parallelism), BackoffLimitPerIndex = r.GetValue(backoff),
                Cpu = r.GetValue(cpu)!, Memory = r.GetValue(memory), Gpus = r.GetValue(gpus),
                JobName = r.GetValue(jobName) ?? $"sam2-{line.Command}", Namespace = r.GetValue(ns),
            });
            string yaml = IndexedJob.ToYaml(manifest);
            if (r.GetValue(output) is not { } file) { Console.Write(yaml); return 0; }
            SubmissionFile.Write(file, yaml, r.GetValue(force));
            Console.WriteLine($"wrote {file}; submit it with: kubectl apply -f {file}");
            return 0;
        }));
        return c;
    }

    static Command Status()
    {
        var root = new Argument<string>("OUTPUT") { Description = "The batch's output root (where .sam2-tasks/ is)" };
        var tasks = new Option<int?>("--tasks") { Description = "The number of tasks (default: the submitted script's array, else that of the latest report)" };
        var c = new Command("status", "Per task: items done, skipped, failed (with reasons); tasks with no report. Exit 1 unless every task reported and nothing failed.");
        c.Arguments.Add(root);
        c.Options.Add(tasks);
        c.SetAction(r => Cli.Run(() =>
        {
            var status = ClusterStatus.Read(r.GetValue(root)!, r.GetValue(tasks));
            Console.Write(status.ToText());
            return status.Complete ? 0 : Cli.UserError;
        }));
        return c;
    }

    static Command Merge()
    {
        var root = new Argument<string>("OUTPUT") { Description = "The batch's output root (where .sam2-tasks/ is)" };
        var tasks = new Option<int?>("--tasks") { Description = "The number of tasks (default: the submitted script's array, else that of the latest report)" };
        var output = new Option<string?>("--out") { Description = "The merged file (amg: COCO JSON, default OUTPUT/annotations.coco.json; eval: CSV, default PRED_ROOT/results.csv)" };
        var force = new Option<bool>("--force") { Description = "Replace a different existing --out file" };
        var c = new Command("merge", "Once every task is complete: amg → one COCO JSON; eval → one J&F over all videos; vos → checks every video is complete (the masks are already in one folder).");
        c.Arguments.Add(root);
        c.Options.Add(tasks);
        c.Options.Add(output);
        c.Options.Add(force);
        c.SetAction((r, ct) => Cli.Run(() =>
        {
            var status = ClusterStatus.Read(r.GetValue(root)!, r.GetValue(tasks));
            var merged = ClusterMerge.Run(status, r.GetValue(output), r.GetValue(force), ct);
            Console.Write(merged);
            return 0;
        }, ct));
        return c;
    }
}
