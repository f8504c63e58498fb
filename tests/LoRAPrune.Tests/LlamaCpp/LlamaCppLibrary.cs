// LlamaCppLibrary.cs — llama.cpp itself, for the tests that check exported GGUF files: the prebuilt CPU libllama
// that npm installs into tests/llama-cpp (@node-llama-cpp/linux-x64 3.22.1 = llama.cpp release v0.5.0), bound by
// function pointers with the struct layouts of that release's llama.h. Only the calls the tests need are bound.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using LoRAPrune.Tests.Conformance;

namespace LoRAPrune.Tests.LlamaCpp;

/// <summary>llama_model_params of llama.h v0.5.0 (x86-64: 80 bytes; bools as bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaModelParams
{
    public nint Devices, TensorBufferTypeOverrides;
    public int GpuLayers, SplitMode, LoadMode, LazyMode, MainGpu;
    public nint TensorSplit, ProgressCallback, ProgressCallbackUserData, KvOverrides;
    public byte VocabOnly, CheckTensors, UseExtraBufferTypes, NoHost, NoAlloc, LoadMtp;
}

/// <summary>llama_context_params of llama.h v0.5.0 (x86-64: 160 bytes; bools as bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaContextParams
{
    public uint ContextSize, BatchSize, MicroBatchSize, MaxSequences, RecurrentSnapshots, MaxOutputs, MaxOutputsPerSequence;
    public int Threads, BatchThreads;
    public int ContextType, RopeScalingType, PoolingType, AttentionType, FlashAttentionType;
    public float RopeFreqBase, RopeFreqScale, YarnExtFactor, YarnAttnFactor, YarnBetaFast, YarnBetaSlow;
    public uint YarnOrigContext;
    public float DefragThreshold;
    public nint EvalCallback, EvalCallbackUserData;
    public int KeyCacheType, ValueCacheType;
    public nint AbortCallback, AbortCallbackData;
    public byte Embeddings, OffloadKqv, NoPerf, OpOffload, SwaFull, KvUnified;
    public nint Samplers;
    public nuint SamplerCount;
    public nint OtherContext;
}

/// <summary>llama_batch (x86-64: 56 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaBatch
{
    public int TokenCount;
    public nint Tokens, Embeddings, Positions, SequenceIdCounts, SequenceIds, Logits;
}

/// <summary>The loaded library: function pointers plus what it says about its build.</summary>
internal sealed unsafe class LlamaCppLibrary
{
    /// <summary>The npm package (and version) whose libllama the bindings are written against.</summary>
    public const string Package = "@node-llama-cpp/linux-x64";

    public const string PackageVersion = "3.22.1";

    /// <summary>The llama.cpp release that package is built from; the struct layouts above are its llama.h.</summary>
    public const string LlamaCppRelease = "v0.5.0";

    private const string BinaryFolder = "bins/linux-x64";
    private const string LlamaFile = "libllama.v0.5.0.so";
    private const string GgmlFile = "libggml.v0.5.0.so";
    private const string CommonFile = "libllama-common.so";
    private const int GgmlTypeF32 = 0;

    private static readonly Lazy<LlamaCppLibrary> Loaded = new(() => new LlamaCppLibrary(PackageFolder));
    private static readonly object LogLock = new();
    private static readonly StringBuilder Log = new();

    public readonly delegate* unmanaged<LlamaModelParams> ModelDefaultParams;
    public readonly delegate* unmanaged<LlamaContextParams> ContextDefaultParams;
    public readonly delegate* unmanaged<byte*, LlamaModelParams, nint> ModelLoadFromFile;
    public readonly delegate* unmanaged<nint, void> ModelFree;
    public readonly delegate* unmanaged<nint, LlamaContextParams, nint> InitFromModel;
    public readonly delegate* unmanaged<nint, void> Free;
    public readonly delegate* unmanaged<int*, int, LlamaBatch> BatchGetOne;
    public readonly delegate* unmanaged<nint, LlamaBatch, int> Decode;
    public readonly delegate* unmanaged<nint, int, float*> GetLogitsIth;
    public readonly delegate* unmanaged<nint, nint> ModelGetVocab;
    public readonly delegate* unmanaged<nint, int> VocabTokenCount;
    public readonly delegate* unmanaged<nint, byte*, nuint, int> ModelDescription;
    public readonly delegate* unmanaged<nint, byte*, int, int*, int, byte, byte, int> Tokenize;

