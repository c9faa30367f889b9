#!/usr/bin/env bash
# The prepared GPU run (issue 21): for a machine with one NVIDIA GPU, its driver, CUDA 13, PyTorch, no network
# and no Deno. Unpacks Deno from bench/gpu/deno.xz (made by bench/gpu/pack.sh, carried with the project), prints
# nvidia-smi, locates cuBLAS, runs the cuda test files (parity of every device op and of tiny training steps with
# the CPU reference; the FFI signatures; the build), then our device-resident training step (bench:device
# --device cuda), and the PyTorch CUDA side (eager fp32 and bf16 autocast) of the bench:train shapes (tiny, medium,
# era5-multiformer). Everything goes to $OUT (default ./gpu-out); each stage has a timeout so the whole run
# stays under 10 minutes. A failed stage is recorded in $OUT/summary.txt and the run goes on.
# Usage (from the repository root): OUT=/some/dir bench/gpu/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
T0=$(date +%s)
summary() { echo "$(($(date +%s) - T0))s $*" | tee -a "$OUT/summary.txt"; }
BUDGET_S="${BUDGET_S:-560}" # the whole run stays under 10 minutes: a stage gets at most what is left of this
stage() { # stage NAME TIMEOUT_S COMMAND… : run with a timeout, output to $OUT/NAME.log
  local name="$1" limit="$2"; shift 2
  local left=$((BUDGET_S - ($(date +%s) - T0)))
  if [ "$left" -lt 20 ]; then summary "$name: skipped (the run's ${BUDGET_S}s budget is spent)"; return; fi
  [ "$limit" -gt "$left" ] && limit="$left"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  summary "$name: exit $rc$([ $rc = 124 ] && echo " (timed out after ${limit}s)")"
  tail -n 25 "$OUT/$name.log"
}

# 1. Deno, unpacked into a scratch folder; an empty DENO_DIR and --cached-only: nothing is fetched.
WORK="$(mktemp -d)"
if [ ! -f bench/gpu/deno.xz ]; then summary "bench/gpu/deno.xz missing: run bench/gpu/pack.sh and carry it"; exit 1; fi
xz -dc -T0 bench/gpu/deno.xz > "$WORK/deno" && chmod +x "$WORK/deno"
DENO="$WORK/deno"
# The npm packages (the forecast's maps import some): unpacked when carried and not already here.
if [ ! -d node_modules ] && [ -f bench/gpu/node_modules.tar.xz ]; then xz -dc -T0 bench/gpu/node_modules.tar.xz | tar -xf -; fi
export DENO_DIR="$WORK/deno-dir" DENO_NO_UPDATE_CHECK=1 XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
summary "$("$DENO" --version | head -1)"

# 2. The machine.
{ nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; } > "$OUT/nvidia-smi.txt" 2>&1
head -n 20 "$OUT/nvidia-smi.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" \
  > "$OUT/torch.txt" 2>&1; cat "$OUT/torch.txt"

# 3. cuBLAS: the nvidia-cublas wheel PyTorch brings, else the toolkit; the include folder for the FFI check.
CUBLAS_DIR="$("$PY" -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)"
[ -z "$CUBLAS_DIR" ] && CUBLAS_DIR="$(dirname "$(ls /usr/local/cuda*/lib64/libcublas.so.* 2>/dev/null | head -1)" 2>/dev/null)"
{ echo "cuBLAS folder: ${CUBLAS_DIR:-none found}"; ls -l "${CUBLAS_DIR:-/nonexistent}" 2>&1 | head; } > "$OUT/cublas.txt"
cat "$OUT/cublas.txt"
[ -n "$CUBLAS_DIR" ] && export ATMOREP_CUBLAS="$CUBLAS_DIR" ATMOREP_CUBLAS_INCLUDE="$(dirname "$CUBLAS_DIR")/include"
command -v nvcc > /dev/null || export ATMOREP_ALLOW_NO_NVCC=1 # the build test then says it skipped

# 4. The cuda tests: every device op and a 4-step training of the tiny Multiformer against the CPU reference on
#    the real GPU (the "(cuda)" cases of the shared device tests), FFI signatures, host math, build.
TEST=("$DENO" test --cached-only --allow-read --allow-write --allow-env --allow-run --allow-ffi)
stage cuda-device-test 240 "${TEST[@]}" --filter "(cuda)" tests/ops/device_test.ts tests/training/device_step_test.ts \
  tests/forecast/device_rollout_test.ts tests/forecast/device_run_test.ts tests/forecast/device_evaluate_test.ts
stage cuda-runtime-test 120 "${TEST[@]}" tests/ops/cuda_runtime_test.ts
stage cuda-ffi-test 60 "${TEST[@]}" tests/ops/cuda_ffi_test.ts
stage cuda-build-test 120 "${TEST[@]}" tests/ops/cuda_build_test.ts tests/ops/cuda_host_test.ts

# 5. Our device-resident training step on cuda (bench:device): tiny against our CPU step in the same process, and
#    era5-multiformer (all five fields) on the device alone.
DEVICE=("$DENO" run --cached-only --allow-read --allow-ffi --allow-env bench/ours/device.ts --device cuda)
stage ours-tiny 120 "${DEVICE[@]}" --config tiny --rounds 3 --steps 5
stage ours-era5-multiformer 240 "${DEVICE[@]}" --config era5-multiformer --skip-cpu --rounds 1 --steps 3

# 6. PyTorch CUDA, eager fp32 and bf16 autocast, same network and shapes as bench:train.
for spec in "tiny 20 90" "medium 20 90" "era5-multiformer 5 240"; do
  set -- $spec
  "$DENO" run --cached-only --allow-read bench/gpu/spec.ts "$1" "$2" > "$WORK/$1.json"
  stage "torch-$1" "$3" "$PY" bench/gpu/torch_cuda.py "$WORK/$1.json"
  grep '^{' "$OUT/torch-$1.log" >> "$OUT/torch.jsonl" 2>/dev/null
done

summary "done"
rm -rf "$WORK"
