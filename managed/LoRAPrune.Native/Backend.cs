// Backend.cs — one loaded backend library (loraprune_cpu / loraprune_cudaemu / loraprune_cuda)
// with its own function-pointer table, so several backends live in one process. Loading searches
// the BackendLocator directories, checks every export and the ABI major, and records each attempt.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace LoRAPrune.Native;

public sealed unsafe partial class Backend
{
    /// <summary>The backends this host knows about, in the order they are listed and preferred for tests.</summary>
    public static readonly string[] KnownNames = { "cpu", "cudaemu", "cuda" };

    private static readonly Lock s_gate = new();
    private static readonly Dictionary<string, Backend> s_loaded = new(StringComparer.Ordinal);
    private static IReadOnlyList<Backend>? s_available;
    private static volatile Backend[] s_registry = Array.Empty<Backend>();
    private static volatile Action<int, string>? s_logSink;

    private readonly int _registryIndex;

    private Backend(string name, string path, NativeApi api, int abiMajor, int abiMinor)
    {
        Name = name;
        LibraryPath = path;
        Api = api;
        AbiMajor = abiMajor;
        AbiMinor = abiMinor;
        Kind = name switch
        {
            "cuda" => BackendKind.Cuda,
            "cudaemu" => BackendKind.CudaEmulated,
            _ => BackendKind.Cpu,
        };
        BuildInfo = NativeApi.Utf8(api.lp_get_build_info());
        lock (s_gate)
        {
            _registryIndex = s_registry.Length;
            s_registry = [.. s_registry, this];
            ApplyLogSink();
        }
    }

    /// <summary>"cpu", "cudaemu" or "cuda".</summary>
    public string Name { get; }

    /// <summary>What the library runs on; follows the library name (cuda, cudaemu, anything else is cpu).</summary>
    public BackendKind Kind { get; }

    /// <summary>Full path of the loaded library file.</summary>
    public string LibraryPath { get; }

    /// <summary>lp_get_build_info(): "key=value" lines (version, git, abi, backend, compiler, ...).</summary>
    public string BuildInfo { get; }

    /// <summary>Every path the loader tried before (and including) the one it loaded, one per line.</summary>
    public string LoadTrace { get; private set; } = "";

    public int AbiMajor { get; }

    public int AbiMinor { get; }

    internal NativeApi Api { get; }

    /// <summary>Number of devices this backend can use now (lp_device_count).</summary>
    public int DeviceCount
    {
        get
        {
            int count;
            Check(Api.lp_device_count(&count));
            return count;
        }
    }

    /// <summary>The file name of a backend library on this OS (libloraprune_cpu.so, loraprune_cpu.dll, ...).</summary>
    public static string LibraryFileName(string name) => BackendLocator.FileName(name);

    /// <summary>Loads (once per process) the named backend; throws BackendLoadException listing every path tried.</summary>
    public static Backend Load(string name)
    {
        if (TryLoad(name, out Backend? backend, out string trace, out List<string> tried)) return backend!;
        throw new BackendLoadException(trace, tried);
    }

    /// <summary>Like Load, but reports failure through the return value; trace lists every path tried.</summary>
    public static bool TryLoad(string name, out Backend? backend, out string trace) => TryLoad(name, out backend, out trace, out _);

    /// <summary>The --device choices every computing command accepts: "auto" and the known backends.</summary>
    public static readonly string[] DeviceChoices = ["auto", .. KnownNames];

    /// <summary>The backend a --device <paramref name="choice"/> names: "auto" takes cuda when it loads and reports a
    /// device, else cpu; a named backend must load and report a device. Throws <see cref="BackendUnavailableException"/>
    /// saying why not. The one place every command picks its backend.</summary>
    public static Backend Select(string choice)
    {
        if (choice == "auto")
        {
            if (TryLoad("cuda", out Backend? cuda, out _) && cuda!.DeviceCount > 0) return cuda;
            choice = "cpu";
        }
        if (!KnownNames.Contains(choice))
            throw new BackendUnavailableException(choice, $"unknown backend (expected one of {string.Join(", ", DeviceChoices)})", "");
        if (!TryLoad(choice, out Backend? backend, out string trace, out List<string> tried))
        {
            string file = BackendLocator.FileName(choice);
            string reason = tried.FirstOrDefault(t => t.Contains(file, StringComparison.Ordinal) && !t.EndsWith(": not found", StringComparison.Ordinal))
                            ?? $"{file} was not found";
            throw new BackendUnavailableException(choice, $"the backend is not available: {reason}", trace);
        }
        if (backend!.DeviceCount == 0) throw new BackendUnavailableException(choice, "the backend loads but reports no device", "");
        return backend;
    }

