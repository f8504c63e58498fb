// exec.cpp — kernel execution of the CUDA emulator. A launch is cut into blocks that a pool of OS
// threads (the launching thread included) takes one at a time. Each block runs its CUDA threads as
// fibers under a scheduler that resumes them phase by phase in the configured order (forward,
// reverse or shuffled, as the launch's stream says), completes a warp collective once every
// participating lane has arrived, skips the stream's knocked-out barrier site, counts the barrier
// sites each block meets, and turns deadlocks, divergent __syncthreads and traps into launch
// failures instead of hangs.
#include "asan.h"
#include "fiber.h"
#include "internal.h"

#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

const int warpSize = 32;

namespace cudaemu::detail {

namespace {

constexpr size_t kFiberStackBytes = 64 * 1024;
constexpr unsigned kMaxBlockThreads = 1024;
constexpr unsigned kLanes = 32;
constexpr unsigned kMaxWarps = kMaxBlockThreads / kLanes;
constexpr size_t kDefaultDynamicSmem = 48 * 1024;
constexpr size_t kMaxDynamicSmem = 227 * 1024;
constexpr size_t kSmemAlign = 256;

std::mutex g_attr_mutex;
std::map<const void*, size_t> g_max_dynamic_smem;  // kernel -> cudaFuncAttributeMaxDynamicSharedMemorySize

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
    char buf[512];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    return buf;
}

const char* op_name(WarpOp op) {
    switch (op) {
        case WarpOp::sync: return "__syncwarp";
        case WarpOp::shfl_idx: return "__shfl_sync";
        case WarpOp::shfl_up: return "__shfl_up_sync";
        case WarpOp::shfl_down: return "__shfl_down_sync";
        case WarpOp::shfl_xor: return "__shfl_xor_sync";
        case WarpOp::ballot: return "__ballot_sync";
        case WarpOp::vote_any: return "__any_sync";
        case WarpOp::vote_all: return "__all_sync";
        case WarpOp::reduce_add: return "__reduce_add_sync";
        case WarpOp::reduce_min_u:
        case WarpOp::reduce_min_i: return "__reduce_min_sync";
        case WarpOp::reduce_max_u:
        case WarpOp::reduce_max_i: return "__reduce_max_sync";
        case WarpOp::reduce_and: return "__reduce_and_sync";
        case WarpOp::reduce_or: return "__reduce_or_sync";
        case WarpOp::reduce_xor: return "__reduce_xor_sync";
        case WarpOp::match_any: return "__match_any_sync";
        case WarpOp::match_all: return "__match_all_sync";
    }
    return "warp collective";
}

const char* barrier_name(BarrierKind kind) {
    switch (kind) {
        case BarrierKind::sync: return "__syncthreads";
        case BarrierKind::count: return "__syncthreads_count";
        case BarrierKind::all: return "__syncthreads_and";
        case BarrierKind::any: return "__syncthreads_or";
    }
    return "__syncthreads";
}

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// One grid launch, shared by the threads of the pool that run its blocks.
struct Launch {
    const char* name = nullptr;
    void (*run)(const void*) = nullptr;
    const void* bound = nullptr;
    dim3 grid, block;
    unsigned threads = 0;  // per block
    uint64_t blocks = 0;
    size_t smem = 0;
    BarrierSettings barriers;
    std::atomic<uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex failure_mutex;
    std::string failure;
    std::mutex sites_mutex;
    std::vector<SiteTally> sites;  // the barrier sites met, merged from every worker

    void add_sites(const std::vector<SiteTally>& met) {
        std::lock_guard<std::mutex> lock(sites_mutex);
        for (const SiteTally& t : met) {
            SiteTally* same = nullptr;
            for (SiteTally& u : sites)
                if (u.line == t.line && u.file == t.file) same = &u;
            if (!same) {
                sites.push_back(t);
                continue;
            }
            same->passes += t.passes;
            if (t.max_passes_per_block > same->max_passes_per_block) same->max_passes_per_block = t.max_passes_per_block;
            same->skipped += t.skipped;
        }
    }

