// NativeApi.cs — the function-pointer table of ONE loaded backend library: one field per lp_*
// export of lp.h, filled with NativeLibrary.GetExport. A static [LibraryImport] binds a single
// library name per process, but cpu, cudaemu and cuda must be loaded side by side (the conformance
// tests compare them), so every Backend owns its own table instead.
using System.Runtime.InteropServices;

namespace LoRAPrune.Native;

#pragma warning disable IDE1006 // fields are named exactly like the C exports they hold

internal sealed unsafe class NativeApi
{
    // ---- library -----------------------------------------------------------------------------
    public readonly delegate* unmanaged[Cdecl]<uint> lp_get_abi_version;
    public readonly delegate* unmanaged[Cdecl]<byte*> lp_get_build_info;
    public readonly delegate* unmanaged[Cdecl]<byte*> lp_last_error_message;
    public readonly delegate* unmanaged[Cdecl]<int, byte*> lp_status_string;
    public readonly delegate* unmanaged[Cdecl]<delegate* unmanaged[Cdecl]<int, byte*, void*, void>, void*, LpStatus> lp_set_log_callback;

    // ---- devices, contexts, buffers ----------------------------------------------------------
    public readonly delegate* unmanaged[Cdecl]<int*, LpStatus> lp_device_count;
    public readonly delegate* unmanaged[Cdecl]<int, LpDeviceInfo*, LpStatus> lp_device_get_info;
    public readonly delegate* unmanaged[Cdecl]<int, nint*, LpStatus> lp_context_create;
    public readonly delegate* unmanaged[Cdecl]<nint, LpStatus> lp_context_destroy;
    public readonly delegate* unmanaged[Cdecl]<nint, LpStatus> lp_context_synchronize;
    public readonly delegate* unmanaged[Cdecl]<nint, LpMemoryStats*, LpStatus> lp_context_get_memory_stats;
    public readonly delegate* unmanaged[Cdecl]<nint, LpStatus> lp_context_reset_peak;
    public readonly delegate* unmanaged[Cdecl]<nint, int, ulong, LpStatus> lp_context_set_emulation_order;
    public readonly delegate* unmanaged[Cdecl]<nint, byte*, LpStatus> lp_context_set_emulation_knockout;
    public readonly delegate* unmanaged[Cdecl]<nint, byte**, LpStatus> lp_context_take_emulation_barrier_sites;
    public readonly delegate* unmanaged[Cdecl]<nint, ulong, nint*, LpStatus> lp_buffer_alloc;
    public readonly delegate* unmanaged[Cdecl]<nint, LpStatus> lp_buffer_free;
    public readonly delegate* unmanaged[Cdecl]<nint, void**, LpStatus> lp_buffer_get_data;
    public readonly delegate* unmanaged[Cdecl]<nint, ulong*, LpStatus> lp_buffer_get_size;
    public readonly delegate* unmanaged[Cdecl]<nint, ulong, void*, ulong, LpStatus> lp_buffer_upload;
    public readonly delegate* unmanaged[Cdecl]<nint, ulong, void*, ulong, LpStatus> lp_buffer_download;
    public readonly delegate* unmanaged[Cdecl]<nint, ulong, nint, ulong, ulong, LpStatus> lp_buffer_copy;
    public readonly delegate* unmanaged[Cdecl]<nint, ulong, ulong, void*, uint, LpStatus> lp_buffer_fill;

