// cudaemu_test.h — a minimal harness for the CUDA emulator's tests: tests register themselves by
// name, CHECK records a failure with its location and keeps going, NOTE prints what was checked.
// The test kernels are ordinary CUDA compiled through cuda_compat.cuh, as the backend's are.
#pragma once

#include "cuda/cuda_compat.cuh"

#include <cstdio>
#include <string>
#include <vector>

namespace cudaemu_test {

using TestFn = void (*)();

struct TestCase {
    const char* name;
    TestFn fn;
};

std::vector<TestCase>& registry();
int& failures();

struct Registrar {
    Registrar(const char* name, TestFn fn) { registry().push_back({name, fn}); }
};

// Device memory of n elements of T, freed on scope exit.
template <class T>
class DeviceArray {
public:
    explicit DeviceArray(size_t n) : n_(n) { (void)cudaMalloc(&p_, n * sizeof(T)); }
    ~DeviceArray() { (void)cudaFree(p_); }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;
    T* get() const { return p_; }
    size_t size() const { return n_; }
    void upload(const std::vector<T>& v) { (void)cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice); }
    std::vector<T> download() const {
        std::vector<T> v(n_);
        (void)cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
        return v;
    }
    void zero() { (void)cudaMemset(p_, 0, n_ * sizeof(T)); }

private:
    T* p_ = nullptr;
    size_t n_;
};

// Barrier orders of the emulator, with a name for messages.
struct Order {
    int order;
    uint64_t seed;
    const char* name;
};
inline const Order kOrders[] = {{0, 0, "forward"}, {1, 0, "reverse"}, {2, 1, "shuffled(seed 1)"}, {2, 7, "shuffled(seed 7)"}};

}  // namespace cudaemu_test

#define CUDAEMU_TEST(name)                                                       \
    static void name();                                                          \
    static const ::cudaemu_test::Registrar name##_registrar_(#name, &name);      \
    static void name()

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            std::printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                         \
            ++::cudaemu_test::failures();                                                         \
        }                                                                                         \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                      \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            std::printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                         \
            std::printf(__VA_ARGS__);                                                             \
            std::printf("\n");                                                                    \
            ++::cudaemu_test::failures();                                                         \
        }                                                                                         \
    } while (0)

#define NOTE(...)                                                                                 \
    do {                                                                                          \
        std::printf("  ok: ");                                                                    \
        std::printf(__VA_ARGS__);                                                                 \
        std::printf("\n");                                                                        \
    } while (0)

// A CUDA call that must succeed.
#define CHECK_CUDA(expr) CHECK_MSG((expr) == cudaSuccess, "%s", cudaGetErrorName(cudaGetLastError()))