    void fail(const std::string& message) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (failure.empty()) failure = message;
        failed.store(true, std::memory_order_relaxed);
    }
};

enum class FiberState : uint8_t { ready, block_barrier, warp, exited, trapped };

// One CUDA thread of the running block.
struct Fiber {
    FiberContext ctx;
    uint3 tid{0, 0, 0};
    FiberState state = FiberState::ready;
    // waiting at a block barrier
    const char* bar_file = nullptr;
    int bar_line = 0;
    BarrierKind bar_kind = BarrierKind::sync;
    int bar_pred = 0;
    int bar_result = 0;
    // waiting in a warp collective (wfile/wline: the call site of a __syncwarp)
    const char* wfile = nullptr;
    int wline = 0;
    unsigned int wmask = 0;
    WarpOp wop = WarpOp::sync;
    int warg = 0;
    int wwidth = 32;
    uint64_t wvalue = 0;
    uint64_t wresult = 0;
};

class Worker;
thread_local Worker* t_worker = nullptr;        // the worker whose block runs on this OS thread
thread_local std::unique_ptr<Worker> t_own_worker;  // this OS thread's worker, made at its first launch

// Runs blocks on one OS thread: the fibers, their stacks and the block's dynamic shared memory.
class Worker {
public:
    Worker() : fibers_(new Fiber[kMaxBlockThreads]) {
        smem_ = static_cast<unsigned char*>(std::aligned_alloc(kSmemAlign, kMaxDynamicSmem));
    }

    ~Worker() {
        for (unsigned i = 0; i < stack_count_; ++i) stack_free(stacks_[i], kFiberStackBytes);
        std::free(smem_);
    }

    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Takes blocks of `launch` until none is left or the launch has failed.
    void run(Launch& launch) {
        launch_ = &launch;
        t_worker = this;
        t_block_dim = launch.block;
        t_grid_dim = launch.grid;
        t_dynamic_smem = smem_;
        if (smem_) limit_addressable(smem_, launch.smem, kMaxDynamicSmem);
        if (!smem_ || !ensure_stacks(launch.threads)) {
            launch.fail("the emulator could not allocate the stacks or shared memory of a block");
        }
        tallies_.clear();
        while (!launch.failed.load(std::memory_order_relaxed)) {
            const uint64_t b = launch.next.fetch_add(1, std::memory_order_relaxed);
            if (b >= launch.blocks) break;
            const bool ok = run_block(b);
            end_block_tallies();
            if (!ok) break;
        }
        if (!tallies_.empty()) {
            std::vector<SiteTally> met;
            for (const Tally& t : tallies_) met.push_back(SiteTally{t.file, t.line, t.passes, t.max_passes_per_block, t.skipped});
            launch.add_sites(met);
        }
        t_worker = nullptr;
        launch_ = nullptr;
    }

    // ---- called by the running fiber ----------------------------------------------------------

    int block_barrier(const char* file, int line, BarrierKind kind, int predicate) {
        if (knocked_out(file, line)) {
            ++tally(file, line).skipped;
            return predicate;  // the result of a barrier over the calling thread alone
        }
        Fiber& f = *current_;
        f.bar_file = file;
        f.bar_line = line;
        f.bar_kind = kind;
        f.bar_pred = predicate;
        f.state = FiberState::block_barrier;
        fiber_switch(f.ctx, sched_);
        return f.bar_result;
    }

