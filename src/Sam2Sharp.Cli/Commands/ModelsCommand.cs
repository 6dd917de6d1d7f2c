using System.CommandLine;
using System.Globalization;
using Sam2Sharp.Hub;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 models list|download|verify|path|remove</c>: the checkpoints known by name and the local cache.</summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var cmd = new Command("models", "Official (and registered) checkpoints by name, and the local cache they are downloaded to (SAM2_HOME, else the platform's cache folder).");
        cmd.Subcommands.Add(Sub("list", "Every model: name, size, whether it is cached, and its path.", null, List));
        var all = new Option<bool>("--all") { Description = "Every model." };
        cmd.Subcommands.Add(Sub("download", "Download and verify models into the cache (those already there are kept).", all, Download));
        cmd.Subcommands.Add(Sub("verify", "Re-hash cached models (all cached ones if none is named); a bad file is removed.", null, Verify));
        cmd.Subcommands.Add(Sub("path", "The cached checkpoints' paths.", null, PathOf, oneOrMore: true));
        cmd.Subcommands.Add(Sub("remove", "Delete models from the cache.", null, Remove, oneOrMore: true));
        return cmd;
    }

    delegate int SubAction(ModelHub hub, IReadOnlyList<string> names, bool all);

    static Command Sub(string name, string description, Option<bool>? all, SubAction action, bool oneOrMore = false)
    {
        var hubOptions = new HubOptions();
        var names = new Argument<string[]>("NAME")
        {
            Description = "Model names (sam2 models list).",
            Arity = oneOrMore ? ArgumentArity.OneOrMore : name == "list" ? ArgumentArity.Zero : ArgumentArity.ZeroOrMore,
        };
        var c = new Command(name, description);
        c.Arguments.Add(names);
        if (all is not null) c.Options.Add(all);
        hubOptions.AddTo(c);
        c.SetAction(r => Cli.Run(() =>
        {
            using var hub = hubOptions.Create(r);
            var given = r.GetValue(names) ?? [];
            foreach (var n in given) hub.Registry.Find(n); // every name is checked before anything is done
            return action(hub, given, all is not null && r.GetValue(all));
        }));
        return c;
    }

    static int List(ModelHub hub, IReadOnlyList<string> _, bool __)
    {
        var rows = hub.List();
        int w = rows.Max(x => x.Entry.Name.Length);
        Console.WriteLine($"{"name".PadRight(w)}  {"size",10}  {"cached",6}  path");
        foreach (var (e, path, cached) in rows)
        {
            var size = e.Size is { } s ? (s / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MB" : "?";
            Console.WriteLine($"{e.Name.PadRight(w)}  {size,10}  {(cached ? "yes" : "no"),6}  {path}");
        }
        Console.WriteLine($"cache: {hub.Cache.Folder}");
        return 0;
    }

    static int Download(ModelHub hub, IReadOnlyList<string> names, bool all)
    {
        if (all == names.Count > 0) throw new Sam2Exception("give model names or --all (not both)");
        var progress = new DownloadProgressView();
        foreach (var e in all ? hub.Registry.Entries : names.Select(hub.Registry.Find))
            Console.WriteLine(hub.Get(e.Name, progress));
        return 0;
    }

    static int Verify(ModelHub hub, IReadOnlyList<string> names, bool _)
    {
        var entries = names.Count > 0 ? names.Select(hub.Registry.Find).ToList()
            : hub.Registry.Entries.Where(e => File.Exists(hub.Cache.PathOf(e))).ToList();
        if (entries.Count == 0) { Console.WriteLine($"no model is cached in {hub.Cache.Folder}"); return 0; }
        var bad = new List<string>();
        foreach (var e in entries)
        {
            var v = hub.Cache.Verify(e) ?? throw new Sam2Exception($"{e.Name} is not cached (sam2 models download {e.Name})");
            if (v.Ok) Console.WriteLine($"{e.Name}: ok ({v.ActualSha256})");
            else bad.Add($"{e.Name}: SHA-256 {v.ActualSha256}, {v.Length} bytes; expected {e.Sha256}{(e.Size is { } s ? $", {s} bytes" : "")}; the file was removed");
        }
        if (bad.Count > 0) throw new Sam2Exception(string.Join("; ", bad));
        return 0;
    }

    static int PathOf(ModelHub hub, IReadOnlyList<string> names, bool _)
    {
        var entries = names.Select(hub.Registry.Find).ToList();
        foreach (var e in entries)
            if (!hub.Cache.IsVerified(e)) throw new Sam2Exception($"{e.Name} is not cached (it would be {hub.Cache.PathOf(e)}); sam2 models download {e.Name}");
        foreach (var e in entries) Console.WriteLine(hub.Cache.PathOf(e));
        return 0;
    }

    static int Remove(ModelHub hub, IReadOnlyList<string> names, bool _)
    {
        foreach (var e in names.Select(hub.Registry.Find))
            Console.WriteLine(hub.Cache.Remove(e) ? $"removed {hub.Cache.PathOf(e)}" : $"{e.Name} was not cached");
        return 0;
    }
}
