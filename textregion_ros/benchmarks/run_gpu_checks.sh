#!/usr/bin/env bash
# One GPU session (device tool), under 9 minutes on an H100/H200: on a GPU the steps' limits add up to 540 s, so the
# whole script fits one device call (at most 600 s); the CPU dry run has longer limits (a loaded 2-core guest).
# every record lands in $OUT:
#   environment.json     device_name, driver, torch, CUDA, cuDNN, python, date, the arguments
#   cuda_dry_run.*       first: tooling/cuda_dry_run.py's checks for real (--real --matrix): CLIP, SigLIP2 and PE at
#                        the defaults' shapes and the small_gpu preset, a steady-state frame under
#                        set_sync_debug_mode("error"), so the GPU confirms what the fake-tensor dry run (CI) predicts;
#                        on the CPU (--device cpu) the fake-tensor dry run itself (--quick: PE at cpu_smoke's shapes)
#   cuda_tests.txt       the CUDA-only tests (test_engine_cuda.py, and the `cuda` tests of test_compilation,
#                        test_hot_path_syncs, test_precision and test_sam2_decoder)
#   precision_table.*    benchmarks.precision_table: per backbone, fp16 / bf16 against fp32, and `auto`'s pick
#   engine_stages.*      every stage at the defaults (CLIP ViT-B-16, SAM2.1-T at 1024, 16 x 16 points,
#                        640 x 480), eager vs compiled per stage with p50 / p95 (--compile), peak memory,
#                        R = 32 / 64 injected regions (--injected-regions when the script has it) and the
#                        region sweep
#   region_prompts.*     region_prompts grid vs a tracks keyframe vs tracks non-keyframes (prompts, decoder, SAM2,
#                        frame ms and ratios) at the defaults and the small_gpu preset
#   host_stages.*        a frame's host-side stages (benchmarks.host_stages), before / after the overlapped loop
#   amg_vs_stock.*       our mask generator against SAM2's stock automatic mask generator, same image and grid
#   steps.tsv            each step's exit status and seconds; every .json above also carries environment.json
#
#   bash textregion_ros/benchmarks/run_gpu_checks.sh                      # on the GPU
#   bash textregion_ros/benchmarks/run_gpu_checks.sh --device cpu --quick # dry run: tiny configs, reaches the end
#
# Expects pure-Python packages missing from the GPU image (sam2, open_clip, hydra, omegaconf, antlr4,
# iopath, ftfy, wcwidth, timm) copied from the venv into .gpu/site (carried); harmless when absent.
# --quick on the CPU leaves out the compiled comparison (minutes of compiling on a CPU) unless
# GPU_CHECKS_COMPILE=1. Exit status: 0 when every step passed, 1 otherwise (the end is always reached).
set -uo pipefail
DEVICE=cuda
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "run_gpu_checks.sh: unknown argument $1 (use --device cuda|cpu, --quick)" >&2; exit 2 ;;
  esac
done
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO" || exit 2
export PYTHONPATH="$REPO/.gpu/site:$REPO/textregion_ros${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
PY="${PYTHON:-python3}"
BENCH=benchmarks  # the package (textregion_ros/ is on PYTHONPATH): python -m benchmarks.<name>
TESTS=textregion_ros/test
OUT="${OUT:-/tmp/gpu_out}"
mkdir -p "$OUT"
: > "$OUT/steps.tsv"
FAILED=0

# -- environment: one record every other record refers to ------------------------------------------------
"$PY" - "$OUT/environment.json" "$DEVICE" "$QUICK" <<'EOF'
import datetime, json, platform, subprocess, sys
import torch
path, device, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
driver = None
try:
    driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True, timeout=20).stdout.strip() or None
except (OSError, subprocess.SubprocessError):
    pass
if device.startswith("cuda") and torch.cuda.is_available():
    name = torch.cuda.get_device_name(0)
else:
    name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                platform.machine())