    uint64_t warp_collective(unsigned int mask, WarpOp op, uint64_t value, int arg, int width) {
        Fiber& f = *current_;
        const unsigned lane = index(f) % kLanes;
        if (!((mask >> lane) & 1u)) {
            trap_message_ = format("%s with mask 0x%08x called by lane %u, which is not in the mask", op_name(op), mask, lane);
            trap();
        }
        if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
            trap_message_ = format("%s with width %d: must be a power of two from 1 to 32", op_name(op), width);
            trap();
        }
        f.wmask = mask;
        f.wop = op;
        f.warg = arg;
        f.wwidth = width;
        f.wvalue = value;
        f.state = FiberState::warp;
        fiber_switch(f.ctx, sched_);
        return f.wresult;
    }

    void warp_sync(unsigned int mask, const char* file, int line) {
        if (knocked_out(file, line)) {
            ++tally(file, line).skipped;
            return;
        }
        current_->wfile = file;
        current_->wline = line;
        (void)warp_collective(mask, WarpOp::sync, 0, 0, 32);
    }

    unsigned int active_lanes() const { return warp_live_[index(*current_) / kLanes]; }

    void set_trap_message(const char* message) { trap_message_ = message; }

    // Ends the running fiber's block with trap_message_. The fiber is abandoned where it stands,
    // so nothing on its stack may own memory: the message is already in trap_message_.
    [[noreturn]] void trap() {
        Fiber& f = *current_;
        f.state = FiberState::trapped;
        fiber_exit(f.ctx, sched_);  // a trapped fiber is never resumed
    }

    static void fiber_entry() {
        Worker& w = *t_worker;
        Fiber& f = *w.current_;
        fiber_entered(w.sched_);
        w.launch_->run(w.launch_->bound);
        f.state = FiberState::exited;
        fiber_exit(f.ctx, w.sched_);  // an exited fiber is never resumed
    }