    private LlamaCppLibrary(string packageFolder)
    {
        string bins = Path.Combine(packageFolder, BinaryFolder);
        nint ggml = NativeLibrary.Load(Path.Combine(bins, GgmlFile));
        nint llama = NativeLibrary.Load(Path.Combine(bins, LlamaFile));
        nint common = NativeLibrary.Load(Path.Combine(bins, CommonFile));

        var logSet = (delegate* unmanaged<delegate* unmanaged<int, byte*, nint, void>, nint, void>)NativeLibrary.GetExport(llama, "llama_log_set");
        logSet(&OnLog, 0);
        // The CPU backend is a plug-in (one build per instruction set); ggml picks the best one the machine runs.
        var loadAll = (delegate* unmanaged<byte*, void>)NativeLibrary.GetExport(ggml, "ggml_backend_load_all_from_path");
        byte[] binsUtf8 = Encoding.UTF8.GetBytes(bins + "\0");
        fixed (byte* p = binsUtf8) loadAll(p);
        ((delegate* unmanaged<void>)NativeLibrary.GetExport(llama, "llama_backend_init"))();

        ModelDefaultParams = (delegate* unmanaged<LlamaModelParams>)NativeLibrary.GetExport(llama, "llama_model_default_params");
        ContextDefaultParams = (delegate* unmanaged<LlamaContextParams>)NativeLibrary.GetExport(llama, "llama_context_default_params");
        ModelLoadFromFile = (delegate* unmanaged<byte*, LlamaModelParams, nint>)NativeLibrary.GetExport(llama, "llama_model_load_from_file");
        ModelFree = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(llama, "llama_model_free");
        InitFromModel = (delegate* unmanaged<nint, LlamaContextParams, nint>)NativeLibrary.GetExport(llama, "llama_init_from_model");
        Free = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(llama, "llama_free");
        BatchGetOne = (delegate* unmanaged<int*, int, LlamaBatch>)NativeLibrary.GetExport(llama, "llama_batch_get_one");
        Decode = (delegate* unmanaged<nint, LlamaBatch, int>)NativeLibrary.GetExport(llama, "llama_decode");
        GetLogitsIth = (delegate* unmanaged<nint, int, float*>)NativeLibrary.GetExport(llama, "llama_get_logits_ith");
        ModelGetVocab = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(llama, "llama_model_get_vocab");
        VocabTokenCount = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(llama, "llama_vocab_n_tokens");
        ModelDescription = (delegate* unmanaged<nint, byte*, nuint, int>)NativeLibrary.GetExport(llama, "llama_model_desc");
        Tokenize = (delegate* unmanaged<nint, byte*, int, int*, int, byte, byte, int>)NativeLibrary.GetExport(llama, "llama_tokenize");

        string version = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)NativeLibrary.GetExport(llama, "llama_version"))()) ?? "?";
        string commit = Marshal.PtrToStringUTF8(*(nint*)NativeLibrary.GetExport(common, "LLAMA_COMMIT")) ?? "?";
        int buildNumber = *(int*)NativeLibrary.GetExport(common, "LLAMA_BUILD_NUMBER");
        Build = $"llama.cpp {LlamaCppRelease} (libllama {version}, commit {commit}, build {buildNumber}) from {Package} {PackageVersion}";
        CheckLayouts();
    }

    /// <summary>The library, loaded on first use (tests guarded by <see cref="LlamaCppFactAttribute"/> only).</summary>
    public static LlamaCppLibrary Instance => Loaded.Value;

    /// <summary>"llama.cpp v0.5.0 (libllama 0.5.0-dev, commit 0ad4a86, ...)": what the tests ran.</summary>
    public string Build { get; }

    /// <summary>tests/llama-cpp/node_modules/@node-llama-cpp/linux-x64 of this checkout.</summary>
    public static string PackageFolder => Path.Combine(RepoFiles.Root, "tests", "llama-cpp", "node_modules", "@node-llama-cpp", "linux-x64");

    /// <summary>Why llama.cpp cannot be used here, or null when the pinned package is installed.</summary>
    public static string? MissingReason()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return $"llama.cpp comparison needs linux-x64: {Package} ships libllama for that platform only (this is {RuntimeInformation.RuntimeIdentifier})";
        string manifest = Path.Combine(PackageFolder, "package.json");
        if (!File.Exists(manifest) || !File.Exists(Path.Combine(PackageFolder, BinaryFolder, LlamaFile)))
            return $"llama.cpp is not installed: run `npm ci --ignore-scripts` in tests/llama-cpp (./build.sh test does this when npm is on the PATH)";
        using var json = JsonDocument.Parse(File.ReadAllText(manifest));
        string? installed = json.RootElement.TryGetProperty("version", out JsonElement v) ? v.GetString() : null;
        return installed == PackageVersion ? null
            : $"tests/llama-cpp has {Package} {installed}, the bindings are written for {PackageVersion}: run `npm ci --ignore-scripts` in tests/llama-cpp";
    }

    /// <summary>Clears the collected llama.cpp warnings and errors.</summary>
    public static void ClearLog()
    {
        lock (LogLock) Log.Clear();
    }

    /// <summary>llama.cpp's warnings and errors since <see cref="ClearLog"/>, for failure messages.</summary>
    public static string RecentLog()
    {
        lock (LogLock) return Log.ToString().Trim();
    }

    // Warnings and errors are kept for failure messages; the rest of llama.cpp's chatter is dropped.
    [UnmanagedCallersOnly]
    private static void OnLog(int level, byte* text, nint userData)
    {
        const int Warn = 3, Error = 4;
        if (level is not (Warn or Error) || text is null) return;
        lock (LogLock) Log.Append(Marshal.PtrToStringUTF8((nint)text));
    }

    // The library's defaults are known values of llama.h v0.5.0; other values mean the structs above do not fit it.
    private void CheckLayouts()
    {
        if (Unsafe.SizeOf<LlamaModelParams>() != 80 || Unsafe.SizeOf<LlamaContextParams>() != 160 || Unsafe.SizeOf<LlamaBatch>() != 56)
            throw new InvalidOperationException("the llama.cpp structs do not have llama.h v0.5.0's x86-64 sizes (80, 160, 56 bytes)");
        LlamaModelParams m = ModelDefaultParams();
        LlamaContextParams c = ContextDefaultParams();
        bool modelOk = m is { GpuLayers: -1, SplitMode: 1, LoadMode: -1, LazyMode: 1, UseExtraBufferTypes: 1, NoAlloc: 0 };
        bool contextOk = c is { ContextSize: 512, BatchSize: 2048, MicroBatchSize: 512, MaxSequences: 1, MaxOutputsPerSequence: 1, FlashAttentionType: -1,
                                KeyCacheType: 1, ValueCacheType: 1, OffloadKqv: 1, NoPerf: 1, SwaFull: 1, KvUnified: 0, YarnExtFactor: -1f, DefragThreshold: -1f };
        if (!modelOk || !contextOk)
            throw new InvalidOperationException($"{Build}: llama_model_default_params / llama_context_default_params do not return llama.h v0.5.0's defaults; the bindings do not fit this library");
    }

    /// <summary>Context parameters for exact comparisons: f32 K and V caches (f16, the default, alone costs about 5e-4
    /// relative error), no flash attention, room for <paramref name="tokens"/> tokens in one batch.</summary>
    public LlamaContextParams ExactContextParams(int tokens)
    {
        LlamaContextParams c = ContextDefaultParams();
        c.ContextSize = (uint)tokens;
        c.BatchSize = c.MicroBatchSize = (uint)Math.Max(tokens, 1);
        c.Threads = c.BatchThreads = Environment.ProcessorCount;
        c.FlashAttentionType = 0;
        c.KeyCacheType = c.ValueCacheType = GgmlTypeF32;
        return c;
    }
}
