// AlpacaJsonl.cs — instruction-tuning data as LoRAPrune's prune.py prepares it (docs/method.md §5.1):
// each record in the Alpaca prompt, tokenized with BOS, truncated at the cutoff, EOS appended when it
// fits, labels = inputs (train_on_inputs), then padded to the cutoff with id 0 and ignored targets.
using System.Text.Json;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Data;

/// <summary>
/// Samples from a JSON Lines file (one object per line; blank lines are skipped) or a JSON array of
/// objects, each with "instruction", optional "input", and the response as "output" (Alpaca) or
/// "response" (LaMini-instruction). Sample i: Tokens = ids padded with <see cref="PadId"/> to T, Targets[j]
/// = ids[j+1] for every position with a next token, <see cref="TrainingSample.IgnoreIndex"/> elsewhere.
/// Right padding gives the same losses as the reference's left padding: attention is causal and RoPE is relative.
/// </summary>
public sealed class AlpacaJsonl : ISampleSource
{
    /// <summary>The reference cutoff length (prune.sh --cutoff_len 512).</summary>
    public const int DefaultCutoff = 512;

    /// <summary>The padding id (the reference sets tokenizer.pad_token_id = 0).</summary>
    public const int PadId = 0;

    private readonly string _path;
    private readonly int[] _ids;      // every record's ids, concatenated
    private readonly int[] _offsets;  // record i is _ids[_offsets[i] .. _offsets[i + 1])

    private AlpacaJsonl(string path, int cutoff, int[] ids, int[] offsets, int truncated, bool eos)
    {
        _path = path;
        SequenceLength = cutoff;
        _ids = ids;
        _offsets = offsets;
        Truncated = truncated;
        AppendsEos = eos;
    }

    /// <inheritdoc/>
    public int Count => _offsets.Length - 1;

    /// <inheritdoc/>
    public int SequenceLength { get; }

    /// <summary>Records longer than the cutoff (cut, no EOS).</summary>
    public int Truncated { get; }

    /// <summary>False only for a tokenizer without an EOS id.</summary>
    public bool AppendsEos { get; }

    /// <summary>Number of real (unpadded) ids of record <paramref name="index"/>.</summary>
    public int TokenLength(int index) => _offsets[index + 1] - _offsets[index];

    /// <inheritdoc/>
    public string Description =>
        $"{_path}: {Count:N0} Alpaca-format records, {_ids.Length:N0} tokens (mean {(double)_ids.Length / Count:F1}), " +
        $"cutoff {SequenceLength} ({Truncated:N0} truncated), BOS{(AppendsEos ? " + EOS" : "")}, loss on prompt and response, padded with id {PadId}";

    /// <inheritdoc/>
    public TrainingSample this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            ReadOnlySpan<int> ids = _ids.AsSpan(_offsets[index], TokenLength(index));
            var tokens = new int[SequenceLength];
            var targets = new int[SequenceLength];
            Array.Fill(tokens, PadId);
            Array.Fill(targets, TrainingSample.IgnoreIndex);
            ids.CopyTo(tokens);
            ids[1..].CopyTo(targets);
            return new TrainingSample(tokens, targets);
        }
    }

    /// <summary>Reads and tokenizes <paramref name="path"/>; a bad line is a <see cref="DataFileException"/> naming file and line.</summary>
    public static AlpacaJsonl Load(string path, ITokenizer tokenizer, int cutoff = DefaultCutoff)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cutoff, 2);
        string text = Utf8TextFile.Read(path);
        var ids = new List<int>();
        var offsets = new List<int> { 0 };
        int truncated = 0;
        foreach ((string where, JsonElement record) in Records(path, text))
        {
            string prompt = FormatRecord(where, record);
            int[] encoded = tokenizer.Encode(prompt, addBos: true);
            if (encoded.Length > cutoff)
            {
                truncated++;
                ids.AddRange(encoded.AsSpan(0, cutoff));
            }
            else
            {
                ids.AddRange(encoded);
                // As prune.py's tokenize(): EOS only when there is room and the text does not already end with it.
                if (tokenizer.EosId is int eos && encoded.Length < cutoff && (encoded.Length == 0 || encoded[^1] != eos)) ids.Add(eos);
            }
            offsets.Add(ids.Count);
        }
        if (offsets.Count == 1) throw new DataFileException(path, "no records (expected one JSON object per line)");
        return new AlpacaJsonl(path, cutoff, [.. ids], [.. offsets], truncated, tokenizer.EosId is not null);
    }

    /// <summary>The Alpaca prompt of one record; <paramref name="where"/> ("file:line") names it in errors.</summary>
    public static string FormatRecord(string where, JsonElement record)
    {
        if (record.ValueKind != JsonValueKind.Object)
            throw new DataFileException(where, $"expected a JSON object, found {record.ValueKind}");
        string instruction = Field(where, record, "instruction", required: true)!;
        string? input = Field(where, record, "input", required: false);
        string? output = Field(where, record, "output", required: false);
        string? response = Field(where, record, "response", required: false);
        if (output is not null && response is not null)
            throw new DataFileException(where, "has both \"output\" and \"response\"; keep one");
        return AlpacaPrompt.Format(instruction, input,
            output ?? response ?? throw new DataFileException(where, "missing \"output\" (or \"response\")"));
    }

    private static string? Field(string where, JsonElement record, string name, bool required)
    {
        if (!record.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            return required ? throw new DataFileException(where, $"missing \"{name}\"") : null;
        if (value.ValueKind != JsonValueKind.String)
            throw new DataFileException(where, $"\"{name}\" must be a string, found {value.ValueKind}");
        return value.GetString()!;
    }

    // Every record with its location: "file:line" for JSON Lines, "file: item k" for a JSON array.
    private static IEnumerable<(string Where, JsonElement Record)> Records(string path, string text)
    {
        if (text.AsSpan().TrimStart().StartsWith("["))
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(text);
            }
            catch (JsonException e)
            {
                throw new DataFileException(path, $"not a valid JSON array: {e.Message}", e);
            }
            using (document)
            {
                int item = 0;
                foreach (JsonElement element in document.RootElement.EnumerateArray())
                    yield return ($"{path}: item {++item}", element.Clone());
            }
            yield break;
        }
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line)) continue;
            string where = $"{path}:{i + 1}";
            JsonElement record;
            try
            {
                using JsonDocument document = JsonDocument.Parse(line);
                record = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new DataFileException(where, $"not valid JSON: {e.Message}", e);
            }
            yield return (where, record);
        }
    }
}
