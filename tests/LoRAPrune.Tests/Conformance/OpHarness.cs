// OpHarness.cs — runs one op case on one backend: every tensor lives in its own buffer between
// two guard regions, (=) outputs start as NaN so an unwritten element shows, inputs are checked
// to be unchanged, and results are compared with the float64 reference by normalised error. The
// conformance runner (ConformanceTests.RunCase) calls Verify after every case, so no case can
// forget the guard, input and error checks.
using System.Text;
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Conformance;

public sealed class OpHarness : IDisposable
{
    private const int GuardBytes = 256;
    private const byte GuardByte = 0xA7;

    private readonly List<Guarded> tensors = new();
    private readonly List<string> failures = new();
    private readonly StringBuilder evidence = new();
    private long elements;
    private bool verified;

    public OpHarness(BackendVariant variant, string caseName)
    {
        Variant = variant;
        CaseName = caseName;
        Context = variant.CreateContext();
    }

    public string CaseName { get; }

    public BackendVariant Variant { get; }
    public Context Context { get; }
    public bool IsCpu => Variant.Backend.Kind == BackendKind.Cpu;

    private sealed record Guarded(Tensor Tensor, DeviceBuffer Buffer, string Name, byte[]? ExpectUnchanged);

    private Tensor Place(string name, LpDType dtype, long[] shape, Action<Tensor> init, bool isInput)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        elements += count;
        ulong bytes = (ulong)(count * ElementSize(dtype));
        var buffer = Context.Alloc(bytes + 2 * GuardBytes);
        buffer.Upload<byte>(Enumerable.Repeat(GuardByte, GuardBytes).ToArray(), 0);
        buffer.Upload<byte>(Enumerable.Repeat(GuardByte, GuardBytes).ToArray(), GuardBytes + bytes);
        var tensor = new Tensor(buffer, GuardBytes, dtype, shape);
        init(tensor);
        byte[]? snapshot = null;
        if (isInput)
        {
            snapshot = new byte[bytes];
            buffer.Download<byte>(snapshot, GuardBytes);
        }
        tensors.Add(new Guarded(tensor, buffer, name, snapshot));
        return tensor;
    }

    private static int ElementSize(LpDType dtype) => dtype is LpDType.F16 or LpDType.BF16 ? 2 : 4;

    /// <summary>An f32 input (not to be modified by the op).</summary>
    public Tensor In(string name, float[] data, params long[] shape) => Place(name, LpDType.F32, shape, t => t.Upload(data), true);

    /// <summary>A bf16 input; data must already be bf16-representable so the reference sees the same values.</summary>
    public Tensor InBf16(string name, float[] data, params long[] shape) => Place(name, LpDType.BF16, shape, t => t.Upload(data), true);

    public Tensor InTyped(string name, LpDType dtype, float[] data, params long[] shape) => Place(name, dtype, shape, t => t.Upload(data), true);

    public Tensor InInt(string name, int[] data, params long[] shape) => Place(name, LpDType.I32, shape, t => t.Upload(data), true);

    /// <summary>An (=) output, pre-filled with NaN so elements the op forgets to write are caught.</summary>
    public Tensor Out(string name, params long[] shape) => OutTyped(name, LpDType.F32, shape);

    public Tensor OutTyped(string name, LpDType dtype, params long[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        return Place(name, dtype, shape, t =>
        {
            if (dtype == LpDType.I32) t.Upload(Enumerable.Repeat(unchecked((int)0x7fc00000), (int)count).ToArray());
            else t.Upload(Enumerable.Repeat(float.NaN, (int)count).ToArray());
        }, false);
    }

    /// <summary>A (+=) output or an in-place tensor with initial contents.</summary>
    public Tensor InOut(string name, float[] initial, params long[] shape) => Place(name, LpDType.F32, shape, t => t.Upload(initial), false);

    public Tensor InOutTyped(string name, LpDType dtype, float[] initial, params long[] shape) => Place(name, dtype, shape, t => t.Upload(initial), false);

    /// <summary>Compares an output with the reference: normalised L2 error ||out-ref|| / ||ref|| at most tol.
    /// With <paramref name="scaleOf"/>, the error is normalised by ||scaleOf|| instead: for outputs that are
    /// differences of larger f32 quantities, whose absolute error is set by those quantities.</summary>
    public void Expect(Tensor output, double[] reference, Tolerance tol, double[]? scaleOf = null)
    {
        var name = tensors.First(g => ReferenceEquals(g.Tensor, output)).Name;
        var got = output.ToFloatArray();
        if (got.Length != reference.Length)
        {
            failures.Add($"{name}: {got.Length} elements but the reference has {reference.Length}");
            return;
        }
        double diff2 = 0, ref2 = 0, maxAbs = 0;
        int nanCount = 0, worst = -1;
        for (int i = 0; i < got.Length; i++)
        {
            double r = reference[i], g = got[i];
            if (double.IsNaN(g) && !double.IsNaN(r)) { nanCount++; continue; }
            double d = g - r;
            diff2 += d * d;
            ref2 += r * r;
            if (Math.Abs(d) > maxAbs) { maxAbs = Math.Abs(d); worst = i; }
        }
        if (scaleOf is not null) ref2 = scaleOf.Sum(x => x * x);
        double err = ref2 > 0 ? Math.Sqrt(diff2 / ref2) : Math.Sqrt(diff2);
        evidence.AppendLine($"{name}: n={got.Length} nerr={err:E2} (limit {tol.Limit:E0}: {tol.Reason}) maxabs={maxAbs:E2}");
        if (nanCount > 0) failures.Add($"{name}: {nanCount} NaN element(s) where the reference is finite (first at {Array.FindIndex(got, float.IsNaN)})");
        if (err > tol.Limit || double.IsNaN(err))
        {
            var sb = new StringBuilder($"{name}: normalised error {err:E3} > {tol.Limit:E0} ({tol.Reason}); first mismatches:");
            int shown = 0;
            for (int i = 0; i < got.Length && shown < 6; i++)
            {
                double scale = Math.Sqrt(ref2 / Math.Max(1, got.Length));
                if (Math.Abs(got[i] - reference[i]) > tol.Limit * Math.Max(scale, 1e-30) * 4)
                {
                    sb.Append($" [{i}] got {got[i]:G9} want {reference[i]:G9};");
                    shown++;
                }
            }
            if (worst >= 0) sb.Append($" worst [{worst}] got {got[worst]:G9} want {reference[worst]:G9}");
            failures.Add(sb.ToString());
        }
    }

    /// <summary>Bitwise equality of an integer or copied tensor.</summary>
    public void ExpectExact(Tensor output, float[] expected)
    {
        var name = tensors.First(g => ReferenceEquals(g.Tensor, output)).Name;
        var got = output.ToFloatArray();
        int bad = Enumerable.Range(0, Math.Min(got.Length, expected.Length))
            .FirstOrDefault(i => BitConverter.SingleToInt32Bits(got[i]) != BitConverter.SingleToInt32Bits(expected[i]), -1);
        evidence.AppendLine($"{name}: n={got.Length} exact={(bad < 0 && got.Length == expected.Length ? "yes" : "no")}");
        if (got.Length != expected.Length) failures.Add($"{name}: {got.Length} elements, expected {expected.Length}");
        else if (bad >= 0) failures.Add($"{name}: element [{bad}] is {got[bad]:G9}, expected exactly {expected[bad]:G9}");
    }

    public void ExpectTrue(bool condition, string what)
    {
        evidence.AppendLine($"{what}: {(condition ? "ok" : "FAILED")}");
        if (!condition) failures.Add(what);
    }

    /// <summary>Checks guard bytes and unchanged inputs, then throws with the evidence if anything
    /// failed. Called once per case, by the runner.</summary>
    internal void Verify()
    {
        if (verified) throw new InvalidOperationException($"{CaseName}: verified twice");
        verified = true;
        Context.Synchronize();
        foreach (var g in tensors)
        {
            ulong bytes = g.Tensor.ByteCount;
            var before = new byte[GuardBytes];
            var after = new byte[GuardBytes];
            g.Buffer.Download<byte>(before, 0);
            g.Buffer.Download<byte>(after, GuardBytes + bytes);
            int b = Array.FindIndex(before, x => x != GuardByte), a = Array.FindIndex(after, x => x != GuardByte);
            if (b >= 0) failures.Add($"{g.Name}: guard byte {GuardBytes - b} before the tensor was overwritten");
            if (a >= 0) failures.Add($"{g.Name}: guard byte {a} after the tensor was overwritten");
            if (g.ExpectUnchanged is { } snap)
            {
                var now = new byte[snap.Length];
                g.Buffer.Download<byte>(now, GuardBytes);
                int c = Array.FindIndex(now, 0, x => false);
                for (int i = 0; i < snap.Length; i++)
                    if (now[i] != snap[i]) { c = i; break; }
                if (c >= 0) failures.Add($"{g.Name}: input was modified (byte {c})");
            }
        }
        evidence.AppendLine($"size: elements={elements}");
        AppendToReport();
        if (failures.Count > 0)
            throw new Xunit.Sdk.XunitException($"[{Variant.Name}] {string.Join("\n", failures)}\n--- evidence ---\n{evidence}");
    }

    /// <summary>With LORAPRUNE_CONFORMANCE_REPORT=FILE every case appends its measured errors and its
    /// size (the elements of all its tensors) there (tab-separated: backend, case, evidence line) for
    /// the per-op table. Runs with a barrier knocked out are meant to fail and are not reported.</summary>
    private void AppendToReport()
    {
        var path = Environment.GetEnvironmentVariable("LORAPRUNE_CONFORMANCE_REPORT");
        if (string.IsNullOrEmpty(path) || Variant.Knockout is not null) return;
        var lines = evidence.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => $"{Variant.Name}\t{CaseName}\t{l.TrimEnd()}{(failures.Count > 0 ? "\tFAILED" : "")}");
        lock (ReportLock) File.AppendAllLines(path, lines);
    }

    private static readonly object ReportLock = new();

    public void Dispose()
    {
        foreach (var g in tensors) g.Buffer.Dispose();
        Context.Dispose();
    }
}

/// <summary>A normalised-error limit with the reason it is that large.</summary>
public sealed record Tolerance(double Limit, string Reason);