record = {"device": device, "device_name": name, "driver": driver, "torch": torch.__version__,
          "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
          "python": platform.python_version(), "quick": quick,
          "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
json.dump(record, open(path, "w"), indent=2)
print(" ".join(f"{k}={v}" for k, v in record.items()))
EOF
HEADER="# $(tr -d '\n' < "$OUT/environment.json" | tr -s ' ')"

# step NAME TIMEOUT_S COMMAND...: run it, its output (environment line first) to $OUT/NAME.txt and the
# terminal, its exit status and seconds to steps.tsv. pytest's 5 (nothing selected) counts as passed.
step() {
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS rc
  echo "== $name (limit ${limit} s)"
  timeout "$limit" "$@" > "$OUT/.$name.log" 2>&1
  rc=$?
  [ "$rc" -eq 124 ] && echo "$name: stopped after its limit of $limit s" >> "$OUT/.$name.log"
  { echo "$HEADER"; grep -v "RANDOM weights\|FutureWarning\|warnings.warn" "$OUT/.$name.log"; } > "$OUT/$name.txt"
  rm -f "$OUT/.$name.log"
  cat "$OUT/$name.txt"
  [ "$rc" -eq 5 ] && [ "$1" = "$PY" ] && [ "${2:-}" = "-m" ] && [ "${3:-}" = pytest ] && rc=0
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" >> "$OUT/steps.tsv"
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}
has_flag() { "$PY" -m "$1" --help 2>/dev/null | grep -q -- "$2"; }

# -- 0. the CUDA dry run's checks, for real on the GPU (the fake-tensor dry run on the CPU) ------------------
if [ "$DEVICE" = cpu ]; then
  dry_args=(--backbone pe)
  [ "$QUICK" = 1 ] && dry_args+=(--preset cpu_smoke) || dry_args=(--matrix)
else
  dry_args=(--real --matrix)
fi
dry_limit=70 tests_limit=50 stages_limit=180 amg_limit=40  # on a GPU
[ "$DEVICE" = cpu ] && dry_limit=120 tests_limit=120 stages_limit=210 amg_limit=80
step cuda_dry_run "$dry_limit" "$PY" -m textregion_ros.tooling.cuda_dry_run "${dry_args[@]}" --json "$OUT/cuda_dry_run.json"

# -- 1. CUDA tests (skipped, quickly, on the CPU; 18 s on an H100 before the precision and decoder files) ------
step cuda_tests "$tests_limit" "$PY" -m pytest -q -p no:cacheprovider -rs -k cuda "$TESTS/test_engine_cuda.py" \
  "$TESTS/test_compilation.py" $(ls "$TESTS"/test_hot_path_syncs.py "$TESTS"/test_precision.py \
  "$TESTS"/test_sam2_decoder.py 2>/dev/null)

# -- 2. precision table: every backbone, fp16 / bf16 against fp32 (what `auto` would pick on this GPU) ------
args=(--device "$DEVICE" --json "$OUT/precision_table.json")
[ "$QUICK" = 1 ] && args+=(--quick)
limit=50  # on a GPU; the CPU dry run (PE only, bf16 only) takes 35-50 s on a loaded 2-core guest, so more there
[ "$DEVICE" = cpu ] && limit=150
step precision_table "$limit" "$PY" -m "$BENCH.precision_table" "${args[@]}"

# -- 3. engine stages: eager vs compiled, injected regions, p50/p95, peak memory --------------------------
if [ "$QUICK" = 1 ]; then
  stage_args=(--backbone pe --model PE-Core-T-16-384 --sam2-image-size 256 --points-per-side 2 --size 96x64
              --scale 448,336 --repeats 1 --region-sweep 4,8 --sweep-repeats 1 --queries "mug, table")
  injected=8
else
  stage_args=(--size 640x480 --repeats 20 --region-sweep 8,16,32,64,128,256)
  injected=32,64
fi
stage_args+=(--device "$DEVICE" --thresholds-off --json "$OUT/engine_stages.json")
if [ "$QUICK" = 0 ] || [ "$DEVICE" != cpu ] || [ "${GPU_CHECKS_COMPILE:-0}" = 1 ]; then
  stage_args+=(--compile)
else
  echo "== engine_stages: --compile left out of a CPU --quick run (GPU_CHECKS_COMPILE=1 adds it)"
fi
step engine_stages "$stages_limit" "$PY" -m "$BENCH.engine_stages" "${stage_args[@]}"

# -- 3b. R injected regions (hot2's --injected-regions), its own step so a failure there costs only it ------
if has_flag "$BENCH.engine_stages" "--injected-regions"; then
  injected_args=()
  skip_next=0
  for arg in "${stage_args[@]}"; do  # the same settings, eager, no region sweep (step 3 has it), its own JSON
    if [ "$skip_next" = 1 ]; then skip_next=0; continue; fi
    case "$arg" in
      --compile) ;;
      --region-sweep|--sweep-repeats) skip_next=1 ;;
      "$OUT/engine_stages.json") injected_args+=("$OUT/injected_regions.json") ;;
      *) injected_args+=("$arg") ;;
    esac
  done
  injected_repeats=3 injected_limit=40
  # the CPU dry run: one frame per R and side (before and after); a loaded 2-core CPU needs the time
  [ "$QUICK" = 1 ] && injected_repeats=1 injected_limit=150
  step injected_regions "$injected_limit" "$PY" -m "$BENCH.engine_stages" "${injected_args[@]}" \
    --repeats "$injected_repeats" \
    --injected-regions "$injected"
