// DevicesCommand.cs — `loraprune devices`: every known backend, whether its library loads (and
// why not), its build info and its devices with memory and compute capability or thread count.
// Always says plainly whether a CUDA GPU is usable, so a CPU-only machine is no mystery.
using System.CommandLine;
using LoRAPrune.Native;
using Spectre.Console;

namespace LoRAPrune.Cli.Commands;

internal sealed class DevicesCommand : Command
{
    private readonly Option<bool> _trace = new("--trace")
    {
        Description = "Also print every path the loader tried for each backend library and why it was not used.",
    };

    public DevicesCommand() : base("devices", "List the backends (cpu, cudaemu, cuda), whether each is available, and their devices.")
    {
        Options.Add(_trace);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        IReadOnlyList<BackendProbe> probes = BackendProbe.ProbeAll();
        Terminal terminal = Terminal.For(parseResult);
        if (terminal.Rich is not null) WriteTable(terminal.Rich, probes);
        else WritePlain(terminal.Out, probes);
        if (parseResult.GetValue(_trace))
        {
            foreach (BackendProbe probe in probes)
            {
                terminal.Out.WriteLine();
                terminal.Out.WriteLine(probe.LoadTrace);
            }
        }
        return 0;
    }

    /// <summary>The closing line: the CUDA GPU that will be used, or that none is usable.</summary>
    public static string GpuVerdict(IReadOnlyList<BackendProbe> probes)
    {
        BackendProbe? cuda = probes.FirstOrDefault(p => p.Backend?.Kind == BackendKind.Cuda && p.Devices.Count > 0);
        if (cuda is not null) return $"CUDA GPU: {cuda.Devices[0].Name} (cuda device 0 of {cuda.Devices.Count}).";
        if (probes.Any(p => p.Backend?.Kind == BackendKind.Cpu && p.Devices.Count > 0))
            return "No CUDA GPU is usable: work runs on the cpu backend.";
        return "No CUDA GPU is usable and no cpu backend loaded: build the native libraries with CMake (see README).";
    }

    private static void WritePlain(TextWriter output, IReadOnlyList<BackendProbe> probes)
    {
        foreach (BackendProbe probe in probes)
        {
            if (probe.Backend is null)
            {
                output.WriteLine($"{probe.Name}: {probe.Status}");
                continue;
            }
            output.WriteLine($"{probe.Name}: {probe.Status} — {probe.Backend.LibraryPath} (ABI {probe.Backend.AbiMajor}.{probe.Backend.AbiMinor})");
            output.WriteLine($"  build: {BuildLine(probe.Backend)}");
            for (int i = 0; i < probe.Devices.Count; i++)
            {
                DeviceInfo d = probe.Devices[i];
                output.WriteLine($"  device {i}: {d.Name} | memory {Bytes(d.TotalMemory)} total, {Bytes(d.FreeMemory)} free | {Compute(d)}");
            }
        }
        output.WriteLine(GpuVerdict(probes));
    }

    private static void WriteTable(IAnsiConsole console, IReadOnlyList<BackendProbe> probes)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("Backend").AddColumn("Status").AddColumn("Device").AddColumn("Memory (total / free)").AddColumn("Compute");
        foreach (BackendProbe probe in probes)
        {
            string status = probe.Devices.Count > 0 ? $"[green]{Markup.Escape(probe.Status)}[/]" : $"[yellow]{Markup.Escape(probe.Status)}[/]";
            if (probe.Devices.Count == 0)
            {
                table.AddRow(Markup.Escape(probe.Name), status, "", "", "");
                continue;
            }
            for (int i = 0; i < probe.Devices.Count; i++)
            {
                DeviceInfo d = probe.Devices[i];
                table.AddRow(i == 0 ? Markup.Escape(probe.Name) : "", i == 0 ? status : "", Markup.Escape($"{i}: {d.Name}"),
                             $"{Bytes(d.TotalMemory)} / {Bytes(d.FreeMemory)}", Markup.Escape(Compute(d)));
            }
        }
        console.Write(table);
        foreach (BackendProbe probe in probes.Where(p => p.Backend is not null))
            console.MarkupLine($"[grey]{Markup.Escape(probe.Name)}: {Markup.Escape(probe.Backend!.LibraryPath)} — {Markup.Escape(BuildLine(probe.Backend))}[/]");
        console.MarkupLine($"[bold]{Markup.Escape(GpuVerdict(probes))}[/]");
    }

    private static string BuildLine(Backend backend) =>
        string.Join(", ", BackendProbe.BuildProperties(backend.BuildInfo).Select(kv => $"{kv.Key}={kv.Value}"));

    private static string Compute(DeviceInfo d) => d.Backend == BackendKind.Cpu
        ? $"{d.Multiprocessors} threads"
        : $"compute {d.ComputeMajor}.{d.ComputeMinor}, {d.Multiprocessors} SMs";

    private static string Bytes(ulong bytes) => bytes >= 1UL << 30
        ? $"{bytes / (double)(1UL << 30):F1} GiB"
        : $"{bytes / (double)(1UL << 20):F0} MiB";
}
