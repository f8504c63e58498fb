// ContextTests.cs — contexts, buffers and tensors on the cpu backend through the managed bindings:
// memory bookkeeping, out-of-memory recovery, copies in and out, view bounds, native errors that
// surface as NativeException naming op/argument/reason, and buffer lifetime under Dispose and GC.
using System.Runtime.CompilerServices;
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Native;

public sealed class ContextTests
{
    private static Context NewContext() => Backend.Load("cpu").CreateContext();

    [Fact]
    public void Memory_stats_follow_allocations_and_frees()
    {
        using Context ctx = NewContext();
        MemoryStats start = ctx.GetMemoryStats();
        Assert.Equal(0UL, start.LiveBuffers);
        Assert.Equal(0UL, start.CurrentBytes);

        DeviceBuffer a = ctx.Alloc(1000);
        DeviceBuffer b = ctx.Alloc(4096);
        MemoryStats two = ctx.GetMemoryStats();
        Assert.Equal(2UL, two.LiveBuffers);
        Assert.Equal(5096UL, two.CurrentBytes);
        Assert.Equal(start.TotalAllocs + 2, two.TotalAllocs);
        Assert.True(two.PeakBytes >= 5096);

        a.Dispose();
        a.Dispose(); // idempotent
        MemoryStats one = ctx.GetMemoryStats();
        Assert.Equal(1UL, one.LiveBuffers);
        Assert.Equal(4096UL, one.CurrentBytes);
        Assert.True(one.PeakBytes >= 5096, "the peak keeps the high-water mark");

        ctx.ResetPeak();
        MemoryStats reset = ctx.GetMemoryStats();
        Assert.Equal(reset.CurrentBytes + reset.WorkspaceBytes, reset.PeakBytes);

        b.Dispose();
        Assert.Equal(0UL, ctx.GetMemoryStats().LiveBuffers);
    }

    [Fact]
    public void Out_of_memory_is_a_status_and_the_context_keeps_working()
    {
        using Context ctx = NewContext();
        var e = Assert.Throws<NativeException>(() => ctx.Alloc(1UL << 62));
        Assert.Equal(LpStatus.OutOfMemory, e.Status);
        Assert.Contains("lp_buffer_alloc", e.NativeMessage);
        Assert.Contains((1UL << 62).ToString(), e.NativeMessage);
        Assert.Contains("OutOfMemory", e.Message);
        Assert.Contains("[backend cpu]", e.Message);
        Assert.Equal(0UL, ctx.GetMemoryStats().LiveBuffers);

        using Tensor t = ctx.Upload(new float[] { 1, 2, 3 });
        Assert.Equal(new float[] { 1, 2, 3 }, t.ToFloatArray());
    }

    [Fact]
    public void Uploads_and_downloads_round_trip_in_every_dtype()
    {
        using Context ctx = NewContext();
        float[] values = { 0f, 1f, -2.5f, 3.140625f, 1e-3f, -65504f, 1.0009765625f };

        using Tensor f32 = ctx.Upload(values, 7);
        Assert.Equal(values, f32.ToFloatArray());

        using Tensor i32 = ctx.Upload(new[] { 7, -1, int.MaxValue, 0, 42, 5 }, 2, 3);
        Assert.Equal(new long[] { 2, 3 }, i32.Shape);
        Assert.Equal(new[] { 7, -1, int.MaxValue, 0, 42, 5 }, i32.ToIntArray());

        using Tensor bf16 = ctx.UploadBf16(values);
        Assert.Equal(LpDType.BF16, bf16.DType);
        Assert.Equal(values.Select(v => Half16.Bf16ToFloat(Half16.FloatToBf16(v))).ToArray(), bf16.ToFloatArray());
        Assert.Equal(3.140625f, bf16.ToFloatArray()[3]); // exactly representable in bf16

        using Tensor f16 = ctx.NewTensor(LpDType.F16, 7);
        f16.Upload(values);
        Assert.Equal(values.Select(v => (float)(Half)v).ToArray(), f16.ToFloatArray());

        Assert.Throws<ArgumentException>(() => ctx.Upload(new float[5], 2, 3));
        Assert.Throws<InvalidOperationException>(() => i32.ToFloatArray());
        Assert.Throws<InvalidOperationException>(() => f32.ToIntArray());
        Assert.Equal(4UL, ctx.GetMemoryStats().LiveBuffers);
    }