else
  { echo "$HEADER"
    echo "== injected_regions: benchmarks.engine_stages has no --injected-regions yet: the region sweep stands in"; } \
    | tee "$OUT/injected_regions.txt"
fi

# -- 3c. region_prompts: grid vs a tracks keyframe vs tracks non-keyframes (benchmarks.region_prompts) -----
rp_args=(--device "$DEVICE" --json "$OUT/region_prompts.json")
rp_limit=70  # the GPU: two configs, 7 frame kinds, 3 rounds + 5 SAM2 rounds, eager
[ "$DEVICE" = cpu ] && rp_limit=300  # the CPU dry run: 6 tiny frames, minutes on a loaded 2-core guest
if [ "$QUICK" = 1 ]; then rp_args+=(--quick); else rp_args+=(--repeats 3 --sam2-rounds 5); fi
step region_prompts "$rp_limit" "$PY" -m "$BENCH.region_prompts" "${rp_args[@]}"

# -- 3d. a frame's host-side stages (image models out), before / after the overlapped loop, and the overlay's
#        tensor renderer against the numpy one on the same label map ----------------------------------------
host_args=(--device "$DEVICE" --json "$OUT/host_stages.json")
host_limit=40  # on a GPU: 6 cases, 3 repeats (the models load in seconds there)
if [ "$QUICK" = 1 ]; then
  host_args+=(--sizes 96x64 --regions 4 --repeats 1)
  host_limit=180  # loading the models dominates on a CPU (90 s on a loaded 2-core guest)
else
  host_args+=(--repeats 3)
fi
step host_stages "$host_limit" "$PY" -m "$BENCH.host_stages" "${host_args[@]}"

# -- 4. our mask generator vs SAM2's stock automatic mask generator ---------------------------------------
if [ "$QUICK" = 1 ]; then
  amg_args=(--size 96x64 --points-per-side 2 --sam2-image-size 256 --repeats 1)
else
  amg_args=(--size 640x480 --points-per-side 16 --repeats 5)
fi
step amg_vs_stock "$amg_limit" "$PY" -m "$BENCH.amg_vs_stock" --device "$DEVICE" "${amg_args[@]}" \
  --json "$OUT/amg_vs_stock.json"

# -- every JSON record carries the environment --------------------------------------------------------------
"$PY" - "$OUT" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
environment = json.loads((out / "environment.json").read_text())
for path in sorted(out.glob("*.json")):
    if path.name == "environment.json":
        continue
    try:
        record = json.loads(path.read_text())
    except ValueError:
        continue
    if isinstance(record, dict):
        record["environment"] = environment
        path.write_text(json.dumps(record, indent=2, default=str))
EOF
echo "== steps (name, exit status, seconds)"
cat "$OUT/steps.tsv"
echo "run_gpu_checks: reached the end, $FAILED failed step(s); records in $OUT"
[ "$FAILED" -eq 0 ]