private:
    // A barrier site met by this worker's blocks of the running launch: in_block counts its passes
    // in the block being run.
    struct Tally {
        const char* file;
        int line;
        uint64_t in_block;
        uint64_t passes;
        uint64_t max_passes_per_block;
        uint64_t skipped;
    };

    unsigned index(const Fiber& f) const { return static_cast<unsigned>(&f - fibers_.get()); }

    bool knocked_out(const char* file, int line) const {
        const BarrierSettings& b = launch_->barriers;
        return line == b.knockout_line && !b.knockout_file.empty() && b.knockout_file == file_name(file);
    }

    Tally& tally(const char* file, int line) {
        for (Tally& t : tallies_)
            if (t.line == line && t.file == file) return t;
        tallies_.push_back(Tally{file, line, 0, 0, 0, 0});
        return tallies_.back();
    }

    void end_block_tallies() {
        for (Tally& t : tallies_) {
            t.passes += t.in_block;
            if (t.in_block > t.max_passes_per_block) t.max_passes_per_block = t.in_block;
            t.in_block = 0;
        }
    }

    bool ensure_stacks(unsigned n) {
        while (stack_count_ < n) {
            void* s = stack_alloc(kFiberStackBytes);
            if (!s) return false;
            stacks_[stack_count_++] = s;
        }
        return true;
    }

    // ---- the ready queue: every fiber is in it at most once -------------------------------------

    void push(unsigned i) {
        queue_[(head_ + count_) % kMaxBlockThreads] = i;
        ++count_;
    }

    unsigned pop() {
        const unsigned i = queue_[head_];
        head_ = (head_ + 1) % kMaxBlockThreads;
        --count_;
        return i;
    }

    void push_front(unsigned i) {
        head_ = (head_ + kMaxBlockThreads - 1) % kMaxBlockThreads;
        queue_[head_] = i;
        ++count_;
    }

    // Puts ids[0..n) in an order drawn from the block's generator.
    void shuffle(unsigned* ids, unsigned n) {
        for (unsigned i = n; i > 1; --i) {
            const unsigned j = static_cast<unsigned>(splitmix64(rng_) % i);
            std::swap(ids[i - 1], ids[j]);
        }
    }

    // Queues fibers ids[0..n) in the launch's order; ids is reordered in place.
    void push_ordered(unsigned* ids, unsigned n) {
        if (launch_->barriers.order == 2) shuffle(ids, n);
        if (launch_->barriers.order == 1) {
            for (unsigned i = n; i > 0; --i) push(ids[i - 1]);
        } else {
            for (unsigned i = 0; i < n; ++i) push(ids[i]);
        }
    }

    // Queues the lanes ids[0..n) that a warp collective released. In forward and reverse order they
    // run on before the rest of the block, as a warp that races ahead of the others does on a GPU
    // (so a barrier that only keeps a fast warp from overwriting what slower warps still read is
    // needed); in shuffled order they go to the front or the back of the queue at random.
    void push_released(unsigned* ids, unsigned n) {
        const int order = launch_->barriers.order;
        if (order == 2 && (splitmix64(rng_) & 1u) != 0) {
            push_ordered(ids, n);
            return;
        }
        if (order == 2) shuffle(ids, n);
        if (order == 1) {
            for (unsigned i = 0; i < n; ++i) push_front(ids[i]);
        } else {
            for (unsigned i = n; i > 0; --i) push_front(ids[i - 1]);
        }
    }

    std::string where(unsigned thread) const {
        const uint3 t = fibers_[thread].tid;
        return format("kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", launch_->name, t_block_idx.x, t_block_idx.y, t_block_idx.z, t.x, t.y, t.z);
    }

    bool fail(unsigned thread, const std::string& message) {
        launch_->fail(where(thread) + ": " + message);
        return false;
    }

    // ---- one block ------------------------------------------------------------------------------

    bool run_block(uint64_t linear) {
        const Launch& L = *launch_;
        const unsigned n = L.threads;
        const dim3 g = L.grid, b = L.block;
        t_block_idx = uint3{static_cast<unsigned>(linear % g.x), static_cast<unsigned>((linear / g.x) % g.y),
                            static_cast<unsigned>(linear / (static_cast<uint64_t>(g.x) * g.y))};
        if (L.smem) std::memset(smem_, 0xff, L.smem);  // uninitialized shared memory reads as NaN
        uint64_t seed_state = L.barriers.seed ^ (linear * 0xD1B54A32D192ED03ull);
        rng_ = splitmix64(seed_state);
        live_ = n;
        at_barrier_ = 0;
        for (unsigned w = 0; w < kMaxWarps; ++w) {
            const unsigned first = w * kLanes;
            warp_live_[w] = first >= n ? 0u : (n - first >= kLanes ? 0xffffffffu : (1u << (n - first)) - 1u);
            warp_waiting_[w] = 0;
        }
        for (unsigned i = 0; i < n; ++i) {
            Fiber& f = fibers_[i];
            f.tid = uint3{i % b.x, (i / b.x) % b.y, i / (b.x * b.y)};
            f.state = FiberState::ready;
            fiber_init(f.ctx, stacks_[i], kFiberStackBytes, &Worker::fiber_entry);
            ids_[i] = i;
        }
        head_ = 0;
        count_ = 0;
        push_ordered(ids_, n);

        for (;;) {
            while (count_ > 0) {
                const unsigned i = pop();
                Fiber& f = fibers_[i];
                current_ = &f;
                t_thread_idx = f.tid;
                fiber_switch(sched_, f.ctx);
                const unsigned w = i / kLanes, bit = 1u << (i % kLanes);
                switch (f.state) {
                    case FiberState::exited:
                        --live_;
                        warp_live_[w] &= ~bit;
                        if (warp_waiting_[w] != 0 && !complete_waiting(w)) return false;
                        break;
                    case FiberState::block_barrier: ++at_barrier_; break;
                    case FiberState::warp:
                        warp_waiting_[w] |= bit;
                        if (!try_complete(w, f.wmask)) return false;
                        break;
                    case FiberState::trapped: return fail(i, trap_message_);
                    case FiberState::ready: return fail(i, "internal error: a fiber yielded without waiting");
                }
            }
            if (live_ == 0) return true;
            if (at_barrier_ != live_) return fail(first_waiting(), deadlock_report());
            if (!release_barrier()) return false;
        }
    }

    unsigned first_waiting() const {
        for (unsigned i = 0; i < launch_->threads; ++i)
            if (fibers_[i].state == FiberState::block_barrier || fibers_[i].state == FiberState::warp) return i;
        return 0;
    }

    static bool same_site(const Fiber& a, const Fiber& b) {
        return a.bar_line == b.bar_line && a.bar_kind == b.bar_kind && (a.bar_file == b.bar_file || std::strcmp(a.bar_file, b.bar_file) == 0);
    }

    // Every live thread waits at a block barrier: check they wait at the same one, compute the
    // barrier's result and start the next phase.
    bool release_barrier() {
        const unsigned n = launch_->threads;
        unsigned m = 0;
        int count = 0;
        for (unsigned i = 0; i < n; ++i) {
            const Fiber& f = fibers_[i];
            if (f.state != FiberState::block_barrier) continue;
            const Fiber& first = fibers_[m == 0 ? i : ids_[0]];
            if (!same_site(first, f)) {
                return fail(i, format("divergent barriers: this thread waits at %s (%s:%d) while thread (%u,%u,%u) waits at %s (%s:%d)",
                                      barrier_name(f.bar_kind), f.bar_file, f.bar_line, first.tid.x, first.tid.y, first.tid.z,
                                      barrier_name(first.bar_kind), first.bar_file, first.bar_line));
            }
            count += f.bar_pred;
            ids_[m++] = i;
        }
        const Fiber& site = fibers_[ids_[0]];
        ++tally(site.bar_file, site.bar_line).in_block;
        const BarrierKind kind = site.bar_kind;
        int result = 0;
        if (kind == BarrierKind::count) result = count;
        if (kind == BarrierKind::all) result = count == static_cast<int>(m) ? 1 : 0;
        if (kind == BarrierKind::any) result = count > 0 ? 1 : 0;
        for (unsigned k = 0; k < m; ++k) {
            Fiber& f = fibers_[ids_[k]];
            f.bar_result = result;
            f.state = FiberState::ready;
        }
        at_barrier_ = 0;
        push_ordered(ids_, m);
        return true;
    }

    // After a lane of warp w exited: complete the collectives its waiting lanes no longer wait for.
    bool complete_waiting(unsigned w) {
        unsigned todo = warp_waiting_[w];
        while (todo != 0) {
            const unsigned lane = static_cast<unsigned>(__builtin_ctz(todo));
            if (!try_complete(w, fibers_[w * kLanes + lane].wmask)) return false;
            todo &= warp_waiting_[w] & ~(1u << lane);
        }
        return true;
    }

    // Completes the collective of warp w over `mask` if every live lane of the mask waits in it.
    bool try_complete(unsigned w, unsigned int mask) {
        const unsigned int need = mask & warp_live_[w];
        if ((need & ~warp_waiting_[w]) != 0) return true;
        Fiber* lanes = &fibers_[w * kLanes];
        for (unsigned int t = need; t != 0; t &= t - 1)
            if (lanes[__builtin_ctz(t)].wmask != mask) return true;  // that lane waits in another collective
        const unsigned first = static_cast<unsigned>(__builtin_ctz(need));
        const Fiber& f0 = lanes[first];
        for (unsigned int t = need; t != 0; t &= t - 1) {
            const Fiber& f = lanes[__builtin_ctz(t)];
            if (f.wop != f0.wop || f.wwidth != f0.wwidth)
                return fail(w * kLanes + static_cast<unsigned>(__builtin_ctz(t)),
                            format("mismatched warp collectives over mask 0x%08x: this lane calls %s (width %d), lane %u calls %s (width %d)", mask,
                                   op_name(f.wop), f.wwidth, first, op_name(f0.wop), f0.wwidth));
        }
        if (f0.wop == WarpOp::sync) ++tally(f0.wfile, f0.wline).in_block;
        compute(lanes, need, f0.wop);
        warp_waiting_[w] &= ~need;
        unsigned m = 0;
        for (unsigned int t = need; t != 0; t &= t - 1) {
            const unsigned lane = static_cast<unsigned>(__builtin_ctz(t));
            lanes[lane].state = FiberState::ready;
            released_[m++] = w * kLanes + lane;
        }
        push_released(released_, m);
        return true;
    }

    // Results of a collective whose participants (the bits of `need`) have all arrived. Shuffles
    // follow PTX shfl.sync: a source lane outside the caller's segment gives the caller's own value;
    // a source lane that does not participate is undefined in CUDA and also gives the own value.
    static void compute(Fiber* lanes, unsigned int need, WarpOp op) {
        switch (op) {
            case WarpOp::sync: return;
            case WarpOp::shfl_idx:
            case WarpOp::shfl_up:
            case WarpOp::shfl_down:
            case WarpOp::shfl_xor:
                for (unsigned int t = need; t != 0; t &= t - 1) {
                    const int lane = __builtin_ctz(t);
                    Fiber& f = lanes[lane];
                    const int seg = 32 - f.wwidth;  // c[12:8] of shfl.sync: the segment mask
                    const int b = f.warg & 31;
                    const int min_lane = lane & seg;
                    const int max_lane = min_lane | ((op == WarpOp::shfl_up ? 0 : 31) & ~seg);
                    int j = lane;
                    if (op == WarpOp::shfl_idx) j = min_lane | (b & ~seg);
                    if (op == WarpOp::shfl_up) j = lane - b;
                    if (op == WarpOp::shfl_down) j = lane + b;
                    if (op == WarpOp::shfl_xor) j = lane ^ b;
                    const bool valid = op == WarpOp::shfl_up ? j >= max_lane : j <= max_lane;
                    if (!valid) j = lane;
                    f.wresult = ((need >> j) & 1u) ? lanes[j].wvalue : f.wvalue;
                }
                return;
            case WarpOp::match_any:
                for (unsigned int t = need; t != 0; t &= t - 1) {
                    Fiber& f = lanes[__builtin_ctz(t)];
                    unsigned int same = 0;
                    for (unsigned int u = need; u != 0; u &= u - 1)
                        if (lanes[__builtin_ctz(u)].wvalue == f.wvalue) same |= 1u << __builtin_ctz(u);
                    f.wresult = same;
                }
                return;
            default: break;
        }
        // Reductions: one result for every participant.
        uint64_t r = 0;
        bool first = true;
        const uint64_t v0 = lanes[__builtin_ctz(need)].wvalue;
        for (unsigned int t = need; t != 0; t &= t - 1) {
            const int lane = __builtin_ctz(t);
            const uint64_t v = lanes[lane].wvalue;
            const uint32_t u = static_cast<uint32_t>(v), ru = static_cast<uint32_t>(r);
            const int32_t s = static_cast<int32_t>(u), rs = static_cast<int32_t>(ru);
            switch (op) {
                case WarpOp::ballot: r |= (v != 0 ? 1ull : 0ull) << lane; break;
                case WarpOp::vote_any: r = r || v != 0; break;
                case WarpOp::vote_all: r = (first || r) && v != 0; break;
                case WarpOp::reduce_add: r = static_cast<uint32_t>(ru + u); break;
                case WarpOp::reduce_min_u: r = first || u < ru ? u : ru; break;
                case WarpOp::reduce_max_u: r = first || u > ru ? u : ru; break;
                case WarpOp::reduce_min_i: r = static_cast<uint32_t>(first || s < rs ? s : rs); break;
                case WarpOp::reduce_max_i: r = static_cast<uint32_t>(first || s > rs ? s : rs); break;
                case WarpOp::reduce_and: r = first ? u : (ru & u); break;
                case WarpOp::reduce_or: r = ru | u; break;
                case WarpOp::reduce_xor: r = ru ^ u; break;
                case WarpOp::match_all: r = (first || r) && v == v0 ? need : 0; break;
                default: break;
            }
            first = false;
        }
        for (unsigned int t = need; t != 0; t &= t - 1) lanes[__builtin_ctz(t)].wresult = r;
    }

    std::string deadlock_report() const {
        const unsigned n = launch_->threads;
        unsigned at_barrier = 0, in_warp = 0;
        const Fiber* barrier_example = nullptr;
        const Fiber* warp_example = nullptr;
        unsigned warp_lane = 0;
        for (unsigned i = 0; i < n; ++i) {
            const Fiber& f = fibers_[i];
            if (f.state == FiberState::block_barrier) {
                ++at_barrier;
                if (!barrier_example) barrier_example = &f;
            } else if (f.state == FiberState::warp) {
                ++in_warp;
                if (!warp_example) warp_example = &f, warp_lane = i % kLanes;
            }
        }
        std::string s = format("deadlock: %u of %u threads are live and none can continue (a barrier or warp collective that some threads never reach); ",
                               live_, n);
        if (barrier_example)
            s += format("%u wait at %s (%s:%d)", at_barrier, barrier_name(barrier_example->bar_kind), barrier_example->bar_file, barrier_example->bar_line);
        if (barrier_example && warp_example) s += ", ";
        if (warp_example)
            s += format("%u wait in warp collectives (lane %u in %s over mask 0x%08x)", in_warp, warp_lane, op_name(warp_example->wop), warp_example->wmask);
        return s;
    }

    std::unique_ptr<Fiber[]> fibers_;
    void* stacks_[kMaxBlockThreads] = {};
    unsigned stack_count_ = 0;
    unsigned char* smem_ = nullptr;
    FiberContext sched_;
    Fiber* current_ = nullptr;
    Launch* launch_ = nullptr;
    std::string trap_message_;
    uint64_t rng_ = 0;
    unsigned live_ = 0;
    unsigned at_barrier_ = 0;
    unsigned int warp_live_[kMaxWarps] = {};
    unsigned int warp_waiting_[kMaxWarps] = {};
    unsigned queue_[kMaxBlockThreads] = {};
    unsigned head_ = 0, count_ = 0;
    unsigned ids_[kMaxBlockThreads] = {};
    unsigned released_[kLanes] = {};
    std::vector<Tally> tallies_;
};

