# build.ps1 — the one entry point on Windows: native build (CMake) -> .NET build -> test | demo | bench.
#   .\build.ps1 [build|test|demo|bench] [-Config Debug|Release] [-NoCuda] [-Device cpu|cudaemu|cuda]
# Mirrors build.sh step for step. Needs Visual Studio 2022 (C++ workload), CMake, the .NET 10 SDK,
# OpenBLAS (e.g. vcpkg install openblas, then -DCMAKE_TOOLCHAIN_FILE) and optionally the CUDA toolkit.
param(
  [ValidateSet("build", "test", "demo", "bench")][string]$Verb = "build",
  [ValidateSet("Debug", "Release")][string]$Config = "Release",
  [switch]$NoCuda,
  [ValidateSet("", "cpu", "cudaemu", "cuda")][string]$Device = "",
  [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest
)
$ErrorActionPreference = "Stop"
$here = $PSScriptRoot
$cuda = if ($NoCuda) { "OFF" } elseif ($env:LP_CUDA -eq "ON") { "ON" } else { "AUTO" }
# The demo runs on the cpu backend: it skips the (slow) nvcc build unless LP_CUDA=ON asks for it.
if ($Verb -eq "demo" -and $cuda -eq "AUTO") { $cuda = "OFF" }

function Ensure-Tools {
  foreach ($tool in @("cmake", "dotnet")) {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) {
      throw "build.ps1: '$tool' is required but was not found on PATH"
    }
  }
}

function Native-Build {
  $dir = Join-Path $here "build/$Config"
  cmake -S $here -B $dir -DLP_CUDA=$cuda
  if ($LASTEXITCODE -ne 0) { throw "build.ps1: cmake configure failed" }
  cmake --build $dir --config $Config --parallel
  if ($LASTEXITCODE -ne 0) { throw "build.ps1: native build failed" }
}

function Dotnet-Build {
  dotnet build (Join-Path $here "LoRAPrune.sln") -c $Config -nologo -v quiet -clp:ErrorsOnly
  if ($LASTEXITCODE -ne 0) { throw "build.ps1: dotnet build failed" }
}

function Cli {
  dotnet (Join-Path $here "managed/LoRAPrune.Cli/bin/$Config/net10.0/loraprune.dll") @args
  if ($LASTEXITCODE -ne 0) { throw "build.ps1: loraprune $($args[0]) failed (exit $LASTEXITCODE)" }
}

# The demo, as in build.sh: the corpora, then LoRAPrune at 0.5 with the lora criterion on the cpu
# backend on the default model, fine-tuned on the train splits only, then the before/after table.
function Run-Demo {
  $model = Join-Path $here "models/lp-llama-14m"
  $out = Join-Path $here "build/demo"
  if (-not (Test-Path (Join-Path $model "config.json"))) { throw "build.ps1: the default model $model is missing from the checkout" }
  Cli devices
  Cli data fetch
  Remove-Item -Recurse -Force $out -ErrorAction SilentlyContinue
  Cli prune --model $model --data sotu:train brown:train moby:train --device cpu `
    --ratio 0.5 --criterion lora --steps 100 --batch 8 --micro-batch 8 --seq 128 --lr 5e-4 `
    --save-every 0 --out $out
  Write-Output "build.ps1: demo done. Pruned model: build/demo/model; report: build/demo/report.md"
}

# Prints "N passed, N failed, N skipped" from the native CTest log and the .NET TRX results.
function Summarize($ctestLog, $resultsDir) {
  $passed = 0; $failed = 0; $skipped = 0
  if (Test-Path $ctestLog) {
    $lines = Get-Content $ctestLog
    $passed += @($lines | Where-Object { $_ -match "Test +#\d+: .* Passed" }).Count
    $failed += @($lines | Where-Object { $_ -match "Test +#\d+: .*(Failed|\*\*\*)" }).Count
  }
  foreach ($f in Get-ChildItem -Path $resultsDir -Filter *.trx -ErrorAction SilentlyContinue) {
    [xml]$trx = Get-Content $f.FullName
    $c = $trx.TestRun.ResultSummary.Counters
    $passed += [int]$c.passed; $failed += [int]$c.failed; $skipped += [int]$c.notExecuted
  }
  Write-Output "$passed passed, $failed failed, $skipped skipped"
}

function Run-Tests {
  $dir = Join-Path $here "build/$Config"
  $results = Join-Path $here "build/test-results"
  Remove-Item -Recurse -Force $results -ErrorAction SilentlyContinue
  New-Item -ItemType Directory -Force $results | Out-Null
  $rc = 0
  Write-Output "== native tests (CTest)"
  Push-Location $dir
  ctest -C $Config --output-on-failure 2>&1 | Tee-Object -FilePath (Join-Path $results "ctest.log")
  if ($LASTEXITCODE -ne 0) { $rc = 1 }
  Pop-Location
  Write-Output "== managed tests (xunit)"
  if ($Device) { $env:LORAPRUNE_TEST_BACKENDS = $Device }
  dotnet test (Join-Path $here "tests/LoRAPrune.Tests/LoRAPrune.Tests.csproj") -c $Config --no-build -nologo `
    --logger "trx;LogFileName=managed.trx" --logger "console;verbosity=normal" --results-directory $results
  if ($LASTEXITCODE -ne 0) { $rc = 1 }
  Summarize (Join-Path $results "ctest.log") $results
  exit $rc
}

Ensure-Tools
New-Item -ItemType Directory -Force (Join-Path $here "artifacts/native") | Out-Null
Native-Build
Dotnet-Build
switch ($Verb) {
  "build" { Write-Output "build.ps1: built ($Config). Try: .\build.ps1 demo" }
  "test" { Run-Tests }
  "demo" { Run-Demo }
  "bench" { if ($Device) { Cli bench kernels --backend $Device @Rest } else { Cli bench kernels @Rest } }
}
