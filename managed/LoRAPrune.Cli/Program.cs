// Program.cs — entry point of the `loraprune` command-line tool: builds the command tree and runs
// the command the arguments select. Commands live one per class under Commands/.
// Exit codes: 0 success, 1 a data/model/runtime error, 2 a usage error (bad or missing arguments).
using System.CommandLine;
using LoRAPrune.Cli;

ParseResult parsed = LoRAPruneCommand.Create().Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"loraprune: {error.Message}");
    Console.Error.WriteLine("Run 'loraprune --help' (or '<command> --help') for usage.");
    return 2;
}
return parsed.Invoke();
