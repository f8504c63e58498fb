// AlpacaJsonlTests.cs — the Alpaca source exactly as LoRAPrune's prune.py prepares a record: the prompt
// text character by character, BOS + prompt (+ EOS when it fits), truncation at the cutoff without EOS,
// targets = next input id (train_on_inputs), pad id 0 with ignored targets, and errors naming file:line.
using LoRAPrune.Core.Data;
using LoRAPrune.Tests.IO;

namespace LoRAPrune.Tests.Data;

public sealed class AlpacaJsonlTests
{
    private const int Ignore = TrainingSample.IgnoreIndex;

    private const string NoInputPrompt =
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n" +
        "### Instruction:\nSay hi\n\n### Response:\nhi";

    [Fact]
    public void Prompts_follow_the_reference_template_and_the_standard_input_template()
    {
        Assert.Equal(NoInputPrompt, AlpacaPrompt.Format("Say hi", null, "hi"));
        Assert.Equal(NoInputPrompt, AlpacaPrompt.Format("Say hi", "", "hi"));
        Assert.Equal(
            "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n" +
            "### Instruction:\nTranslate\n\n### Input:\nhallo\n\n### Response:\nhello",
            AlpacaPrompt.Format("Translate", "hallo", "hello"));
    }

    [Fact]
    public void A_short_record_gets_BOS_and_EOS_right_padding_with_0_and_shifted_targets()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("d.jsonl"), "{\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\"}\n");
        int[] ids = [1, .. ByteTokenizer.Ids(NoInputPrompt), 2];
        int cutoff = ids.Length + 3;
        var source = AlpacaJsonl.Load(dir.File("d.jsonl"), new ByteTokenizer(), cutoff);

        Assert.Equal(1, source.Count);
        Assert.Equal(cutoff, source.SequenceLength);
        Assert.Equal(ids.Length, source.TokenLength(0));
        TrainingSample s = source[0];
        Assert.Equal([.. ids, 0, 0, 0], s.Tokens);
        Assert.Equal([.. ids[1..], Ignore, Ignore, Ignore, Ignore], s.Targets);
        Assert.Equal(ids.Length - 1, s.Targets.Count(t => t != Ignore)); // labels = inputs: every real position but the last is scored
        Assert.Equal(0, source.Truncated);
        Assert.Contains("1 Alpaca-format records", source.Description);
    }

    [Fact]
    public void A_long_record_is_truncated_at_the_cutoff_without_EOS()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("d.jsonl"), "{\"instruction\": \"Say hi\", \"output\": \"hi\"}");
        int[] ids = [1, .. ByteTokenizer.Ids(NoInputPrompt)];
        var source = AlpacaJsonl.Load(dir.File("d.jsonl"), new ByteTokenizer(), cutoff: 20);
        Assert.Equal(ids[..20], source[0].Tokens);
        Assert.Equal([.. ids[1..20], Ignore], source[0].Targets);
        Assert.Equal(1, source.Truncated);

        // Exactly cutoff ids before EOS: not truncated, but no room for EOS either (prune.py's len < cutoff_len rule).
        var exact = AlpacaJsonl.Load(dir.File("d.jsonl"), new ByteTokenizer(), cutoff: ids.Length);
        Assert.Equal(ids, exact[0].Tokens);
        Assert.Equal(0, exact.Truncated);
        Assert.DoesNotContain(2, exact[0].Tokens);
    }

    [Fact]
    public void LaMini_response_field_JSON_arrays_and_tokenizers_without_EOS_work()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("lamini.jsonl"), "{\"instruction\": \"Say hi\", \"response\": \"hi\"}\r\n\r\n{\"instruction\": \"Say hi\", \"input\": null, \"output\": \"hi\"}\r\n");
        var source = AlpacaJsonl.Load(dir.File("lamini.jsonl"), new ByteTokenizer(), 512);
        Assert.Equal(2, source.Count);
        Assert.Equal(source[0].Tokens, source[1].Tokens);

        File.WriteAllText(dir.File("alpaca.json"), "[\n {\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\"},\n {\"instruction\": \"Translate\", \"input\": \"hallo\", \"output\": \"hello\"}\n]");
        var array = AlpacaJsonl.Load(dir.File("alpaca.json"), new ByteTokenizer(hasEos: false), 512);
        Assert.Equal(2, array.Count);
        Assert.Equal([1, .. ByteTokenizer.Ids(NoInputPrompt)], array[0].Tokens[..array.TokenLength(0)]);
        Assert.False(array.AppendsEos);
    }

    [Theory]
    [InlineData("{\"instruction\": \"a\", \"output\": \"b\"}\n\n{\"instruction\": \"a\", \"output\": ", ":3", "not valid JSON")]
    [InlineData("{\"output\": \"b\"}", ":1", "missing \"instruction\"")]
    [InlineData("{\"instruction\": \"a\"}", ":1", "missing \"output\" (or \"response\")")]
    [InlineData("{\"instruction\": \"a\", \"output\": \"b\", \"response\": \"c\"}", ":1", "has both \"output\" and \"response\"")]
    [InlineData("{\"instruction\": 5, \"output\": \"b\"}", ":1", "\"instruction\" must be a string, found Number")]
    [InlineData("[1, 2]", "", "expected a JSON object")]
    [InlineData("[{\"instruction\": \"a\"", "", "not a valid JSON array")]
    [InlineData("\n\n", "", "no records")]
    public void Bad_records_are_errors_naming_the_file_and_line(string content, string where, string problem)
    {
        using var dir = new TempFolder();
        string path = dir.File("bad.jsonl");
        File.WriteAllText(path, content);
        var e = Assert.Throws<DataFileException>(() => AlpacaJsonl.Load(path, new ByteTokenizer(), 64));
        Assert.StartsWith(path + where, e.Message);
        Assert.Contains(problem, e.Message);
    }
}