    [Fact]
    public void Buffers_fill_copy_and_reject_out_of_range_copies()
    {
        using Context ctx = NewContext();
        using DeviceBuffer a = ctx.Alloc(64);
        using DeviceBuffer b = ctx.Alloc(64);
        Assert.Equal(0, a.DevicePointer % 256);
        a.Fill(0x5A, 0, 64);
        b.Fill(0, 0, 64);
        b.CopyFrom(a, srcOffset: 8, dstOffset: 16, bytes: 32);
        var bytes = new byte[64];
        b.Download<byte>(bytes);
        Assert.All(bytes[..16], x => Assert.Equal(0, x));
        Assert.All(bytes[16..48], x => Assert.Equal(0x5A, x));
        Assert.All(bytes[48..], x => Assert.Equal(0, x));

        var e = Assert.Throws<NativeException>(() => a.Upload<float>(new float[10], offsetBytes: 32));
        Assert.Equal(LpStatus.InvalidArgument, e.Status);
        Assert.Contains("lp_buffer_upload", e.NativeMessage);
        Assert.Contains("outside the buffer of 64 bytes", e.NativeMessage);
        Assert.Contains("lp_buffer_upload", e.Call);
    }

    [Fact]
    public void Tensor_views_are_bounds_checked()
    {
        using Context ctx = NewContext();
        using DeviceBuffer buffer = ctx.Alloc(64); // 16 floats
        buffer.Upload<float>(Enumerable.Range(0, 16).Select(i => (float)i).ToArray());

        var whole = new Tensor(buffer, 0, LpDType.F32, 4, 4);
        Assert.Equal(64UL, whole.ByteCount);
        Assert.Equal(new long[] { 4, 1 }, whole.Strides);
        var tail = new Tensor(buffer, 48, LpDType.F32, 4);
        Assert.Equal(new float[] { 12, 13, 14, 15 }, tail.ToFloatArray());

        Assert.Throws<ArgumentOutOfRangeException>(() => new Tensor(buffer, 4, LpDType.F32, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Tensor(buffer, 68, LpDType.F32, 1));
        Assert.Throws<ArgumentException>(() => new Tensor(buffer, 2, LpDType.F32, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Tensor(buffer, 0, LpDType.F32, 0));
        Assert.Throws<ArgumentException>(() => new Tensor(buffer, 0, LpDType.F32, 1, 1, 1, 1, 1));
        Assert.Throws<ArgumentException>(() => new Tensor(buffer, 0, LpDType.F32));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Tensor(buffer, 0, LpDType.F32, long.MaxValue, 4));

        // Rows 1..2 of a (4,4) matrix, columns 1..3: a gemm-style strided view (row stride 4).
        Tensor block = Tensor.Strided(buffer, 20, LpDType.F32, new long[] { 2, 3 }, new long[] { 4, 1 });
        Assert.False(block.IsContiguous);
        Assert.Equal(28UL, block.ByteCount);
        Assert.Equal(new float[] { 5, 6, 7, 9, 10, 11 }, block.ToFloatArray());
        Assert.Throws<InvalidOperationException>(() => block.Upload(new float[6]));

        Tensor broadcast = Tensor.Strided(buffer, 0, LpDType.F32, new long[] { 3, 2, 2 }, new long[] { 0, 4, 1 });
        Assert.Equal(new float[] { 0, 1, 4, 5, 0, 1, 4, 5, 0, 1, 4, 5 }, broadcast.ToFloatArray());

        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Strided(buffer, 0, LpDType.F32, new long[] { 3, 4 }, new long[] { 8, 1 }));
        Assert.Throws<ArgumentException>(() => Tensor.Strided(buffer, 0, LpDType.F32, new long[] { 2, 2 }, new long[] { 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Strided(buffer, 0, LpDType.F32, new long[] { 2, 2 }, new long[] { -2, 1 }));

        unsafe
        {
            LpTensor d = block.Descriptor;
            Assert.Equal(buffer.DevicePointer + 20, (nint)d.Data);
            Assert.Equal(2, d.NDim);
            Assert.Equal((int)LpDType.F32, d.DType);
            Assert.Equal(3L, d.Ne[1]);
            Assert.Equal(4L, d.St[0]);
        }
    }

    [Fact]
    public void A_native_shape_error_names_the_op_the_argument_and_the_reason()
    {
        using Context ctx = NewContext();
        using Tensor x = ctx.Upload(new float[3 * 13], 3, 13);
        using Tensor weight = ctx.Upload(new float[12], 12);
        using Tensor y = ctx.NewTensor(LpDType.F32, 3, 13);
        using Tensor rstd = ctx.NewTensor(LpDType.F32, 3);

        var e = Assert.Throws<NativeException>(() => ctx.RmsNormForward(x, weight, 1e-5f, y, rstd));
        Assert.Equal(LpStatus.ShapeMismatch, e.Status);
        Assert.StartsWith("lp_op_rmsnorm_forward: ", e.NativeMessage);
        Assert.Contains("weight.ne[0]=12", e.NativeMessage);
        Assert.Contains("13", e.NativeMessage);
        Assert.Contains("lp_op_rmsnorm_forward", e.Call);
        Assert.Equal("cpu", e.BackendName);
        Assert.Contains(e.NativeMessage, e.Message);
        Assert.Contains("(ShapeMismatch)", e.Message);

        // The process and the context survive: the same op with a fitting weight works.
        using Tensor ones = ctx.Upload(Enumerable.Repeat(1f, 13).ToArray(), 13);
        x.Upload(Enumerable.Repeat(2f, 3 * 13).ToArray());
        ctx.RmsNormForward(x, ones, 0f, y, rstd);
        Assert.All(y.ToFloatArray(), v => Assert.Equal(1f, v, 5));
        Assert.All(rstd.ToFloatArray(), v => Assert.Equal(0.5f, v, 5));
    }

    [Fact]
    public void Bias_ops_reject_mismatched_shapes_dtypes_and_aliasing()
    {
        using Context ctx = NewContext();
        using Tensor y = ctx.NewTensor(LpDType.F32, 4, 6);
        using Tensor bias = ctx.Upload(new float[5], 5);
        using Tensor mask = ctx.Upload(new float[6], 6);
        using Tensor ids = ctx.NewTensor(LpDType.I32, 6);
        using Tensor dbias = ctx.NewTensor(LpDType.BF16, 6);

        var e = Assert.Throws<NativeException>(() => ctx.BiasAdd(y, bias, mask));
        Assert.Equal(LpStatus.ShapeMismatch, e.Status);
        Assert.StartsWith("lp_op_bias_add: bias.ne[0]=5", e.NativeMessage);
        e = Assert.Throws<NativeException>(() => ctx.BiasAdd(y, ids, null));
        Assert.StartsWith("lp_op_bias_add: bias", e.NativeMessage);
        e = Assert.Throws<NativeException>(() => ctx.BiasBackward(y, mask, dbias));
        Assert.StartsWith("lp_op_bias_backward: dbias", e.NativeMessage);
        e = Assert.Throws<NativeException>(() => ctx.BiasBackward(y, mask, mask));
        Assert.Equal(LpStatus.InvalidArgument, e.Status);
        Assert.StartsWith("lp_op_bias_backward: ", e.NativeMessage);
    }

    [Fact]
    public void A_tensor_of_another_context_is_rejected_by_the_op()
    {
        using Context first = NewContext();
        using Context second = NewContext();
        using Tensor a = first.Upload(new float[] { 1, 2, 3, 4 });
        using Tensor b = second.Upload(new float[] { 1, 2, 3, 4 });
        using Tensor output = second.NewTensor(LpDType.F32, 4);

        var e = Assert.Throws<NativeException>(() => second.Add(a, b, output));
        Assert.Equal(LpStatus.InvalidArgument, e.Status);
        Assert.Contains("lp_op_add", e.NativeMessage);
        Assert.Contains("not inside a live buffer of this context", e.NativeMessage);

        second.Add(b, b, output);
        Assert.Equal(new float[] { 2, 4, 6, 8 }, output.ToFloatArray());
    }

    [Fact]
    public void Disposing_a_context_frees_its_buffers_and_later_use_is_a_clear_error()
    {
        Context ctx = NewContext();
        Tensor t = ctx.Upload(new float[] { 1, 2 });
        DeviceBuffer loose = ctx.Alloc(128);
        ctx.Dispose();
        ctx.Dispose(); // idempotent
        Assert.True(loose.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => t.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => loose.DevicePointer);
        Assert.Throws<ObjectDisposedException>(() => ctx.Alloc(16));
        Assert.Throws<ObjectDisposedException>(() => ctx.GetMemoryStats());
        t.Dispose();
        loose.Dispose();
    }

    [Fact]
    public void A_buffer_dropped_without_dispose_is_freed_by_the_finalizer()
    {
        using Context ctx = NewContext();
        AllocateAndDrop(ctx);
        for (int i = 0; i < 10 && ctx.GetMemoryStats().LiveBuffers != 0; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(0UL, ctx.GetMemoryStats().LiveBuffers);
    }

    [Fact]
    public void The_log_sink_receives_native_messages()
    {
        var messages = new List<string>();
        Backend.SetLogSink((level, text) =>
        {
            lock (messages) messages.Add($"{level} {text}");
        });
        try
        {
            using Context ctx = NewContext();
            Assert.Throws<NativeException>(() => ctx.Alloc(0));
        }
        finally
        {
            Backend.SetLogSink(null);
        }
        lock (messages) Assert.Contains(messages, m => m.Contains("cpu: lp_buffer_alloc: bytes=0"));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AllocateAndDrop(Context ctx)
    {
        ctx.Alloc(4096);
        Assert.Equal(1UL, ctx.GetMemoryStats().LiveBuffers);
    }
}
