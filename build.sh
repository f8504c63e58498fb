#!/usr/bin/env bash
# build.sh — the one entry point: native build (CMake) -> .NET build -> test | demo | bench.
#   ./build.sh [build|test|demo|bench] [--config Debug|Release] [--no-cuda] [--device cpu|cudaemu|cuda] [--sanitize]
# build.ps1 mirrors this script for Windows (without --sanitize).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
verb="build"
config="Release"
cuda="AUTO"
device=""
sanitize=0

usage() {
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    build|test|demo|bench) verb="$1" ;;
    --config) config="${2:?--config needs Debug or Release}"; shift ;;
    --no-cuda) cuda="OFF" ;;
    --device) device="${2:?--device needs cpu, cudaemu or cuda}"; shift ;;
    --sanitize) sanitize=1 ;;
    -h|--help) usage 0 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
  shift
done
case "$config" in Debug|Release) ;; *) echo "build.sh: --config must be Debug or Release, not '$config'" >&2; exit 2 ;; esac
case "$device" in ""|cpu|cudaemu|cuda) ;; *) echo "build.sh: --device must be cpu, cudaemu or cuda, not '$device'" >&2; exit 2 ;; esac
# LP_CUDA=ON in the environment makes a missing nvcc an error (CI uses it).
[[ "${LP_CUDA:-}" == "ON" && "$cuda" != "OFF" ]] && cuda="ON"
# The demo runs on the cpu backend: it skips the (slow) nvcc build unless LP_CUDA=ON asks for it.
[[ "$verb" == "demo" && "$cuda" == "AUTO" ]] && cuda="OFF"
if [[ $sanitize -eq 1 && "$verb" != "test" ]]; then echo "build.sh: --sanitize goes with test" >&2; exit 2; fi

# ---- system packages (Debian/Ubuntu) ----------------------------------------------------------
ensure_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v c++ >/dev/null || missing+=(g++)
  command -v make >/dev/null || missing+=(make)
  [[ -e /usr/include/cblas.h || -e /usr/include/x86_64-linux-gnu/cblas.h || -e /usr/include/aarch64-linux-gnu/cblas.h || -e /usr/include/openblas/cblas.h ]] || missing+=(libopenblas-dev)
  # The CUDA backend: LP_CUDA=ON installs Debian's toolkit (in its non-free component). Its nvcc
  # (CUDA 11.8) accepts gcc up to 11 as host compiler, so with a newer default g++ it needs g++-11.
  local nvcc_wanted=0
  [[ "$cuda" == "ON" || ( "$cuda" == "AUTO" && -n "$(command -v nvcc)" ) ]] && nvcc_wanted=1
  if [[ $nvcc_wanted -eq 1 ]]; then
    command -v nvcc >/dev/null || missing+=(nvidia-cuda-toolkit)
    if ! command -v g++-11 >/dev/null && [[ "$(g++ -dumpversion 2>/dev/null || echo 12)" -gt 11 ]]; then missing+=(g++-11); fi
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "build.sh: installing ${missing[*]}"
      [[ " ${missing[*]} " == *" nvidia-cuda-toolkit "* ]] && enable_nonfree
      apt-get update -q >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "build.sh: missing system packages. Run:" >&2
      echo "  sudo apt-get install -y ${missing[*]}" >&2
      [[ " ${missing[*]} " == *" nvidia-cuda-toolkit "* ]] && echo "  (nvidia-cuda-toolkit is in Debian's non-free component: add 'contrib non-free' to the apt sources first)" >&2
      exit 1
    fi
  fi
  if ! command -v dotnet >/dev/null; then
    echo "build.sh: the .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download" >&2
    exit 1
  fi
}

# Debian's apt sources list only the main component by default; nvcc is in non-free.
enable_nonfree() {
  local f=/etc/apt/sources.list.d/debian.sources
  [[ -f $f ]] && sed -i -E 's/^Components: main$/Components: main contrib non-free/' "$f"
  [[ -f /etc/apt/sources.list ]] && sed -i -E 's/^(deb [^#]* main)$/\1 contrib non-free/' /etc/apt/sources.list
  return 0
}

