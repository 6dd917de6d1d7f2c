using System.CommandLine;
using Sam2Sharp.Cli.Commands;

var root = new RootCommand("sam2: Segment Anything 2 for .NET");
// One line per command; each lives in Commands/<Name>Command.cs with a static Create(),
// and runs its action through Cli.Run so that user errors end as one line and exit 1.
root.Subcommands.Add(ImageCommand.Create());
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

return root.Parse(args).Invoke();
