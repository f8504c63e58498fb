// CliRunner.cs — runs `loraprune` command lines in-process through the same entry point as the
// executable (exit codes included) and captures what they print, for the command tests.
using LoRAPrune.Cli;

namespace LoRAPrune.Tests;

public static class CliRunner
{
    /// <summary>Exit code, standard output and standard error of one command line.</summary>
    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = LoRAPruneCommand.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
