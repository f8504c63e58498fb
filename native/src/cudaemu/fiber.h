// fiber.h — the execution contexts of the CUDA emulator's fibers (one per CUDA thread of the block
// being run): guarded stacks and a context switch. On x86-64 and AArch64 Linux the switch is a few
// instructions of assembly (no system call); elsewhere, or with CUDAEMU_FIBER_UCONTEXT defined,
// POSIX ucontext (correct, but each switch costs a system call). Under AddressSanitizer every
// switch is announced to it (__sanitizer_start/finish_switch_fiber), so it knows which stack runs.
#pragma once

#include <cstddef>

#if (defined(__x86_64__) || defined(__aarch64__)) && defined(__linux__) && !defined(CUDAEMU_FIBER_UCONTEXT)
#define CUDAEMU_FIBER_ASM 1
#else
#define CUDAEMU_FIBER_ASM 0
#if defined(__APPLE__) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700
#endif
#include <ucontext.h>
#endif

namespace cudaemu::detail {

struct FiberContext {
#if CUDAEMU_FIBER_ASM
    void* sp = nullptr;  // saved stack pointer; the callee-saved registers are on that stack
#else
    ucontext_t uc;
    bool has_context = false;  // getcontext (a system call) runs once per context, makecontext per use
#endif
    // The stack this context runs on, for AddressSanitizer: set by fiber_init for a fiber, learnt
    // at the first switch for the OS thread's own stack (the scheduler's).
    const void* stack_bottom = nullptr;
    size_t stack_size = 0;
    void* fake_stack = nullptr;  // AddressSanitizer's per-fiber state while switched away
};

// Makes `ctx` run `entry()` on [stack, stack + bytes) when it is first switched to. `entry` must
// call fiber_entered first and never return (it leaves with fiber_exit).
void fiber_init(FiberContext& ctx, void* stack, size_t bytes, void (*entry)());

// Saves the running context in `from` and continues `to`; returns when something switches back
// to `from`, which must be `to` (a fiber only ever switches with its scheduler).
void fiber_switch(FiberContext& from, FiberContext& to);

// First call of a fiber's entry function: `from` is the context that switched to it.
void fiber_entered(FiberContext& from);

// Leaves the running fiber for good and continues `to`.
[[noreturn]] void fiber_exit(FiberContext& from, FiberContext& to);

// A stack of `bytes` with an inaccessible guard page below it (an overflow faults instead of
// corrupting memory); nullptr when the memory cannot be had.
void* stack_alloc(size_t bytes);
void stack_free(void* stack, size_t bytes);

}  // namespace cudaemu::detail
