// DevicesCommandTests.cs — `loraprune devices` and `--version` through the real command tree with
// redirected output: exit code 0, a line per known backend, the cpu device, and a plain statement
// about CUDA whether or not a GPU is present.
using System.CommandLine;
using LoRAPrune.Cli;
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Native;

public sealed class DevicesCommandTests
{
    private static (int ExitCode, string Output) Run(params string[] args)
    {
        var (exit, output, error) = CliRunner.Run(args);
        return (exit, output + error);
    }

    [Fact]
    public void Devices_lists_every_backend_and_says_whether_a_GPU_is_usable()
    {
        (int exit, string text) = Run("devices");
        Assert.Equal(0, exit);
        foreach (string name in Backend.KnownNames) Assert.Contains($"\n{name}: ", "\n" + text);
        Assert.Contains("cpu: available", text);
        Assert.Contains("  device 0: ", text);
        Assert.Contains("threads", text);
        Assert.DoesNotContain("\u001b[", text); // plain text when redirected
        Assert.Matches("(CUDA GPU: .+)|(No CUDA GPU is usable)", text);
        string cudaLine = text.Split('\n').Single(l => l.StartsWith("cuda: "));
        Assert.Matches("^cuda: (available|built, but .+|not available \\(.+\\))", cudaLine.TrimEnd('\r'));
    }

    [Fact]
    public void Devices_trace_lists_the_paths_tried()
    {
        (int exit, string text) = Run("devices", "--trace");
        Assert.Equal(0, exit);
        Assert.Contains("Loaded the 'cpu' backend", text);
        Assert.Contains(Backend.LibraryFileName("cuda"), text);
    }

    [Fact]
    public void Version_names_the_tool_and_each_backend_git_hash()
    {
        (int exit, string text) = Run("--version");
        Assert.Equal(0, exit);
        Assert.StartsWith("loraprune ", text);
        Assert.Matches("\n  cpu: git \\S+, version \\S+, ABI 1\\.\\d+", text);
    }
}
