// BenchPageCommand.cs — `loraprune bench page --out FILE DIR...`: the benchmark page (docs/benchmarks.md) from the
// folders that bench kernels and bench step wrote, with the machine, date and commit on top (BenchPage).
using System.CommandLine;
using System.Reflection;
using LoRAPrune.Core.Bench;

namespace LoRAPrune.Cli.Commands;

internal sealed class BenchPageCommand : Command
{
    private const string CommandName = "bench page";

    private readonly Argument<string[]> _folders = new("DIR") { Description = "Result folders of bench kernels / bench step, in page order.", Arity = ArgumentArity.OneOrMore };
    private readonly Option<string> _out = new("--out") { HelpName = "FILE", Description = "The page to write.", DefaultValueFactory = _ => "docs/benchmarks.md" };

    public BenchPageCommand() : base("page", "Write the benchmark page (machine, date, commit and each result's command and tables) from result folders.")
    {
        Arguments.Add(_folders);
        Options.Add(_out);
        SetAction(Run);
    }

    private int Run(ParseResult p)
    {
        string path = p.GetValue(_out)!;
        try
        {
            BenchPage.Write(path, p.GetValue(_folders)!, BenchMachine.Describe(), Commit(), DateTimeOffset.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            p.InvocationConfiguration.Error.WriteLine($"{CommandName}: {TrainingConsole.OneLine(e.Message)}");
            return TrainingConsole.ExitFailed;
        }
        p.InvocationConfiguration.Output.WriteLine($"{CommandName}: wrote {path}");
        return 0;
    }

    // The commit this tool was built from (the informational version's "+hash").
    private static string Commit() =>
        typeof(BenchPage).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+').ElementAtOrDefault(1) is { Length: >= 12 } hash
            ? hash[..12] : "unknown";
}
