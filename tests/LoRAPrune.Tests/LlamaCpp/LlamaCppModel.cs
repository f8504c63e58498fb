// LlamaCppModel.cs — one GGUF file loaded by llama.cpp (LlamaCppLibrary), with the two things the export tests
// ask of it: the next-token logits after a token sequence, and greedy generation. Every evaluation runs in a
// fresh context with f32 K/V caches and no flash attention, sized to hold the whole sequence.
using System.Text;
using LoRAPrune.Core.Inference;

namespace LoRAPrune.Tests.LlamaCpp;

internal sealed unsafe class LlamaCppModel : IDisposable
{
    private readonly LlamaCppLibrary _lib;
    private nint _model;

    private LlamaCppModel(LlamaCppLibrary lib, nint model)
    {
        _lib = lib;
        _model = model;
        VocabSize = lib.VocabTokenCount(lib.ModelGetVocab(model));
        var buffer = new byte[256];
        fixed (byte* p = buffer)
        {
            int length = lib.ModelDescription(model, p, (nuint)buffer.Length);
            Description = Encoding.UTF8.GetString(buffer, 0, Math.Clamp(length, 0, buffer.Length - 1));
        }
    }

    /// <summary>Tokens of llama.cpp's vocabulary (the rows of its logits).</summary>
    public int VocabSize { get; }

    /// <summary>llama.cpp's one-line description: "deci ?B F16" and the like.</summary>
    public string Description { get; }

    /// <summary>Loads <paramref name="path"/>; a file llama.cpp refuses fails with llama.cpp's own messages.</summary>
    public static LlamaCppModel Load(string path)
    {
        LlamaCppLibrary lib = LlamaCppLibrary.Instance;
        LlamaCppLibrary.ClearLog();
        byte[] utf8 = Encoding.UTF8.GetBytes(path + "\0");
        nint model;
        fixed (byte* p = utf8) model = lib.ModelLoadFromFile(p, lib.ModelDefaultParams());
        if (model == 0) throw new InvalidOperationException($"llama.cpp cannot load {path}: {LlamaCppLibrary.RecentLog()}");
        return new LlamaCppModel(lib, model);
    }

    /// <summary>llama.cpp's logits for the token after <paramref name="tokens"/> (all evaluated as one batch).</summary>
    public float[] NextTokenLogits(IReadOnlyList<int> tokens)
    {
        nint context = CreateContext(tokens.Count);
        try
        {
            return DecodeThenLogits(context, tokens);
        }
        finally
        {
            _lib.Free(context);
        }
    }

    /// <summary>The <paramref name="count"/> tokens llama.cpp picks greedily (Sampler.Argmax: the lowest id on ties, as `loraprune generate --greedy`) after
    /// <paramref name="prompt"/>, each fed back one at a time through the KV cache.</summary>
    public int[] GreedyGenerate(IReadOnlyList<int> prompt, int count)
    {
        nint context = CreateContext(prompt.Count + count);
        try
        {
            var generated = new int[count];
            float[] logits = DecodeThenLogits(context, prompt);
            for (int i = 0; i < count; i++)
            {
                generated[i] = Sampler.Argmax(logits);
                if (i + 1 < count) logits = DecodeThenLogits(context, [generated[i]]);
            }
            return generated;
        }
        finally
        {
            _lib.Free(context);
        }
    }

    /// <summary>llama.cpp's token ids for <paramref name="text"/>, with BOS when the file says to add it
    /// (tokenizer.ggml.add_bos_token); special-token text is treated as plain text, as `loraprune` does.</summary>
    public int[] Tokenize(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        var ids = new int[utf8.Length + 8];
        int count;
        fixed (byte* t = utf8)
        fixed (int* p = ids)
            count = _lib.Tokenize(_lib.ModelGetVocab(_model), t, utf8.Length, p, ids.Length, 1, 0);
        if (count < 0) throw new InvalidOperationException($"llama_tokenize needs {-count} ids for {text.Length} characters");
        return ids[..count];
    }

    public void Dispose()
    {
        if (_model == 0) return;
        _lib.ModelFree(_model);
        _model = 0;
    }

    private nint CreateContext(int tokens)
    {
        LlamaCppLibrary.ClearLog();
        nint context = _lib.InitFromModel(_model, _lib.ExactContextParams(tokens));
        if (context == 0) throw new InvalidOperationException($"llama.cpp cannot create a context of {tokens} tokens: {LlamaCppLibrary.RecentLog()}");
        return context;
    }

    // Positions continue from what the context holds; only the last token's logits are computed.
    private float[] DecodeThenLogits(nint context, IReadOnlyList<int> tokens)
    {
        int[] ids = [.. tokens];
        fixed (int* p = ids)
        {
            int status = _lib.Decode(context, _lib.BatchGetOne(p, ids.Length));
            if (status != 0) throw new InvalidOperationException($"llama_decode returned {status}: {LlamaCppLibrary.RecentLog()}");
        }
        float* logits = _lib.GetLogitsIth(context, -1);
        if (logits is null) throw new InvalidOperationException($"llama_get_logits_ith returned no logits: {LlamaCppLibrary.RecentLog()}");
        return new ReadOnlySpan<float>(logits, VocabSize).ToArray();
    }
}
