#!/usr/bin/env bash
# The GPU benchmark (docs/gpu.md): is the WebGPU path worth it for linear and ties (and della)?
#
#   bench/gpu.sh [--layers N] [--vocab V] [--work DIR] [--medium N] [--della]
#
# 1. build the wasm kernels (when npm and assemblyscript are there; else build/*.wasm must exist)
# 2. runtimes/deno/gpu-check.ts: every WGSL kernel against the WASM one on this machine's adapter
# 3. runtimes/deno/gpu-bench.ts kernels: one 5632 x 2048 tensor, WASM (1 thread) vs GPU, split,
#    for linear, ties, breadcrumbs_ties, dare_ties, slerp and della
# 4. TinyLlama-shaped bf16 models (--layers, default 22 = TinyLlama-1.1B) in --work
# 5. `amalgam merge` under Deno for linear and ties, --device cpu (all cores) and --device gpu,
#    checking that both write the same bytes (--della: della too, a few minutes more); a markdown
#    table at the end
#
# Deno: $DENO, else node_modules/.bin/deno, else .devcarry/deno.xz (unpacked to /tmp; for a bare
# machine that has no node_modules). Finishes in a few minutes on a 16-core machine with a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."

LAYERS=22
VOCAB=32000
WORK=${TMPDIR:-/tmp}/amalgam-gpu-bench
MEDIUM=$((1 << 22))
RUNS="linear:cpu linear:gpu ties:gpu ties:cpu"
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) LAYERS=$2; shift 2 ;;
    --vocab) VOCAB=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --medium) MEDIUM=$2; shift 2 ;;
    --della) RUNS="$RUNS della:gpu della:cpu"; shift ;;
    *) echo "usage: bench/gpu.sh [--layers N] [--vocab V] [--work DIR] [--medium N] [--della]" >&2; exit 2 ;;
  esac
done

if [ -z "${DENO:-}" ]; then
  if [ -x node_modules/.bin/deno ]; then DENO=node_modules/.bin/deno
  elif [ -f .devcarry/deno.xz ]; then
    DENO=/tmp/amalgam-deno
    [ -x "$DENO" ] || { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" .devcarry/deno.xz "$DENO" && chmod +x "$DENO"; } || exit 1
  else echo "no deno: set DENO, or run npm ci" >&2; exit 1; fi
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
export NO_COLOR=1

echo "== build"
if command -v npm >/dev/null 2>&1 && [ -d node_modules/assemblyscript ]; then npm run -s build:wasm || exit 1; fi
[ -f build/amalgam.wasm ] && [ -f build/amalgam-mt.wasm ] || { echo "build/amalgam*.wasm missing: npm run build:wasm" >&2; exit 1; }

echo "== machine"
echo "cpus: $(nproc), deno: $("$DENO" --version | head -1)"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

echo "== gpu-check (WGSL vs WASM, bit for bit)"
timeout 300 "$DENO" run -A runtimes/deno/gpu-check.ts --medium "$MEDIUM" > "$WORK.check.log" 2>&1
check=$?
grep -v '^ok' "$WORK.check.log" | tail -n 30
echo "gpu-check exit code: $check"

echo "== kernels: one tensor, WASM 1 thread vs GPU"
timeout 300 "$DENO" run -A runtimes/deno/gpu-bench.ts kernels --repeat 3 2>&1 | tee "$WORK.kernels.md"

echo "== models ($LAYERS layers, vocabulary $VOCAB)"
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
"$DENO" run -A runtimes/deno/gpu-bench.ts models "$WORK" --layers "$LAYERS" --vocab "$VOCAB" || exit 1

rows=()
# The GPU runs first for ties and della (the slower CPU runs last).
for run in $RUNS; do
  method=${run%:*}
  device=${run#*:}
  out="$WORK/out-$method-$device"
  t0=$(date +%s%N)
  log=$(timeout "${MERGE_TIMEOUT:-300}" "$DENO" run -A runtimes/deno/cli.ts merge "$WORK/$method.yml" "$out" --device "$device" --no-copy-tokenizer -v 2>&1)
  rc=$?
  t1=$(date +%s%N)
  echo "$log" | grep -E 'merged|gpu:|error|warning' | head -5
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  merge_s=$(echo "$log" | sed -n 's/.* in \([0-9.]*\) s$/\1/p' | tail -1)
  gpu=$(echo "$log" | sed -n 's/^gpu: \(.*\): \([0-9]*\) tensor.*, \([0-9]*\) redone.*/\2 on GPU, \3 redone/p')
  rows+=("| $method | $device | ${merge_s:-fail} | $wall | ${gpu:--} | rc $rc |")
  echo "${rows[-1]}"
  if [ -f "$WORK/out-$method-cpu/model.safetensors" ] && [ -f "$WORK/out-$method-gpu/model.safetensors" ]; then
    if cmp -s "$WORK/out-$method-cpu/model.safetensors" "$WORK/out-$method-gpu/model.safetensors"; then same="identical"; else same="DIFFERENT"; fi
    rows+=("| $method | cpu vs gpu output | $same | | | |")
    rm -rf "$WORK/out-$method-cpu" "$WORK/out-$method-gpu"
  fi
done

echo "== results"
echo "| method | device | merge s (CLI) | wall s (incl. Deno start) | tensors | status |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
cat "$WORK.kernels.md" | grep '^|'
echo "gpu-check: $(tail -n 1 "$WORK.check.log" | cut -c1-400)"
