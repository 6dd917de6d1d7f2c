using System.CommandLine;
using Sam2Sharp.Cli.Commands;

var root = new RootCommand("sam2: Segment Anything 2 for .NET");
// One line per command; each lives in Commands/<Name>Command.cs with a static Create(),
// and runs its action through Cli.Run: user and IO errors end as one line and exit 1, anything else exit 2.
root.Subcommands.Add(ImageCommand.Create());
root.Subcommands.Add(EmbedCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(BenchVideoCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(VosCommand.Create());
root.Subcommands.Add(ClicksCommand.Create());
root.Subcommands.Add(VideoCommand.Create());
root.Subcommands.Add(TrainCommand.Create(TrainCommand.OpenVosDataset));
root.Subcommands.Add(SynthCommand.Create());
root.Subcommands.Add(AmgCommand.Create());
root.Subcommands.Add(PlotLossCommand.Create());
root.Subcommands.Add(ModelsCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(BenchServeCommand.Create());
root.Subcommands.Add(ClusterCommand.Create());

var verbose = new Option<bool>("--verbose") { Description = "On an internal error, print the full exception", Recursive = true };
root.Options.Add(verbose);
var parsed = root.Parse(args);
Cli.Verbose = parsed.GetValue(verbose);
// The automatic mask generator decodes 64 prompts at a time: its temporaries are fresh memory of hundreds of MB on
// every pass, cheaper in huge pages (asked for before the first tensor; see HugePages for why not everywhere).
if (parsed.CommandResult.Command.Name == "amg") Sam2Sharp.HugePages.Request();
// Ctrl-C or SIGTERM cancels a long command's token; it stops at its next frame, image or point batch and ends with one
// line (Cli.Run). Only if it has not ended after this long is the process ended anyway (exit 130; staged outputs stay hidden).
return parsed.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(20) });
