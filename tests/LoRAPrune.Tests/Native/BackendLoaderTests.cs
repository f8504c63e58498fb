// BackendLoaderTests.cs — the loader finds the cpu backend in the build output, and every failure
// (no file, not a LoRAPrune library) names each path it tried and why, instead of a bare
// DllNotFoundException.
using System.Runtime.InteropServices;
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Native;

public sealed class BackendLoaderTests
{
    [Fact]
    public void Cpu_backend_loads_with_a_complete_table_and_abi_1()
    {
        Backend cpu = Backend.Load("cpu");
        Assert.Equal("cpu", cpu.Name);
        Assert.Equal(BackendKind.Cpu, cpu.Kind);
        Assert.True(File.Exists(cpu.LibraryPath), cpu.LibraryPath);
        Assert.EndsWith(Backend.LibraryFileName("cpu"), cpu.LibraryPath);
        Assert.Equal(LpAbi.Major, cpu.AbiMajor);
        Assert.Contains("git=", cpu.BuildInfo);
        Assert.Empty(cpu.Api.MissingSymbols);
        Assert.Same(cpu, Backend.Load("cpu"));
        Assert.Contains(Backend.LoadAvailable(), b => b.Name == "cpu");
    }

    [Fact]
    public void Cpu_backend_reports_one_device()
    {
        Backend cpu = Backend.Load("cpu");
        Assert.True(cpu.DeviceCount >= 1);
        DeviceInfo info = cpu.GetDeviceInfo(0);
        Assert.Equal(BackendKind.Cpu, info.Backend);
        Assert.False(string.IsNullOrWhiteSpace(info.Name));
        Assert.True(info.TotalMemory > 0);
        Assert.True(info.Multiprocessors >= 1);
        var e = Assert.Throws<NativeException>(() => cpu.GetDeviceInfo(cpu.DeviceCount));
        Assert.Equal(LpStatus.InvalidArgument, e.Status);
        Assert.Contains("lp_device_get_info", e.NativeMessage);
    }

    [Fact]
    public void A_missing_backend_lists_every_path_tried()
    {
        var e = Assert.Throws<BackendLoadException>(() => Backend.Load("no_such_backend"));
        string file = Backend.LibraryFileName("no_such_backend");
        string runtimes = Path.Combine(AppContext.BaseDirectory, "runtimes", BackendLocator.RuntimeId, "native", file);
        string beside = Path.Combine(AppContext.BaseDirectory, file);
        Assert.Contains(e.Tried, t => t == $"{runtimes}: not found");
        Assert.Contains(e.Tried, t => t == $"{beside}: not found");
        Assert.Contains(e.Tried, t => t.Contains(Path.Combine("artifacts", "native", BackendLocator.RuntimeId)));
        string? envDir = Environment.GetEnvironmentVariable(BackendLocator.DirectoryVariable);
        if (string.IsNullOrWhiteSpace(envDir)) Assert.Contains(e.Tried, t => t == $"${BackendLocator.DirectoryVariable}: not set");
        else Assert.Contains(e.Tried, t => t.StartsWith(Path.Combine(Path.GetFullPath(envDir), file)));
        foreach (string entry in e.Tried) Assert.Contains(entry, e.Message);
        Assert.False(Backend.TryLoad("no_such_backend", out Backend? none, out string trace));
        Assert.Null(none);
        Assert.Contains(runtimes, trace);
    }

    [Fact]
    public void A_library_that_is_not_a_backend_is_refused_naming_the_missing_symbol()
    {
        string dir = Directory.CreateTempSubdirectory("lp-loader-").FullName;
        try
        {
            // Any real shared library of the platform: the .NET runtime's own native helper.
            string runtimeDir = RuntimeEnvironment.GetRuntimeDirectory();
            string donor = OperatingSystem.IsWindows() ? Path.Combine(runtimeDir, "clrjit.dll")
                         : OperatingSystem.IsMacOS() ? Path.Combine(runtimeDir, "libSystem.Native.dylib")
                         : Path.Combine(runtimeDir, "libSystem.Native.so");
            File.Copy(donor, Path.Combine(dir, Backend.LibraryFileName("impostor")));
            File.WriteAllText(Path.Combine(dir, Backend.LibraryFileName("broken")), "not a shared library");

            Assert.False(Backend.TryLoadFrom("impostor", [dir], [], out _, out string trace, out List<string> tried));
            Assert.Single(tried);
            Assert.Contains("missing symbol lp_get_abi_version", tried[0]);
            Assert.Contains(dir, trace);

            Assert.False(Backend.TryLoadFrom("broken", [dir], [], out _, out _, out tried));
            Assert.Contains("cannot be loaded", tried[0]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Backend_names_are_validated()
    {
        Assert.Throws<ArgumentException>(() => Backend.Load("../cpu"));
        Assert.Throws<ArgumentException>(() => Backend.Load(""));
    }
}