    // ---- ops (argument order of lp.h; LpTensor* may be null where lp.h says nullable) ----------
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_embedding_forward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_embedding_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, float, LpTensor*, LpTensor*, LpStatus> lp_op_rmsnorm_forward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_rmsnorm_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, float, long, LpStatus> lp_op_rope_forward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, float, long, LpStatus> lp_op_rope_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, int, int, float, float, LpStatus> lp_op_gemm;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, float, LpTensor*, LpTensor*, LpStatus> lp_op_attention_forward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_attention_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_swiglu_forward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_swiglu_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, float, ulong, ulong, LpStatus> lp_op_dropout;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, float, ulong, ulong, LpTensor*, LpTensor*, LpStatus> lp_op_lora_linear_forward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, float, ulong, ulong, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_lora_linear_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_bias_add;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_bias_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, int, LpTensor*, LpTensor*, LpStatus> lp_op_cross_entropy_forward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, int, float, LpTensor*, LpStatus> lp_op_cross_entropy_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, int, float, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_cross_entropy_forward_backward;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, float, float, float, float, long, LpStatus> lp_op_adamw_step;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpStatus> lp_op_grad_norm_accumulate;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, float, LpStatus> lp_op_grad_clip;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, int, int, LpTensor*, LpStatus> lp_op_importance_accumulate;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, long, LpTensor*, LpStatus> lp_op_importance_group_normalize;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, float, int*, LpStatus> lp_op_importance_ema;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_gather_rows;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_gather_cols;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, float, LpStatus> lp_op_lora_merge;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_add;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus> lp_op_mul;
    public readonly delegate* unmanaged[Cdecl]<nint, float, LpTensor*, LpTensor*, LpStatus> lp_op_axpy;
    public readonly delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpStatus> lp_op_convert;

    /// <summary>Exports lp.h declares that the library did not export (empty when the table is complete).</summary>
    public IReadOnlyList<string> MissingSymbols => _missing;

    private readonly List<string> _missing = new();
    private readonly nint _library;

