// LoRAPruneCommand.cs — the root of the command tree: `loraprune` with --version and one
// subcommand per class in Commands/. Adding a command is one line here plus its class.
using System.CommandLine;
using LoRAPrune.Cli.Commands;

namespace LoRAPrune.Cli;

public static class LoRAPruneCommand
{
    public const string Description =
        "LoRAPrune: prune LLaMA-family models with LoRA-guided structured pruning (arXiv 2305.18403) on CPU or CUDA.";

    /// <summary>The full command tree; Parse(args).Invoke() runs it and returns the exit code.</summary>
    public static RootCommand Create()
    {
        var root = new RootCommand(Description);
        foreach (VersionOption version in root.Options.OfType<VersionOption>()) version.Action = new VersionAction();
        root.Subcommands.Add(new DevicesCommand());
        root.Subcommands.Add(new BenchCommand());
        root.Subcommands.Add(new GenerateCommand());
        root.Subcommands.Add(new InfoCommand());
        root.Subcommands.Add(new FinetuneCommand());
        root.Subcommands.Add(new DataCommand());
        root.Subcommands.Add(new EvalCommand());
        return root;
    }
}
