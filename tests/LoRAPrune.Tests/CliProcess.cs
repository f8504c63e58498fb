// CliProcess.cs — `loraprune` as a child process for the tests that must kill it (SIGKILL) or interrupt it (SIGTERM)
// and resume: start it on this test host's dotnet, collect what it prints, wait for a condition or its exit. And
// PosixFact, which skips such tests with the reason where POSIX signals do not exist.
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using LoRAPrune.Cli;

namespace LoRAPrune.Tests;

internal sealed partial class CliProcess : IDisposable
{
    /// <summary>The interrupt the tests send: SIGTERM reaches the same handler as Ctrl-C's SIGINT (finish the step, write a
    /// checkpoint, exit 130), and unlike SIGINT it is not ignored in children of a shell's background job.</summary>
    public const int SIGTERM = 15;

    private readonly StringBuilder _log = new();

    private CliProcess(Process process) => Process = process;

    public Process Process { get; }

    private static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";

    /// <summary>Starts `loraprune args...` (the built loraprune.dll on the test's dotnet host).</summary>
    public static CliProcess Start(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(DotnetHost) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(typeof(LoRAPruneCommand).Assembly.Location);
        foreach (string a in args) info.ArgumentList.Add(a);
        var child = new CliProcess(Process.Start(info)!);
        child.Process.OutputDataReceived += (_, e) => { lock (child._log) child._log.AppendLine(e.Data); };
        child.Process.ErrorDataReceived += (_, e) => { lock (child._log) child._log.AppendLine(e.Data); };
        child.Process.BeginOutputReadLine();
        child.Process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Everything the process printed so far.</summary>
    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    /// <summary>Waits (at most 5 minutes) for the exit and returns the exit code.</summary>
    public int Wait()
    {
        Assert.True(Process.WaitForExit(TimeSpan.FromMinutes(5)), $"the loraprune process did not finish in 5 minutes:\n{Log}");
        Process.WaitForExit();
        return Process.ExitCode;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails if the process exits first or 2 minutes pass.</summary>
    public static void WaitFor(Func<bool> condition, CliProcess child, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.False(child.Process.HasExited, $"the process exited before {what}:\n{child.Log}");
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"timed out waiting for {what}");
            Thread.Sleep(5);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int SendSignal(int pid, int signal);

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill();
        Process.Dispose();
    }
}

/// <summary>A test that sends POSIX signals to a child process: skipped, with the reason, where there are none.</summary>
public sealed class PosixFactAttribute : FactAttribute
{
    public PosixFactAttribute()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) Skip = "needs POSIX signals (SIGKILL, SIGTERM) to stop a child process";
    }
}