    /// <summary>Every known backend that loads, in KnownNames order; computed once per process.</summary>
    public static IReadOnlyList<Backend> LoadAvailable()
    {
        lock (s_gate)
        {
            if (s_available is not null) return s_available;
        }
        var found = new List<Backend>();
        foreach (string name in KnownNames)
        {
            if (TryLoad(name, out Backend? backend, out _)) found.Add(backend!);
        }
        lock (s_gate)
        {
            s_available ??= found.AsReadOnly();
            return s_available;
        }
    }

    /// <summary>Details of one device (lp_device_get_info).</summary>
    public DeviceInfo GetDeviceInfo(int device)
    {
        LpDeviceInfo info = default;
        info.StructSize = sizeof(LpDeviceInfo);
        Check(Api.lp_device_get_info(device, &info));
        string name = Marshal.PtrToStringUTF8((nint)info.Name, StrLen(info.Name, 128));
        return new DeviceInfo((BackendKind)info.Backend, name, info.TotalMemory, info.FreeMemory,
                              info.ComputeMajor, info.ComputeMinor, info.Multiprocessors);
    }

    /// <summary>A new context (stream, BLAS handle, workspace) on one device.</summary>
    public Context CreateContext(int device = 0)
    {
        nint raw;
        Check(Api.lp_context_create(device, &raw));
        return new Context(this, new ContextHandle(this, raw));
    }

    /// <summary>
    /// Routes the log messages of every loaded backend (and those loaded later) to sink(level, text),
    /// level as lp_log_level (0 debug .. 3 error), text prefixed with the backend name; null disables.
    /// The sink runs on the thread that made the native call and must be thread-safe.
    /// </summary>
    public static void SetLogSink(Action<int, string>? sink)
    {
        lock (s_gate)
        {
            s_logSink = sink;
            foreach (Backend backend in s_registry) backend.ApplyLogSink();
        }
    }

