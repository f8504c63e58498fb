// ExportCommand.cs — `loraprune export`: writes a model folder (pruned or not) as one GGUF file that
// llama.cpp runs (llama-cli -m FILE.gguf). Uniform widths export as llama.cpp's "llama" architecture,
// per-layer widths as "deci"; the file is written atomically, so a failed export leaves nothing behind.
using System.CommandLine;
using System.Globalization;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Cli.Commands;

internal sealed class ExportCommand : Command
{
    private const int ExitFailed = 1;
    private const int ExitUsage = 2;

    private readonly Option<string> _model = new("--model")
    {
        Description = "Model folder: config.json, safetensors weights and tokenizer.json or tokenizer.model (the tokenizer goes into the file).",
        Required = true,
    };

    private readonly Option<string> _format = new("--format")
    {
        Description = "Output format: gguf (llama.cpp).",
        Required = true,
    };

    private readonly Option<string> _out = new("--out")
    {
        Description = "The file to write (replaced if it exists), e.g. model.gguf.",
        Required = true,
    };

    private readonly Option<string> _dtype = new("--dtype")
    {
        Description = "Storage of the 2-D weights: f32, f16 or bf16 (norms, biases and RoPE factors stay f32, as llama.cpp's converter writes them).",
        DefaultValueFactory = _ => "f16",
    };

    public ExportCommand() : base("export", "Write a model as a GGUF file for llama.cpp (architecture llama, or deci for per-layer pruned widths).")
    {
        _format.AcceptOnlyFromAmong("gguf");
        _dtype.AcceptOnlyFromAmong("f32", "f16", "bf16");
        Options.Add(_model);
        Options.Add(_format);
        Options.Add(_out);
        Options.Add(_dtype);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;
        string modelDir = parseResult.GetValue(_model)!;
        string outPath = parseResult.GetValue(_out)!;
        if (!Directory.Exists(modelDir)) return Usage(error, $"--model: folder {modelDir} does not exist");
        if (Directory.Exists(outPath)) return Usage(error, $"--out: {outPath} is a folder; give the path of the .gguf file to write");
        string outFolder = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
        if (!Directory.Exists(outFolder)) return Usage(error, $"--out: folder {outFolder} does not exist");
        GgmlType type = parseResult.GetValue(_dtype) switch
        {
            "f32" => GgmlType.F32,
            "bf16" => GgmlType.BF16,
            _ => GgmlType.F16,
        };

        try
        {
            GgufExportResult result = GgufExport.Export(modelDir, outPath, type);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"export: wrote {result.Path}: GGUF v{GgufWriter.Version}, architecture {result.Architecture}, {result.TensorCount} tensors, " +
                $"{result.Type.ToString().ToLowerInvariant()} weights, {result.Bytes / 1e6:F1} MB"));
            return 0;
        }
        catch (Exception e) when (e is ModelFormatException or TokenizerFileException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"export: {e.Message.ReplaceLineEndings(" ")}");
            return ExitFailed;
        }
    }

    private static int Usage(TextWriter error, string message)
    {
        error.WriteLine($"export: {message}");
        return ExitUsage;
    }
}
