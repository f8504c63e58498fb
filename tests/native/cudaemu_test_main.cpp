// cudaemu_test_main.cpp — runs the CUDA emulator tests named on the command line (all when none is
// named) and exits non-zero when any check failed; CTest registers one entry per test name.
#include "cudaemu_test.h"

#include <cstring>

namespace cudaemu_test {

std::vector<TestCase>& registry() {
    static std::vector<TestCase> tests;
    return tests;
}

int& failures() {
    static int count = 0;
    return count;
}

}  // namespace cudaemu_test

int main(int argc, char** argv) {
    using namespace cudaemu_test;
    int ran = 0;
    for (const TestCase& t : registry()) {
        bool selected = argc < 2;
        for (int i = 1; i < argc; ++i) selected = selected || std::strcmp(argv[i], t.name) == 0;
        if (!selected) continue;
        std::printf("[%s]\n", t.name);
        const int before = failures();
        t.fn();
        std::printf("[%s] %s\n", t.name, failures() == before ? "passed" : "FAILED");
        ++ran;
    }
    if (ran == 0) {
        std::printf("no test matches; tests:");
        for (const TestCase& t : registry()) std::printf(" %s", t.name);
        std::printf("\n");
        return 2;
    }
    std::printf("%d test(s), %d failed check(s)\n", ran, failures());
    return failures() == 0 ? 0 : 1;
}
