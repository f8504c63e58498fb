// Terminal.cs — where a command writes and how: Spectre.Console tables and colour when stdout is
// an interactive terminal, plain text lines otherwise (pipes, files, tests), so output stays
// greppable and never carries escape codes where nobody sees them.
using System.CommandLine;
using Spectre.Console;

namespace LoRAPrune.Cli;

internal sealed class Terminal
{
    private Terminal(TextWriter output, IAnsiConsole? rich)
    {
        Out = output;
        Rich = rich;
    }

    /// <summary>The plain-text writer (the invocation's standard output).</summary>
    public TextWriter Out { get; }

    /// <summary>A Spectre console over the same stream when it is an interactive terminal, else null.</summary>
    public IAnsiConsole? Rich { get; }

    public static Terminal For(ParseResult parseResult)
    {
        TextWriter output = parseResult.InvocationConfiguration.Output;
        bool interactive = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        IAnsiConsole? rich = interactive
            ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) })
            : null;
        return new Terminal(output, rich);
    }
}