Worker& own_worker() {
    if (!t_own_worker) t_own_worker = std::make_unique<Worker>();
    return *t_own_worker;
}

// The OS threads that run blocks besides the launching thread. Never destroyed: its threads sleep
// until the process ends, so no exit-time join can hang.
class Pool {
public:
    static Pool& get() {
        static Pool* pool = new Pool();
        return *pool;
    }

    // Runs every block of `launch`; returns when all are done. One launch at a time.
    void run(Launch& launch) {
        std::lock_guard<std::mutex> serial(launch_mutex_);
        const uint64_t extra = launch.blocks - 1;
        const unsigned helpers = static_cast<unsigned>(extra < helpers_ ? extra : helpers_);
        if (helpers > 0) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                current_ = &launch;
                tickets_ = helpers;
                finished_ = 0;
            }
            for (unsigned i = 0; i < helpers; ++i) wake_.notify_one();
        }
        own_worker().run(launch);
        if (helpers > 0) {
            std::unique_lock<std::mutex> lock(mutex_);
            const unsigned joined = helpers - tickets_;  // helpers that have not woken yet are not needed
            tickets_ = 0;
            done_.wait(lock, [&] { return finished_ == joined; });
            current_ = nullptr;
        }
    }

private:
    Pool() : helpers_(pool_size() - 1) {
        for (unsigned i = 0; i < helpers_; ++i) std::thread([this] { helper_main(); }).detach();
    }

    void helper_main() {
        Worker& worker = own_worker();
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] { return tickets_ > 0; });
            --tickets_;
            Launch* launch = current_;
            lock.unlock();
            worker.run(*launch);
            lock.lock();
            ++finished_;
            done_.notify_one();
        }
    }

    const unsigned helpers_;
    std::mutex launch_mutex_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    Launch* current_ = nullptr;
    unsigned tickets_ = 0;
    unsigned finished_ = 0;
};

