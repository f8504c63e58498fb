// BarrierSites.cs — every barrier call written in the CUDA sources (native/src/cuda/*.cu, *.cuh):
// __syncthreads, __syncthreads_count/_and/_or and __syncwarp, found by scanning the code (comments
// left out), each with its "file:line" site as the emulator names it and the function it is in.
using System.Text.RegularExpressions;

namespace LoRAPrune.Tests.Conformance;

/// <summary>A barrier call of the CUDA sources: its site "file:line" and its enclosing kernel or device function.</summary>
public sealed record BarrierCall(string Site, string File, int Line, string Function);

public static partial class BarrierSites
{
    public const string SourceFolder = "native/src/cuda";

    [GeneratedRegex(@"\b(__syncthreads(_count|_and|_or)?|__syncwarp)\s*\(")]
    private static partial Regex BarrierCallPattern();

    // A kernel or device function header; its name is the first identifier followed by "(" once
    // attributes such as __launch_bounds__(...) are removed.
    [GeneratedRegex(@"^\s*(template\s*<.*>\s*)?(__global__|__device__)\b")]
    private static partial Regex FunctionHeaderPattern();

    [GeneratedRegex(@"__launch_bounds__\s*\([^)]*\)|__forceinline__|__noinline__")]
    private static partial Regex AttributePattern();

    [GeneratedRegex(@"(\w+)\s*\(")]
    private static partial Regex NamePattern();

    /// <summary>Every barrier call of the CUDA sources, ordered by file and line.</summary>
    public static IReadOnlyList<BarrierCall> Scan()
    {
        var folder = Path.Combine(RepoFiles.Root, SourceFolder);
        var calls = new List<BarrierCall>();
        foreach (var path in Directory.EnumerateFiles(folder).Where(p => p.EndsWith(".cu", StringComparison.Ordinal) || p.EndsWith(".cuh", StringComparison.Ordinal))
                                      .Order(StringComparer.Ordinal))
        {
            var file = Path.GetFileName(path);
            var lines = File.ReadAllLines(path).Select(CodeOf).ToArray();
            for (int i = 0; i < lines.Length; i++)
            {
                if (!BarrierCallPattern().IsMatch(lines[i])) continue;
                calls.Add(new BarrierCall($"{file}:{i + 1}", file, i + 1, EnclosingFunction(lines, i) ?? "(outside a function)"));
            }
        }
        return calls;
    }

    private static string CodeOf(string line)
    {
        int comment = line.IndexOf("//", StringComparison.Ordinal);
        return comment < 0 ? line : line[..comment];
    }

    private static string? EnclosingFunction(string[] lines, int at)
    {
        for (int i = at; i >= 0; i--)
        {
            if (!FunctionHeaderPattern().IsMatch(lines[i])) continue;
            var header = string.Join(" ", lines.Skip(i).Take(3));
            var keyword = FunctionHeaderPattern().Match(header);
            var rest = AttributePattern().Replace(header[(keyword.Index + keyword.Length)..], " ");
            return NamePattern().Match(rest) is { Success: true } name ? name.Groups[1].Value : null;
        }
        return null;
    }
}