    public NativeApi(nint library)
    {
        _library = library;
        lp_get_abi_version = (delegate* unmanaged[Cdecl]<uint>)Export(nameof(lp_get_abi_version));
        lp_get_build_info = (delegate* unmanaged[Cdecl]<byte*>)Export(nameof(lp_get_build_info));
        lp_last_error_message = (delegate* unmanaged[Cdecl]<byte*>)Export(nameof(lp_last_error_message));
        lp_status_string = (delegate* unmanaged[Cdecl]<int, byte*>)Export(nameof(lp_status_string));
        lp_set_log_callback = (delegate* unmanaged[Cdecl]<delegate* unmanaged[Cdecl]<int, byte*, void*, void>, void*, LpStatus>)Export(nameof(lp_set_log_callback));

        lp_device_count = (delegate* unmanaged[Cdecl]<int*, LpStatus>)Export(nameof(lp_device_count));
        lp_device_get_info = (delegate* unmanaged[Cdecl]<int, LpDeviceInfo*, LpStatus>)Export(nameof(lp_device_get_info));
        lp_context_create = (delegate* unmanaged[Cdecl]<int, nint*, LpStatus>)Export(nameof(lp_context_create));
        lp_context_destroy = (delegate* unmanaged[Cdecl]<nint, LpStatus>)Export(nameof(lp_context_destroy));
        lp_context_synchronize = (delegate* unmanaged[Cdecl]<nint, LpStatus>)Export(nameof(lp_context_synchronize));
        lp_context_get_memory_stats = (delegate* unmanaged[Cdecl]<nint, LpMemoryStats*, LpStatus>)Export(nameof(lp_context_get_memory_stats));
        lp_context_reset_peak = (delegate* unmanaged[Cdecl]<nint, LpStatus>)Export(nameof(lp_context_reset_peak));
        lp_context_set_emulation_order = (delegate* unmanaged[Cdecl]<nint, int, ulong, LpStatus>)Export(nameof(lp_context_set_emulation_order));
        lp_context_set_emulation_knockout = (delegate* unmanaged[Cdecl]<nint, byte*, LpStatus>)Export(nameof(lp_context_set_emulation_knockout));
        lp_context_take_emulation_barrier_sites = (delegate* unmanaged[Cdecl]<nint, byte**, LpStatus>)Export(nameof(lp_context_take_emulation_barrier_sites));
        lp_buffer_alloc = (delegate* unmanaged[Cdecl]<nint, ulong, nint*, LpStatus>)Export(nameof(lp_buffer_alloc));
        lp_buffer_free = (delegate* unmanaged[Cdecl]<nint, LpStatus>)Export(nameof(lp_buffer_free));
        lp_buffer_get_data = (delegate* unmanaged[Cdecl]<nint, void**, LpStatus>)Export(nameof(lp_buffer_get_data));
        lp_buffer_get_size = (delegate* unmanaged[Cdecl]<nint, ulong*, LpStatus>)Export(nameof(lp_buffer_get_size));
        lp_buffer_upload = (delegate* unmanaged[Cdecl]<nint, ulong, void*, ulong, LpStatus>)Export(nameof(lp_buffer_upload));
        lp_buffer_download = (delegate* unmanaged[Cdecl]<nint, ulong, void*, ulong, LpStatus>)Export(nameof(lp_buffer_download));
        lp_buffer_copy = (delegate* unmanaged[Cdecl]<nint, ulong, nint, ulong, ulong, LpStatus>)Export(nameof(lp_buffer_copy));
        lp_buffer_fill = (delegate* unmanaged[Cdecl]<nint, ulong, ulong, void*, uint, LpStatus>)Export(nameof(lp_buffer_fill));

        lp_op_embedding_forward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_embedding_forward));
        lp_op_embedding_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_embedding_backward));
        lp_op_rmsnorm_forward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, float, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_rmsnorm_forward));
        lp_op_rmsnorm_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_rmsnorm_backward));
        lp_op_rope_forward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, float, long, LpStatus>)Export(nameof(lp_op_rope_forward));
        lp_op_rope_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, float, long, LpStatus>)Export(nameof(lp_op_rope_backward));
        lp_op_gemm = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, int, int, float, float, LpStatus>)Export(nameof(lp_op_gemm));
        lp_op_attention_forward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, float, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_attention_forward));
        lp_op_attention_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_attention_backward));
        lp_op_swiglu_forward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_swiglu_forward));
        lp_op_swiglu_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_swiglu_backward));
        lp_op_dropout = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, float, ulong, ulong, LpStatus>)Export(nameof(lp_op_dropout));
        lp_op_lora_linear_forward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, float, ulong, ulong, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_lora_linear_forward));
        lp_op_lora_linear_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, float, ulong, ulong, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_lora_linear_backward));
        lp_op_bias_add = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_bias_add));
        lp_op_bias_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_bias_backward));
        lp_op_cross_entropy_forward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, int, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_cross_entropy_forward));
        lp_op_cross_entropy_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, int, float, LpTensor*, LpStatus>)Export(nameof(lp_op_cross_entropy_backward));
        lp_op_cross_entropy_forward_backward = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, int, float, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_cross_entropy_forward_backward));
        lp_op_adamw_step = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, float, float, float, float, long, LpStatus>)Export(nameof(lp_op_adamw_step));
        lp_op_grad_norm_accumulate = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_grad_norm_accumulate));
        lp_op_grad_clip = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, float, LpStatus>)Export(nameof(lp_op_grad_clip));
        lp_op_importance_accumulate = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, LpTensor*, float, int, int, LpTensor*, LpStatus>)Export(nameof(lp_op_importance_accumulate));
        lp_op_importance_group_normalize = (delegate* unmanaged[Cdecl]<nint, LpTensor*, long, LpTensor*, LpStatus>)Export(nameof(lp_op_importance_group_normalize));
        lp_op_importance_ema = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, float, int*, LpStatus>)Export(nameof(lp_op_importance_ema));
        lp_op_gather_rows = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_gather_rows));
        lp_op_gather_cols = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_gather_cols));
        lp_op_lora_merge = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, float, LpStatus>)Export(nameof(lp_op_lora_merge));
        lp_op_add = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_add));
        lp_op_mul = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_mul));
        lp_op_axpy = (delegate* unmanaged[Cdecl]<nint, float, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_axpy));
        lp_op_convert = (delegate* unmanaged[Cdecl]<nint, LpTensor*, LpTensor*, LpStatus>)Export(nameof(lp_op_convert));
    }

    /// <summary>lp_last_error_message() of this library, on the calling thread.</summary>
    public string LastErrorMessage() => Utf8(lp_last_error_message());

    public string StatusString(LpStatus status) => Utf8(lp_status_string((int)status));

    public static string Utf8(byte* text) => text == null ? "" : Marshal.PtrToStringUTF8((nint)text) ?? "";

    private nint Export(string name)
    {
        if (NativeLibrary.TryGetExport(_library, name, out nint address)) return address;
        _missing.Add(name);
        return 0;
    }
}