thread_local std::string t_launch_failure;

}  // namespace

// ---- device-side entry points (cudaemu_device.h) -----------------------------------------------

int block_barrier(const char* file, int line, BarrierKind kind, int predicate) { return t_worker->block_barrier(file, line, kind, predicate); }

uint64_t warp_collective(unsigned int mask, WarpOp op, uint64_t value, int arg, int width) {
    return t_worker->warp_collective(mask, op, value, arg, width);
}

void warp_sync(unsigned int mask, const char* file, int line) { t_worker->warp_sync(mask, file, line); }

unsigned int active_lanes() { return t_worker->active_lanes(); }

void device_trap(const char* message) {
    t_worker->set_trap_message(message);
    t_worker->trap();
}

// ---- launch -------------------------------------------------------------------------------------

unsigned pool_size() {
    static const unsigned size = [] {
        if (const char* env = std::getenv("CUDAEMU_THREADS")) {
            char* end = nullptr;
            const long v = std::strtol(env, &end, 10);
            if (end != env && *end == '\0' && v >= 1 && v <= 1024) return static_cast<unsigned>(v);
        }
        const unsigned hw = std::thread::hardware_concurrency();
        return hw == 0 ? 1u : hw;
    }();
    return size;
}

void set_launch_failure(const std::string& message) { t_launch_failure = message; }

