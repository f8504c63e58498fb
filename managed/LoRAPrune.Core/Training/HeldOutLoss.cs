// HeldOutLoss.cs — the mean token NLL of a model over a whole sample set (no dropout, no gradients),
// in batches of the graph's shape; a short last batch is padded with rows that take no loss. The
// fine-tuning run reports it as eval_loss.
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Model;

namespace LoRAPrune.Core.Training;

public static class HeldOutLoss
{
    /// <summary>Sum of token NLL / counted targets over every sample of <paramref name="data"/>.</summary>
    public static LlamaGraph.LossSum Measure(LlamaGraph graph, ISampleSource data)
    {
        if (data.SequenceLength != graph.Seq)
            throw new ArgumentException($"{data.Description}: samples hold {data.SequenceLength} tokens but the graph is built for {graph.Seq}", nameof(data));
        int seq = graph.Seq;
        var tokens = new int[graph.Tokens];
        var targets = new int[graph.Tokens];
        double sum = 0;
        int count = 0;
        for (int first = 0; first < data.Count; first += graph.Batch)
        {
            Array.Clear(tokens);
            Array.Fill(targets, TrainingSample.IgnoreIndex);
            for (int b = 0; b < graph.Batch && first + b < data.Count; b++)
            {
                TrainingSample s = data[first + b];
                s.Tokens.CopyTo(tokens, b * seq);
                s.Targets.CopyTo(targets, b * seq);
            }
            LlamaGraph.LossSum loss = graph.Forward(tokens, targets);
            sum += loss.Sum;
            count += loss.Count;
        }
        return new LlamaGraph.LossSum(sum, count);
    }
}
