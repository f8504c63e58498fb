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
        root.Subcommands.Add(new PruneCommand());
        foreach (VersionOption version in root.Options.OfType<VersionOption>()) version.Action = new VersionAction();
        root.Subcommands.Add(new DevicesCommand());
        root.Subcommands.Add(new BenchCommand());
        root.Subcommands.Add(new GenerateCommand());
        root.Subcommands.Add(new InfoCommand());
        root.Subcommands.Add(new FinetuneCommand());
        root.Subcommands.Add(new PretrainCommand());
        root.Subcommands.Add(new DataCommand());
        root.Subcommands.Add(new EvalCommand());
        root.Subcommands.Add(new ExportCommand());
        return root;
    }

    /// <summary>Parses and runs a command line and returns its exit code: 0 success, 1 a data, model or
    /// runtime error, 2 a usage error (bad or missing arguments, reported one per line on the error writer).</summary>
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        ParseResult parsed = Create().Parse(args);
        TextWriter err = error ?? Console.Error;
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) err.WriteLine($"loraprune: {e.Message}");
            err.WriteLine("Run 'loraprune --help' (or '<command> --help') for usage.");
            return 2;
        }
        return parsed.Invoke(new InvocationConfiguration { Output = output ?? Console.Out, Error = err });
    }
}