cudaError_t launch_kernel(const void* kernel, const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                          void (*run)(const void*), const void* bound) {
    if (t_worker) {
        std::fprintf(stderr, "cudaemu: kernel %s launched from device code (dynamic parallelism is not emulated)\n", name);
        return record_error(cudaErrorNotSupported);
    }
    BarrierSettings barriers;
    if (!barrier_settings(stream, &barriers)) return record_error(cudaErrorInvalidResourceHandle);
    const uint64_t threads = static_cast<uint64_t>(block.x) * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x > 1024 || block.y > 1024 ||
        block.z > 64 || threads > kMaxBlockThreads || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        return record_error(cudaErrorInvalidConfiguration);
    size_t smem_limit = kDefaultDynamicSmem;
    {
        std::lock_guard<std::mutex> lock(g_attr_mutex);
        auto it = g_max_dynamic_smem.find(kernel);
        if (it != g_max_dynamic_smem.end()) smem_limit = it->second;
    }
    if (smem > smem_limit) return record_error(cudaErrorInvalidValue);

    Launch launch;
    launch.name = name;
    launch.run = run;
    launch.bound = bound;
    launch.grid = grid;
    launch.block = block;
    launch.threads = static_cast<unsigned>(threads);
    launch.blocks = static_cast<uint64_t>(grid.x) * grid.y * grid.z;
    launch.smem = smem;
    launch.barriers = barriers;
    Pool::get().run(launch);
    record_barrier_sites(stream, launch.sites);
    if (launch.failed.load(std::memory_order_relaxed)) {
        std::fprintf(stderr, "cudaemu: launch failed: %s\n", launch.failure.c_str());
        set_launch_failure(launch.failure);
        return record_error(cudaErrorLaunchFailure);
    }
    return cudaSuccess;
}

}  // namespace cudaemu::detail

// ---- public API ---------------------------------------------------------------------------------

namespace cudaemu {

int thread_count() { return static_cast<int>(detail::pool_size()); }

const char* last_launch_failure() { return detail::t_launch_failure.c_str(); }

}  // namespace cudaemu

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
    using namespace cudaemu::detail;
    if (!func) return record_error(cudaErrorInvalidDeviceFunction);
    switch (attr) {
        case cudaFuncAttributeMaxDynamicSharedMemorySize: {
            if (value < 0 || static_cast<size_t>(value) > kMaxDynamicSmem) return record_error(cudaErrorInvalidValue);
            std::lock_guard<std::mutex> lock(g_attr_mutex);
            g_max_dynamic_smem[func] = static_cast<size_t>(value);
            return cudaSuccess;
        }
        case cudaFuncAttributePreferredSharedMemoryCarveout:
            if (value < -1 || value > 100) return record_error(cudaErrorInvalidValue);
            return cudaSuccess;
    }
    return record_error(cudaErrorInvalidValue);
}