    /// <summary>Throws NativeException unless status is Ok; the message comes from this library.</summary>
    internal void Check(LpStatus status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != LpStatus.Ok) throw new NativeException(status, Api.LastErrorMessage(), call, Name);
    }

    public override string ToString() => $"{Name} ({LibraryPath})";

    internal static bool TryLoad(string name, out Backend? backend, out string trace, out List<string> tried)
    {
        ValidateName(name);
        lock (s_gate)
        {
            if (s_loaded.TryGetValue(name, out backend))
            {
                tried = new List<string> { $"{backend.LibraryPath}: loaded" };
                trace = backend.LoadTrace;
                return true;
            }
        }
        var notes = new List<string>();
        List<string> dirs = BackendLocator.SearchDirectories(notes);
        if (!TryLoadFrom(name, dirs, notes, out backend, out trace, out tried)) return false;
        lock (s_gate)
        {
            if (s_loaded.TryGetValue(name, out Backend? earlier)) backend = earlier;
            else s_loaded[name] = backend!;
        }
        return true;
    }

    /// <summary>Loads the named library from the given directories only (not cached; tests and tools).</summary>
    internal static bool TryLoadFrom(string name, IEnumerable<string> directories, IEnumerable<string> notes,
                                     out Backend? backend, out string trace, out List<string> tried)
    {
        ValidateName(name);
        string file = BackendLocator.FileName(name);
        tried = new List<string>(notes);
        backend = null;
        foreach (string dir in directories)
        {
            string path = Path.Combine(dir, file);
            string? failure = TryOpen(name, path, out backend);
            if (failure is null)
            {
                tried.Add($"{path}: loaded (ABI {backend!.AbiMajor}.{backend.AbiMinor})");
                trace = Describe($"Loaded the '{name}' backend ({file}). Tried, in order:", tried);
                backend.LoadTrace = trace;
                return true;
            }
            tried.Add($"{path}: {failure}");
        }
        trace = Describe($"Cannot load the '{name}' backend ({file}). Tried, in order:", tried) +
                $"\nBuild the native libraries with CMake (they are staged in artifacts/native/{BackendLocator.RuntimeId}/) " +
                $"or set {BackendLocator.DirectoryVariable} to the folder that holds {file}.";
        return false;
    }

    /// <summary>Why a library's ABI version is refused, or null when this host can use it.</summary>
    internal static string? AbiMismatch(uint version)
    {
        (int major, int minor) = LpAbi.Split(version);
        if (major == LpAbi.Major) return null;
        return $"ABI mismatch: the library has ABI {major}.{minor} but this program needs major {LpAbi.Major} (it was built for {LpAbi.Major}.{LpAbi.Minor})";
    }

    private static string? TryOpen(string name, string path, out Backend? backend)
    {
        backend = null;
        if (!File.Exists(path)) return "not found";
        nint library;
        OpenMpPolicy.EnsurePassiveBeforeLoad();
        try
        {
            library = NativeLibrary.Load(path);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            return "cannot be loaded: " + e.Message.ReplaceLineEndings(" ");
        }
        var api = new NativeApi(library);
        string? failure = null;
        if (api.MissingSymbols.Contains("lp_get_abi_version"))
            failure = "missing symbol lp_get_abi_version (not a LoRAPrune backend library)";
        else
        {
            uint version = api.lp_get_abi_version();
            failure = AbiMismatch(version);
            if (failure is null && api.MissingSymbols.Count > 0)
                failure = MissingSymbolsText(api.MissingSymbols);
            if (failure is null)
            {
                (int major, int minor) = LpAbi.Split(version);
                backend = new Backend(name, path, api, major, minor);
                return null;
            }
        }
        NativeLibrary.Free(library);
        return failure;
    }

    // Names the missing exports; a long list (an old or half-built library) is cut after the first few.
    private static string MissingSymbolsText(IReadOnlyList<string> missing)
    {
        const int shown = 6;
        if (missing.Count == 1) return "missing symbol " + missing[0];
        string text = $"missing {missing.Count} symbols: " + string.Join(", ", missing.Take(shown));
        return missing.Count > shown ? text + $" and {missing.Count - shown} more" : text;
    }

    private static string Describe(string headline, List<string> tried)
    {
        var text = new StringBuilder(headline);
        foreach (string line in tried) text.Append("\n  ").Append(line);
        return text.ToString();
    }

    private static void ValidateName(string name)
    {
        if (!BackendName().IsMatch(name))
            throw new ArgumentException($"backend name '{name}' must be lower-case letters, digits or '_' (known: {string.Join(", ", KnownNames)})", nameof(name));
    }

    [GeneratedRegex("^[a-z0-9_]+$")]
    private static partial Regex BackendName();

    private static int StrLen(byte* text, int capacity)
    {
        int n = 0;
        while (n < capacity && text[n] != 0) n++;
        return n;
    }

    private void ApplyLogSink()
    {
        delegate* unmanaged[Cdecl]<int, byte*, void*, void> callback = s_logSink is null ? null : &OnNativeLog;
        Check(Api.lp_set_log_callback(callback, (void*)_registryIndex));
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnNativeLog(int level, byte* message, void* user)
    {
        // An exception must not unwind into native code (it would end the process), so a failing
        // sink loses this one message instead.
        try
        {
            Action<int, string>? sink = s_logSink;
            Backend[] registry = s_registry;
            int index = (int)(nint)user;
            if (sink is null) return;
            string source = index >= 0 && index < registry.Length ? registry[index].Name : "native";
            sink(level, $"{source}: {NativeApi.Utf8(message)}");
        }
        catch (Exception)
        {
            return;
        }
    }
}