# With LP_CUDA=ON the real CUDA library must exist and hold machine code (SASS) for every target
# architecture, plus sm_90 PTX that newer GPUs compile at load time.
check_cuda_library() {
  local lib="$1" elf ptx sm missing=()
  [[ -f "$lib" ]] || { echo "build.sh: LP_CUDA=ON but $lib was not built" >&2; exit 1; }
  command -v cuobjdump >/dev/null || { echo "build.sh: cuobjdump (CUDA toolkit) is needed to check $lib" >&2; exit 1; }
  elf=$(cuobjdump --list-elf "$lib") || { echo "build.sh: cuobjdump --list-elf $lib failed" >&2; exit 1; }
  ptx=$(cuobjdump --list-ptx "$lib") || { echo "build.sh: cuobjdump --list-ptx $lib failed" >&2; exit 1; }
  for sm in 80 86 89 90; do grep -q "\.sm_${sm}\.cubin" <<<"$elf" || missing+=("sm_$sm SASS"); done
  grep -q "\.sm_90\.ptx" <<<"$ptx" || missing+=("sm_90 PTX")
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "build.sh: $lib lacks ${missing[*]}" >&2
    exit 1
  fi
  echo "build.sh: $(basename "$lib"): SASS for sm_80 sm_86 sm_89 sm_90, PTX for sm_90"
}

# native_build DIR [cmake options...]: configures and builds one CMake tree.
native_build() {
  local dir="$1"
  shift
  mkdir -p "$here/build"
  cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE="$config" "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log" >&2; echo "build.sh: cmake configure failed" >&2; exit 1; }
  grep -E "^-- LoRAPrune" "$dir.configure.log" || true
  set +e
  cmake --build "$dir" -j"$(nproc)" 2>&1 | tee "$dir.build.log" | grep -E "error|warning:|Built target"
  local build_rc=${PIPESTATUS[0]}
  set -e
  [[ $build_rc -eq 0 ]] || { echo "build.sh: native build failed (log: $dir.build.log)" >&2; exit 1; }
  if grep -q "ptxas info" "$dir.build.log"; then
    grep -E "ptxas info|bytes stack frame|spill" "$dir.build.log" > "$here/artifacts/native/ptxas-report.txt" || true
    echo "build.sh: ptxas resource report -> artifacts/native/ptxas-report.txt"
    if grep -qE "[1-9][0-9]* bytes spill (stores|loads)" "$here/artifacts/native/ptxas-report.txt"; then
      grep -B2 -E "[1-9][0-9]* bytes spill (stores|loads)" "$here/artifacts/native/ptxas-report.txt" >&2
      echo "build.sh: a CUDA kernel spills registers to local memory (see above)" >&2
      exit 1
    fi
  fi
  if [[ "$cuda" == "ON" && $sanitize -eq 0 ]]; then
    check_cuda_library "$(sed -n 's/^LP_STAGE_DIR:PATH=//p' "$dir/CMakeCache.txt")/libloraprune_cuda.so"
  fi
}

dotnet_build() {
  dotnet build "$here/LoRAPrune.sln" -c "$config" -nologo -v quiet -clp:ErrorsOnly
}

cli() {
  dotnet "$here/managed/LoRAPrune.Cli/bin/$config/net10.0/loraprune.dll" "$@"
}

# The demo: the corpora (downloaded once, hashes checked), then LoRAPrune on the default model:
# 50% of the KV groups and MLP channels of the pruned layers, `lora` criterion, cpu backend, fine-tuned
# on the train splits only, then the before/after perplexity table on both test splits.
# Its output (build/demo) is replaced on every run.
demo() {
  local model="$here/models/lp-llama-14m" out="$here/build/demo"
  [[ -f "$model/config.json" ]] || { echo "build.sh: the default model $model is missing from the checkout" >&2; exit 1; }
  cli devices
  cli data fetch
  rm -rf "$out"
  cli prune --model "$model" --data sotu:train brown:train moby:train --device cpu \
    --ratio 0.5 --criterion lora --steps 100 --batch 8 --micro-batch 8 --seq 128 --lr 5e-4 \
    --save-every 0 --out "$out"
  echo "build.sh: demo done. Pruned model: build/demo/model; report: build/demo/report.md"
}

