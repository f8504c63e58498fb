// ModelTokenizer.cs — the tokenizer of a run and how it travels with the model the run writes: a model
// folder's own files, a tokenizer file (--tokenizer), or the embedded LLaMA-2 vocabulary; checked against the
// config's vocabulary and written into the output model folder so that folder is self-contained.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Training;

public sealed class ModelTokenizer
{
    /// <summary>The --tokenizer value that names the embedded LLaMA-2 tokenizer.</summary>
    public const string Llama2 = "llama2";

    /// <summary>Files a model folder's tokenizer may consist of, copied as they are.</summary>
    public static readonly IReadOnlyList<string> FolderFiles = ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"];

    private readonly string? _folder; // a model folder to copy FolderFiles from
    private readonly string? _file;   // one tokenizer file to copy

    private ModelTokenizer(ITokenizer tokenizer, string source, string? folder, string? file)
    {
        Tokenizer = tokenizer;
        Source = source;
        _folder = folder;
        _file = file;
    }

    public ITokenizer Tokenizer { get; }

    /// <summary>"llama2", or the full path of the folder or file the tokenizer was read from.</summary>
    public string Source { get; }

    /// <summary>The tokenizer <paramref name="choice"/> names ("llama2", a folder or a file); else the one in
    /// <paramref name="initModel"/>; else, when <paramref name="required"/> (text data), the embedded LLaMA-2 one for
    /// a 32,000-id vocabulary. Null when none is named or needed. Throws <see cref="TrainingSetupException"/> when
    /// the text data has no tokenizer or the tokenizer has more ids than the config's vocabulary.</summary>
    public static ModelTokenizer? Resolve(string? choice, string? initModel, LlamaConfig config, bool required)
    {
        ModelTokenizer? chosen = choice is not null ? FromChoice(choice)
            : initModel is not null && HasFiles(initModel) ? FromFolder(initModel)
            : required && config.VocabSize == 32000 ? FromChoice(Llama2)
            : null;
        return Checked(chosen, config, required, "--tokenizer", "config's",
            $"the text data needs a tokenizer and vocab_size {config.VocabSize} is not LLaMA-2's 32000; give --tokenizer llama2, a model folder or a tokenizer file, or pre-tokenized ids with --tokens");
    }

    /// <summary>The tokenizer of the model folder <paramref name="modelFolder"/> (fine-tuning, pruning): its own
    /// tokenizer.json / tokenizer.model, else the embedded LLaMA-2 one when the model has LLaMA-2's 32,000 ids.
    /// Null when neither applies and <paramref name="required"/> is false; otherwise an error naming --model.</summary>
    public static ModelTokenizer? ForModel(string modelFolder, LlamaConfig config, bool required)
    {
        ModelTokenizer? found = HasFiles(modelFolder) ? FromFolder(modelFolder)
            : config.VocabSize == 32000 ? FromChoice(Llama2)
            : null;
        return Checked(found, config, required, "--model", "model's",
            $"{modelFolder} has no tokenizer.json or tokenizer.model to tokenize the data with (vocab_size {config.VocabSize}); give pre-tokenized ids with --tokens");
    }

    private static bool HasFiles(string folder) => FolderFiles.Take(2).Any(f => File.Exists(Path.Combine(folder, f)));

    // None found: null, or an error when one is required. Found: it may not have more ids than the vocabulary.
    private static ModelTokenizer? Checked(ModelTokenizer? tokenizer, LlamaConfig config, bool required, string option, string whose, string missing)
    {
        if (tokenizer is null) return required ? throw new TrainingSetupException($"{option}: {missing}") : null;
        if (tokenizer.Tokenizer.VocabSize > config.VocabSize)
            throw new TrainingSetupException($"{option}: the tokenizer ({tokenizer.Tokenizer.Name}) has {tokenizer.Tokenizer.VocabSize} ids but the {whose} vocab_size is {config.VocabSize}");
        return tokenizer;
    }

    private static ModelTokenizer FromChoice(string choice)
    {
        if (choice == Llama2) return new ModelTokenizer(TokenizerLoader.LoadLlama2Default(), Llama2, null, null);
        if (Directory.Exists(choice)) return FromFolder(choice);
        if (File.Exists(choice)) return new ModelTokenizer(TokenizerLoader.LoadFile(choice), Path.GetFullPath(choice), null, choice);
        throw new TrainingSetupException($"--tokenizer: '{choice}' is neither '{Llama2}' nor an existing model folder or tokenizer file");
    }

    private static ModelTokenizer FromFolder(string folder) =>
        new(TokenizerLoader.Load(folder), Path.GetFullPath(folder), folder, null);

    /// <summary>Writes the tokenizer into <paramref name="modelFolder"/> so that TokenizerLoader.Load reads it back:
    /// a folder's tokenizer files as they are; a single file as tokenizer.json or tokenizer.model (with the
    /// tokenizer_config.json beside it, if any); the embedded LLaMA-2 vocabulary as a SentencePiece tokenizer.model.</summary>
    public void WriteTo(string modelFolder)
    {
        if (_folder is not null)
        {
            foreach (string name in FolderFiles)
                if (File.Exists(Path.Combine(_folder, name))) File.Copy(Path.Combine(_folder, name), Path.Combine(modelFolder, name), overwrite: true);
        }
        else if (_file is not null)
        {
            string name = _file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? "tokenizer.json" : "tokenizer.model";
            File.Copy(_file, Path.Combine(modelFolder, name), overwrite: true);
            string config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(_file))!, "tokenizer_config.json");
            if (File.Exists(config)) File.Copy(config, Path.Combine(modelFolder, "tokenizer_config.json"), overwrite: true);
        }
        else
        {
            AtomicFile.Write(Path.Combine(modelFolder, "tokenizer.model"), stream => stream.Write(Llama2ModelProto()));
            AtomicFile.WriteText(Path.Combine(modelFolder, "tokenizer_config.json"), Llama2TokenizerConfig);
        }
    }

    /// <summary>The embedded LLaMA-2 vocabulary as a SentencePiece ModelProto: the very model
    /// LlamaSentencePieceTokenizer.FromEmbeddedLlama2 builds, so reading the file back gives the same ids.</summary>
    public static byte[] Llama2ModelProto() => LlamaSentencePieceTokenizer.EmbeddedLlama2Model().ToBytes();

    /// <summary>tokenizer_config.json for the LLaMA-2 tokenizer.model (what Hugging Face's LlamaTokenizer reads).</summary>
    public const string Llama2TokenizerConfig = """
        {
          "tokenizer_class": "LlamaTokenizer",
          "bos_token": "<s>",
          "eos_token": "</s>",
          "unk_token": "<unk>",
          "add_bos_token": true,
          "add_eos_token": false
        }

        """;
}
