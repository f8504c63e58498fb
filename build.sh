#!/usr/bin/env bash
# build.sh — the one entry point: native build (CMake) -> .NET build -> test | demo | bench.
#   ./build.sh [build|test|demo|bench] [--config Debug|Release] [--no-cuda] [--device cpu|cudaemu|cuda]
# build.ps1 mirrors this script line for line for Windows.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
verb="build"
config="Release"
cuda="AUTO"
device=""

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
    -h|--help) usage 0 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
  shift
done
case "$config" in Debug|Release) ;; *) echo "build.sh: --config must be Debug or Release, not '$config'" >&2; exit 2 ;; esac
case "$device" in ""|cpu|cudaemu|cuda) ;; *) echo "build.sh: --device must be cpu, cudaemu or cuda, not '$device'" >&2; exit 2 ;; esac
# LP_CUDA=ON in the environment makes a missing nvcc an error (CI uses it).
[[ "${LP_CUDA:-}" == "ON" && "$cuda" != "OFF" ]] && cuda="ON"

# ---- system packages (Debian/Ubuntu) ----------------------------------------------------------
ensure_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v c++ >/dev/null || missing+=(g++)
  command -v make >/dev/null || missing+=(make)
  [[ -e /usr/include/cblas.h || -e /usr/include/x86_64-linux-gnu/cblas.h || -e /usr/include/aarch64-linux-gnu/cblas.h || -e /usr/include/openblas/cblas.h ]] || missing+=(libopenblas-dev)
  if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "build.sh: installing ${missing[*]}"
      apt-get update -q >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "build.sh: missing system packages. Run:" >&2
      echo "  sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  if ! command -v dotnet >/dev/null; then
    echo "build.sh: the .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download" >&2
    exit 1
  fi
}

native_build() {
  local dir="$here/build/$config"
  mkdir -p "$here/build"
  cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE="$config" -DLP_CUDA="$cuda" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log" >&2; echo "build.sh: cmake configure failed" >&2; exit 1; }
  grep -E "^-- LoRAPrune" "$dir.configure.log" || true
  cmake --build "$dir" -j"$(nproc)" 2>&1 | tee "$dir.build.log" | grep -E "error|warning:|Built target" || true
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "build.sh: native build failed (log: $dir.build.log)" >&2; exit 1; }
  if grep -q "ptxas info" "$dir.build.log"; then
    grep -E "ptxas info|bytes stack frame|spill" "$dir.build.log" > "$here/artifacts/native/ptxas-report.txt" || true
    echo "build.sh: ptxas resource report -> artifacts/native/ptxas-report.txt"
    if grep -qE "[1-9][0-9]* bytes spill (stores|loads)" "$here/artifacts/native/ptxas-report.txt"; then
      grep -B2 -E "[1-9][0-9]* bytes spill (stores|loads)" "$here/artifacts/native/ptxas-report.txt" >&2
      echo "build.sh: a CUDA kernel spills registers to local memory (see above)" >&2
      exit 1
    fi
  fi
}

dotnet_build() {
  dotnet build "$here/LoRAPrune.sln" -c "$config" -nologo -v quiet -clp:ErrorsOnly
}

cli() {
  dotnet "$here/managed/LoRAPrune.Cli/bin/$config/net10.0/loraprune.dll" "$@"
}

# Worst normalised error per op and backend variant, from the conformance report.
conformance_table() {
  [[ -s "$1" ]] || return 0
  echo "== conformance: worst normalised error per op (limit per case in tests/LoRAPrune.Tests/Conformance/Tol.cs)"
  awk -F'\t' '{
      op = $2; sub(/\(.*/, "", op); be = $1; sub(/\/.*/, "", be)
      e = -1
      if (match($3, /nerr=[-+0-9.E]+/)) e = substr($3, RSTART + 5, RLENGTH - 5) + 0
      else if ($3 ~ /exact=yes/) e = 0
      if (e < 0) next
      key = op SUBSEP be
      if (!(key in worst) || e > worst[key]) worst[key] = e
      ops[op] = 1; bes[be] = 1
    } END {
      n = 0; for (b in bes) cols[++n] = b
      printf "%-28s", "op"; for (i = 1; i <= n; i++) printf " %12s", cols[i]; printf "\n"
      m = 0; for (o in ops) names[++m] = o
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (names[j] < names[i]) { t = names[i]; names[i] = names[j]; names[j] = t }
      for (i = 1; i <= m; i++) {
        printf "%-28s", names[i]
        for (j = 1; j <= n; j++) { k = names[i] SUBSEP cols[j]; if (k in worst) printf " %12.2e", worst[k]; else printf " %12s", "-" }
        printf "\n"
      }
    }' "$1"
}

# Prints "N passed, N failed, N skipped" from the native CTest log and the .NET TRX results.
summarize() {
  local passed=0 failed=0 skipped=0 f p x n
  if [[ -f "$1" ]]; then
    p=$(grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed" "$1" || true)
    x=$(grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(Failed|\*\*\*)" "$1" || true)
    passed=$((passed + p)); failed=$((failed + x))
  fi
  for f in "$2"/*.trx; do
    [[ -f "$f" ]] || continue
    p=$(grep -o '<Counters [^>]*' "$f" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    x=$(grep -o '<Counters [^>]*' "$f" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    n=$(grep -o '<Counters [^>]*' "$f" | grep -o ' notExecuted="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    passed=$((passed + p)); failed=$((failed + x)); skipped=$((skipped + n))
  done
  echo "$passed passed, $failed failed, $skipped skipped"
}

run_tests() {
  local dir="$here/build/$config" results="$here/build/test-results" rc=0
  rm -rf "$results"; mkdir -p "$results"
  echo "== native tests (CTest)"
  set +e
  (cd "$dir" && ctest --output-on-failure 2>&1) | tee "$results/ctest.log"
  [[ ${PIPESTATUS[0]} -eq 0 ]] || rc=1
  set -e
  echo "== managed tests (xunit)"
  [[ -n "$device" ]] && export LORAPRUNE_TEST_BACKENDS="$device"
  export LORAPRUNE_CONFORMANCE_REPORT="$results/conformance.tsv"
  set +e
  dotnet test "$here/tests/LoRAPrune.Tests/LoRAPrune.Tests.csproj" -c "$config" --no-build -nologo \
    --logger "trx;LogFileName=managed.trx" --logger "console;verbosity=normal" --results-directory "$results" \
    2>&1 | tee "$results/dotnet-test.log" | grep -vE "^\s+Passed |^\s*$"
  local drc=${PIPESTATUS[0]}
  set -e
  [[ $drc -eq 0 ]] || rc=1
  conformance_table "$results/conformance.tsv"
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

ensure_packages
mkdir -p "$here/artifacts/native"
native_build
dotnet_build
case "$verb" in
  build) echo "build.sh: built ($config). Try: ./build.sh demo" ;;
  test) llama_cpp_for_tests; run_tests ;;
  demo) cli devices ;;
  bench) cli bench kernels ${device:+--backend "$device"} ;;
esac