# Worst normalised error per op and backend variant, and the largest case (elements of all its
# tensors) each op ran on the CUDA emulator, from the conformance report.
conformance_table() {
  [[ -s "$1" ]] || return 0
  echo "== conformance: worst normalised error per op (limit per case in tests/LoRAPrune.Tests/Conformance/Tol.cs), largest cudaemu case"
  awk -F'\t' '{
      op = $2; sub(/\(.*/, "", op); be = $1; sub(/\/.*/, "", be)
      if ($2 ~ /\(act=bf16 /) op = op "[bf16]"
      if ($3 ~ /^size: elements=/) {
        n = substr($3, 16) + 0
        if (be == "cudaemu" && (!(op in size) || n > size[op])) { size[op] = n; largest[op] = $2 }
        next
      }
      e = -1
      if (match($3, /nerr=[-+0-9.E]+/)) e = substr($3, RSTART + 5, RLENGTH - 5) + 0
      else if ($3 ~ /exact=yes/) e = 0
      if (e < 0) next
      key = op SUBSEP be
      if (!(key in worst) || e > worst[key]) worst[key] = e
      ops[op] = 1; bes[be] = 1
    } END {
      n = 0; for (b in bes) cols[++n] = b
      printf "%-28s", "op"; for (i = 1; i <= n; i++) printf " %12s", cols[i]; printf "  %s\n", "largest cudaemu case"
      m = 0; for (o in ops) names[++m] = o
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (names[j] < names[i]) { t = names[i]; names[i] = names[j]; names[j] = t }
      for (i = 1; i <= m; i++) {
        printf "%-28s", names[i]
        for (j = 1; j <= n; j++) { k = names[i] SUBSEP cols[j]; if (k in worst) printf " %12.2e", worst[k]; else printf " %12s", "-" }
        printf "  %s\n", (names[i] in largest) ? largest[names[i]] : "-"
      }
    }' "$1"
}

# Prints "N passed, N failed, N skipped" from the native CTest log and the .NET TRX results.
summarize() {
  local passed=0 failed=0 skipped=0 f p x n t
  if [[ -f "$1" ]]; then
    p=$(grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed" "$1" || true)
    x=$(grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(Failed|\*\*\*)" "$1" || true)
    passed=$((passed + p)); failed=$((failed + x))
  fi
  for f in "$2"/*.trx; do
    [[ -f "$f" ]] || continue
    p=$(grep -o '<Counters [^>]*' "$f" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    x=$(grep -o '<Counters [^>]*' "$f" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    # Skipped tests are in total but not in executed (the notExecuted counter stays 0 for them).
    t=$(grep -o '<Counters [^>]*' "$f" | grep -o ' total="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    n=$(grep -o '<Counters [^>]*' "$f" | grep -o ' executed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    passed=$((passed + p)); failed=$((failed + x)); skipped=$((skipped + t - n))
  done
  echo "$passed passed, $failed failed, $skipped skipped"
}

# run_tests DIR: the native tests of the CMake tree DIR (with ctest_args), then the managed ones
# (with managed_args, and managed_env added to their environment).
ctest_args=()
managed_args=()
managed_env=()
run_tests() {
  local dir="$1" results="$here/build/test-results" rc=0
  rm -rf "$results"; mkdir -p "$results"
  echo "== native tests (CTest)"
  set +e
  (cd "$dir" && ctest --output-on-failure "${ctest_args[@]}" 2>&1) | tee "$results/ctest.log"
  [[ ${PIPESTATUS[0]} -eq 0 ]] || rc=1
  set -e
  echo "== managed tests (xunit)"
  [[ -n "$device" ]] && export LORAPRUNE_TEST_BACKENDS="$device"
  export LORAPRUNE_CONFORMANCE_REPORT="$results/conformance.tsv"
  export LORAPRUNE_KNOCKOUT_REPORT="$results/knockout.md"
  set +e
  env "${managed_env[@]}" dotnet test "$here/tests/LoRAPrune.Tests/LoRAPrune.Tests.csproj" -c "$config" --no-build -nologo \
    --logger "trx;LogFileName=managed.trx" --logger "console;verbosity=normal" --results-directory "$results" "${managed_args[@]}" \
    2>&1 | tee "$results/dotnet-test.log" | grep -vE "^\s+Passed |^\s*$"
  local drc=${PIPESTATUS[0]}
  set -e
  [[ $drc -eq 0 ]] || rc=1
  conformance_table "$results/conformance.tsv"
  if [[ -s "$results/knockout.md" ]]; then
    echo "== barrier knockout: each barrier site of native/src/cuda skipped in turn (tests/LoRAPrune.Tests/Conformance/BarrierKnockoutTests.cs)"
    cat "$results/knockout.md"
  fi
  summarize "$results/ctest.log" "$results"
  return $rc
}

# ---- llama.cpp for the GGUF export tests -----------------------------------------------------
# npm ci installs the pinned prebuilt CPU libllama into tests/llama-cpp (no install scripts, nothing built);
# without npm, or when the install fails, those tests are reported as skipped with the reason.
llama_cpp_for_tests() {
  local dir="$here/tests/llama-cpp"
  [[ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]] && return 0
  if ! command -v npm >/dev/null; then
    echo "build.sh: npm not found; the llama.cpp comparison tests will be skipped" >&2
    return 0
  fi
  echo "build.sh: installing llama.cpp for the GGUF tests (npm ci in tests/llama-cpp)"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
    || echo "build.sh: npm ci failed; the llama.cpp comparison tests will be skipped" >&2
}

# The native code built with AddressSanitizer and UBSan (LP_SANITIZE) and staged apart; the
# emulator's native tests (all but the timing test, which ASan slows past its limit) and the
# conformance suite on cpu and cudaemu run against it, the .NET host with libasan preloaded. The
# .NET runtime handles SIGSEGV itself (null references) and keeps memory until exit, so ASan leaves
# those signals to it and does not look for leaks in the managed run.
run_sanitized_tests() {
  local dir="$here/build/$config-sanitize" stage="$here/artifacts/sanitize" asan
  native_build "$dir" -DLP_CUDA=OFF -DLP_SANITIZE=ON -DLP_STAGE_DIR="$stage"
  asan=$(c++ -print-file-name=libasan.so)
  [[ -f "$asan" ]] || { echo "build.sh: libasan.so of the C++ compiler not found ($asan)" >&2; exit 1; }
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LORAPRUNE_NATIVE_DIR="$stage"
  device="${device:-cpu,cudaemu}"
  ctest_args=(-E '\.perf$')
  managed_args=(--filter "FullyQualifiedName~LoRAPrune.Tests.Conformance")
  managed_env=(LD_PRELOAD="$asan" LORAPRUNE_REQUIRE_BACKENDS="$device"
               ASAN_OPTIONS="detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:allow_user_segv_handler=1:use_sigaltstack=0")
  run_tests "$dir"
}

ensure_packages
mkdir -p "$here/artifacts/native"
[[ $sanitize -eq 1 ]] || native_build "$here/build/$config" -DLP_CUDA="$cuda"
dotnet_build
case "$verb" in
  build) echo "build.sh: built ($config). Try: ./build.sh demo" ;;
  test) if [[ $sanitize -eq 1 ]]; then run_sanitized_tests; else llama_cpp_for_tests; run_tests "$here/build/$config"; fi ;;
  demo) demo ;;
  bench) cli bench kernels ${device:+--backend "$device"} ;;
esac
