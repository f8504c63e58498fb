// ExportCommandTests.cs — `loraprune export` end to end: what it prints, its exit codes (2 for usage errors,
// 1 for a model or tokenizer GGUF cannot carry, one `export: ...` line naming the problem), and that a failed
// export leaves no output or temporary file and does not touch an existing one.
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;
using LoRAPrune.Tests.LlamaCpp;

namespace LoRAPrune.Tests.IO;

public sealed class ExportCommandTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly string _model;
    private readonly string _out;

    public ExportCommandTests()
    {
        _model = Directory.CreateDirectory(_folder.File("model")).FullName;
        _out = _folder.File("model.gguf");
        GgufTestModels.Write(_model, GgufTestModels.Unpruned());
    }

    public void Dispose() => _folder.Dispose();

    private (int Exit, string Out, string Err) Export(params string[] extra) =>
        CliRunner.Run(["export", "--model", _model, "--format", "gguf", "--out", _out, .. extra]);

    [Fact]
    public void Writes_the_file_and_says_what_it_wrote()
    {
        (int exit, string stdout, string stderr) = Export("--dtype", "bf16");
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Matches(@"^export: wrote .*model\.gguf: GGUF v3, architecture llama, 21 tensors, bf16 weights, 0\.\d MB\r?\n$", stdout);
        Assert.Equal(["model", "model.gguf"], _folder.Entries());
        Assert.Equal(32u, GgufLayout.Parse(File.ReadAllBytes(_out)).Metadata["general.file_type"].Value);
    }

    [Fact]
    public void Default_dtype_is_f16()
    {
        Assert.Equal(0, Export().Exit);
        Assert.Equal(1u, GgufLayout.Parse(File.ReadAllBytes(_out)).Metadata["general.file_type"].Value);
    }

    [Theory]
    [InlineData(new[] { "export", "--model", "MODEL", "--out", "OUT" }, "--format")]
    [InlineData(new[] { "export", "--model", "MODEL", "--format", "onnx", "--out", "OUT" }, "onnx")]
    [InlineData(new[] { "export", "--model", "MODEL", "--format", "gguf", "--out", "OUT", "--dtype", "q4_0" }, "q4_0")]
    [InlineData(new[] { "export", "--model", "MODEL", "--format", "gguf" }, "--out")]
    public void Bad_options_are_usage_errors(string[] args, string named)
    {
        (int exit, _, string stderr) = CliRunner.Run([.. args.Select(a => a switch { "MODEL" => _model, "OUT" => _out, _ => a })]);
        Assert.Equal(2, exit);
        Assert.Contains(named, stderr);
        Assert.False(File.Exists(_out));
    }

    [Fact]
    public void Missing_folders_are_usage_errors_naming_the_option()
    {
        (int exit, _, string stderr) = CliRunner.Run("export", "--model", _folder.File("nowhere"), "--format", "gguf", "--out", _out);
        Assert.Equal((2, $"export: --model: folder {_folder.File("nowhere")} does not exist"), (exit, stderr.TrimEnd()));

        string deep = Path.Combine(_folder.File("no-such-folder"), "m.gguf");
        (exit, _, stderr) = CliRunner.Run("export", "--model", _model, "--format", "gguf", "--out", deep);
        Assert.Equal((2, $"export: --out: folder {_folder.File("no-such-folder")} does not exist"), (exit, stderr.TrimEnd()));

        (exit, _, stderr) = CliRunner.Run("export", "--model", _model, "--format", "gguf", "--out", _folder.Path);
        Assert.Equal(2, exit);
        Assert.StartsWith($"export: --out: {_folder.Path} is a folder", stderr);
    }

    [Fact]
    public void A_model_without_a_tokenizer_fails_with_one_line_and_writes_nothing()
    {
        File.Delete(Path.Combine(_model, "tokenizer.json"));
        (int exit, string stdout, string stderr) = Export();
        Assert.Equal(1, exit);
        Assert.Equal("", stdout);
        Assert.Equal($"export: {_model}: no tokenizer.json or tokenizer.model; a GGUF file carries the model's vocabulary, so the folder needs its tokenizer", stderr.TrimEnd());
        Assert.Equal(["model"], _folder.Entries());
    }

    [Fact]
    public void A_tokenizer_llama_cpp_would_read_differently_fails_naming_the_field_and_keeps_the_old_file()
    {
        File.WriteAllText(_out, "previous export");
        JsonNode json = JsonNode.Parse(GgufTestModels.ByteLevelTokenizerJson())!;
        json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = @"\d+|\D+";
        TinyLlama.SaveModel(_model, GgufTestModels.Unpruned() with { VocabSize = GgufTestModels.ByteLevelTokenCount });
        File.WriteAllText(Path.Combine(_model, "tokenizer.json"), json.ToJsonString());

        (int exit, _, string stderr) = Export();
        Assert.Equal(1, exit);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.StartsWith("export: tokenizer.json: pre_tokenizer (Split pattern \"\\d+|\\D+\"", stderr);
        Assert.Equal("previous export", File.ReadAllText(_out));
        Assert.Equal(["model", "model.gguf"], _folder.Entries());
    }

    [Fact]
    public void A_broken_model_folder_fails_naming_the_file()
    {
        File.WriteAllText(Path.Combine(_model, "config.json"), LlamaConfigWriter.ToJson(GgufTestModels.Unpruned() with { IntermediateSize = 95 }));
        (int exit, _, string stderr) = Export();
        Assert.Equal(1, exit);
        Assert.StartsWith("export: model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight': has shape [96, 64] but config.json implies [95, 64]", stderr);
        Assert.False(File.Exists(_out));
    }
}
