// VersionAction.cs — `loraprune --version`: the tool's informational version, then the git hash
// and ABI of every backend library that loads, since a mismatch between them is the first thing
// to rule out in a bug report.
using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;

namespace LoRAPrune.Cli.Commands;

internal sealed class VersionAction : SynchronousCommandLineAction
{
    public override int Invoke(ParseResult parseResult)
    {
        TextWriter output = parseResult.InvocationConfiguration.Output;
        output.WriteLine($"loraprune {ToolVersion}");
        bool any = false;
        foreach (BackendProbe probe in BackendProbe.ProbeAll().Where(p => p.Backend is not null))
        {
            any = true;
            output.WriteLine($"  {probe.Name}: git {probe.BuildValue("git") ?? "unknown"}, version {probe.BuildValue("version") ?? "unknown"}, " +
                             $"ABI {probe.Backend!.AbiMajor}.{probe.Backend.AbiMinor} ({probe.Backend.LibraryPath})");
        }
        if (!any) output.WriteLine("  no backend library found (run `loraprune devices` for the search trace)");
        return 0;
    }

    public static string ToolVersion =>
        typeof(VersionAction).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(VersionAction).Assembly.GetName().Version?.ToString()
        ?? "unknown";
}
