// DataCursor.cs — the seeded, resumable order in which a trainer visits samples: every epoch is a
// Fisher-Yates permutation drawn from (seed, epoch), and the cursor is just (epoch, position), so a
// checkpoint that stores those three numbers resumes on exactly the next sample.
namespace LoRAPrune.Core.Data;

public sealed class DataCursor
{
    private int[] _order = Array.Empty<int>();

    public DataCursor(int sampleCount, ulong seed, long epoch = 0, long position = 0)
    {
        if (sampleCount < 1) throw new ArgumentException("the data set has no samples", nameof(sampleCount));
        SampleCount = sampleCount;
        Seed = seed;
        Epoch = epoch;
        Position = position;
        _order = Permutation(sampleCount, seed, epoch);
        if (position < 0 || position > sampleCount) throw new ArgumentOutOfRangeException(nameof(position));
    }

    public int SampleCount { get; }
    public ulong Seed { get; }
    public long Epoch { get; private set; }

    /// <summary>Index into the current epoch's order of the next sample.</summary>
    public long Position { get; private set; }

    /// <summary>The next sample index; rolls over to a fresh permutation at the end of an epoch.</summary>
    public int Next()
    {
        if (Position >= SampleCount)
        {
            Epoch++;
            Position = 0;
            _order = Permutation(SampleCount, Seed, Epoch);
        }
        return _order[Position++];
    }

    public static int[] Permutation(int n, ulong seed, long epoch)
    {
        var order = Enumerable.Range(0, n).ToArray();
        var rng = new Random(unchecked((int)(seed * 0x9E3779B97F4A7C15UL >> 33) ^ (int)epoch * 7919));
        for (int i = n - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
