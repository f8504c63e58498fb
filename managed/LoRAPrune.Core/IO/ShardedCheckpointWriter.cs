// ShardedCheckpointWriter.cs — writes a SafetensorsWriter's tensors as a Hugging Face model folder's
// weights: one model.safetensors, or shards model-0000N-of-0000M.safetensors plus
// model.safetensors.index.json when a shard size limit is given. All files are staged as temporary
// files first and renamed only once every one of them has been written completely.
using System.Text.Json;

namespace LoRAPrune.Core.IO;

/// <summary>Writes model weights as a single file or as shards with an index.</summary>
public static class ShardedCheckpointWriter
{
    /// <summary>
    /// Writes the tensors of <paramref name="tensors"/> into <paramref name="folder"/>. With
    /// <paramref name="maxShardBytes"/> of 0 (or when everything fits in one shard) the result is one
    /// model.safetensors; otherwise tensors are packed in data order into shards of at most that many
    /// bytes (a larger tensor gets a shard of its own) and an index is written. A stale single file is
    /// removed after a sharded write so that loaders, which prefer model.safetensors, see the new shards.
    /// </summary>
    public static void Write(string folder, SafetensorsWriter tensors, long maxShardBytes = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxShardBytes);
        Directory.CreateDirectory(folder);
        List<List<SafetensorsWriter.PendingTensor>> groups = Pack(tensors, maxShardBytes);
        if (groups.Count <= 1)
        {
            tensors.Save(Path.Combine(folder, ShardedCheckpoint.SingleFileName));
            return;
        }

        var staged = new List<StagedFile>();
        try
        {
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < groups.Count; i++)
            {
                string shardName = $"model-{i + 1:D5}-of-{groups.Count:D5}.safetensors";
                staged.Add(tensors.Subset(groups[i]).Stage(Path.Combine(folder, shardName)));
                foreach (SafetensorsWriter.PendingTensor t in groups[i]) weightMap.Add(t.Name, shardName);
            }
            byte[] index = BuildIndex(weightMap, tensors.DataBytes);
            staged.Add(StagedFile.Write(Path.Combine(folder, ShardedCheckpoint.IndexFileName), s => s.Write(index)));
            foreach (StagedFile f in staged) f.Commit();
        }
        finally
        {
            foreach (StagedFile f in staged) f.Dispose();
        }
        File.Delete(Path.Combine(folder, ShardedCheckpoint.SingleFileName));
    }

    private static List<List<SafetensorsWriter.PendingTensor>> Pack(SafetensorsWriter tensors, long maxShardBytes)
    {
        var groups = new List<List<SafetensorsWriter.PendingTensor>>();
        long current = 0;
        foreach (SafetensorsWriter.PendingTensor t in tensors.Ordered())
        {
            bool startNew = groups.Count == 0 || (maxShardBytes > 0 && current > 0 && current + t.ByteLength > maxShardBytes);
            if (startNew)
            {
                groups.Add([]);
                current = 0;
            }
            groups[^1].Add(t);
            current += t.ByteLength;
        }
        return groups;
    }

    private static byte[] BuildIndex(SortedDictionary<string, string> weightMap, long totalBytes)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", totalBytes);
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (KeyValuePair<string, string> kv in weightMap) json.WriteString(kv.Key, kv.Value);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }
}
