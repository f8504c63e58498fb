// AlpacaPrompt.cs — the Alpaca prompt template the LoRAPrune fine-tuning data is written in
// (docs/method.md §5.1). Without an input it is exactly the reference code's generate_prompt; with a
// non-empty input it is the standard Alpaca "prompt_input" template (its longer preamble + "### Input:").
namespace LoRAPrune.Core.Data;

/// <summary>Alpaca-style prompt formatting.</summary>
public static class AlpacaPrompt
{
    /// <summary>The preamble line of a sample without input (the one LoRAPrune's prune.py uses).</summary>
    public const string Preamble =
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.";

    /// <summary>The preamble line of the standard Alpaca template when the sample has an input.</summary>
    public const string PreambleWithInput =
        "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.";

    /// <summary>
    /// "{preamble}\n\n### Instruction:\n{instruction}\n\n" [+ "### Input:\n{input}\n\n" when input is non-empty]
    /// + "### Response:\n{response}". Pass an empty response to get the prompt a model should complete.
    /// </summary>
    public static string Format(string instruction, string? input, string response) =>
        string.IsNullOrEmpty(input)
            ? $"{Preamble}\n\n### Instruction:\n{instruction}\n\n### Response:\n{response}"
            : $"{PreambleWithInput}\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{response}";
}
