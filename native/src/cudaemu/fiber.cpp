// fiber.cpp — context switch and stacks of the CUDA emulator's fibers (fiber.h). The assembly switch
// saves the ABI's callee-saved registers on the old stack and restores them from the new one; the
// floating-point control registers are not switched because kernels never change them.
// AddressSanitizer is told of every switch (start before, finish after, with the stack that runs
// next), and a reused stack is unpoisoned, since an abandoned (trapped) fiber leaves its frames'
// redzones behind.
#include "fiber.h"

#include "asan.h"

#include <cstdint>
#include <sys/mman.h>
#include <unistd.h>

namespace cudaemu::detail {

namespace {

size_t page_size() {
    static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return size;
}

// Before a switch from `from` to `to`: `resumes` is false when `from` is never resumed.
void before_switch(FiberContext& from, const FiberContext& to, bool resumes) {
#if defined(CUDAEMU_ASAN)
    __sanitizer_start_switch_fiber(resumes ? &from.fake_stack : nullptr, to.stack_bottom, to.stack_size);
#else
    (void)from, (void)to, (void)resumes;
#endif
}

// In `resumed`, back from a switch made by `by`: records the stack `by` runs on (the scheduler's
// is only known this way).
void after_switch(FiberContext& resumed, FiberContext& by) {
#if defined(CUDAEMU_ASAN)
    __sanitizer_finish_switch_fiber(resumed.fake_stack, &by.stack_bottom, &by.stack_size);
#else
    (void)resumed, (void)by;
#endif
}

// A fiber's stack starts clean, whatever the last fiber on it left.
void prepare_stack(FiberContext& ctx, void* stack, size_t bytes) {
    ctx.stack_bottom = stack;
    ctx.stack_size = bytes;
    ctx.fake_stack = nullptr;
#if defined(CUDAEMU_ASAN)
    __asan_unpoison_memory_region(stack, bytes);
#endif
}

}  // namespace

void fiber_entered(FiberContext& from) {
#if defined(CUDAEMU_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &from.stack_bottom, &from.stack_size);
#else
    (void)from;
#endif
}

void* stack_alloc(size_t bytes) {
    const size_t guard = page_size();
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#if defined(MAP_STACK)
    flags |= MAP_STACK;
#endif
    void* base = mmap(nullptr, bytes + guard, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    if (mprotect(base, guard, PROT_NONE) != 0) {
        munmap(base, bytes + guard);
        return nullptr;
    }
    return static_cast<unsigned char*>(base) + guard;
}

void stack_free(void* stack, size_t bytes) {
    const size_t guard = page_size();
    munmap(static_cast<unsigned char*>(stack) - guard, bytes + guard);
}

}  // namespace cudaemu::detail

#if CUDAEMU_FIBER_ASM

// cudaemu_fiber_switch(void** save_sp, void* load_sp): push the callee-saved registers, store the
// stack pointer, load the other one, pop its registers and return into it.
// cudaemu_fiber_start: the first return of a new fiber lands here and calls the entry function,
// which fiber_init left in the first callee-saved register (r12 / x19).
#if defined(__x86_64__)
__asm__(R"(
    .text
    .globl cudaemu_fiber_switch
    .hidden cudaemu_fiber_switch
    .type cudaemu_fiber_switch, @function
    .p2align 4
cudaemu_fiber_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cudaemu_fiber_switch, .-cudaemu_fiber_switch

    .globl cudaemu_fiber_start
    .hidden cudaemu_fiber_start
    .type cudaemu_fiber_start, @function
    .p2align 4
cudaemu_fiber_start:
    callq *%r12
    ud2
    .size cudaemu_fiber_start, .-cudaemu_fiber_start
)");
#else
// AAPCS64: x19-x28, the frame pointer x29, the link register x30 and d8-d15 are callee-saved.
__asm__(R"(
    .text
    .globl cudaemu_fiber_switch
    .hidden cudaemu_fiber_switch
    .type cudaemu_fiber_switch, %function
    .p2align 4
cudaemu_fiber_switch:
    sub sp, sp, #160
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x2, sp
    str x2, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #160
    ret
    .size cudaemu_fiber_switch, .-cudaemu_fiber_switch

    .globl cudaemu_fiber_start
    .hidden cudaemu_fiber_start
    .type cudaemu_fiber_start, %function
    .p2align 4
cudaemu_fiber_start:
    blr x19
    brk #0
    .size cudaemu_fiber_start, .-cudaemu_fiber_start
)");
#endif

extern "C" void cudaemu_fiber_switch(void** save_sp, void* load_sp);
extern "C" void cudaemu_fiber_start();

namespace cudaemu::detail {

void fiber_init(FiberContext& ctx, void* stack, size_t bytes, void (*entry)()) {
    const uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15);
#if defined(__x86_64__)
    // Read by the pops of cudaemu_fiber_switch: r15 r14 r13 r12 rbx rbp, then the return address.
    // sp = top - 72 leaves rsp 16-byte aligned in cudaemu_fiber_start, so its call enters `entry`
    // with the ABI's alignment.
    auto* frame = reinterpret_cast<void**>(top - 72);
    frame[3] = reinterpret_cast<void*>(entry);                 // r12
    frame[6] = reinterpret_cast<void*>(&cudaemu_fiber_start);  // return address
    frame[0] = frame[1] = frame[2] = frame[4] = frame[5] = nullptr;
#else
    // Read by the loads of cudaemu_fiber_switch: x19..x28, x29, x30 (the return address), d8..d15.
    auto* frame = reinterpret_cast<void**>(top - 160);
    for (int i = 0; i < 20; ++i) frame[i] = nullptr;
    frame[0] = reinterpret_cast<void*>(entry);                  // x19
    frame[11] = reinterpret_cast<void*>(&cudaemu_fiber_start);  // x30
#endif
    prepare_stack(ctx, stack, bytes);
    ctx.sp = frame;
}

void fiber_switch(FiberContext& from, FiberContext& to) {
    before_switch(from, to, true);
    cudaemu_fiber_switch(&from.sp, to.sp);
    after_switch(from, to);
}

void fiber_exit(FiberContext& from, FiberContext& to) {
    before_switch(from, to, false);
    cudaemu_fiber_switch(&from.sp, to.sp);
    __builtin_unreachable();
}

}  // namespace cudaemu::detail

#else

#if defined(__APPLE__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace cudaemu::detail {

void fiber_init(FiberContext& ctx, void* stack, size_t bytes, void (*entry)()) {
    if (!ctx.has_context) {
        getcontext(&ctx.uc);
        ctx.has_context = true;
    }
    ctx.uc.uc_stack.ss_sp = stack;
    ctx.uc.uc_stack.ss_size = bytes;
    ctx.uc.uc_link = nullptr;
    makecontext(&ctx.uc, entry, 0);
    prepare_stack(ctx, stack, bytes);
}

void fiber_switch(FiberContext& from, FiberContext& to) {
    before_switch(from, to, true);
    swapcontext(&from.uc, &to.uc);
    after_switch(from, to);
}

void fiber_exit(FiberContext& from, FiberContext& to) {
    before_switch(from, to, false);
    swapcontext(&from.uc, &to.uc);
    __builtin_unreachable();
}

}  // namespace cudaemu::detail

#endif
