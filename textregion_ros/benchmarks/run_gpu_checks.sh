#!/usr/bin/env bash
# GPU session script (device tool): CUDA tests + engine benchmarks, results under $OUT.
# Expects pure-Python packages missing from the GPU image (sam2, open_clip, hydra, omegaconf,
# antlr4, iopath, ftfy, wcwidth, timm) copied from the venv into .gpu/site (carried).
set -uo pipefail
export PYTHONPATH="$PWD/.gpu/site:$PWD/textregion_ros" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
OUT="${OUT:-/tmp/gpu_out}"; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, open_clip, timm, sam2; print('torch', torch.__version__, 'open_clip', open_clip.__version__, 'timm', timm.__version__)" | tee -a "$OUT/gpu.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider textregion_ros/test/test_engine_cuda.py 2>&1 | tail -15 | tee "$OUT/cuda_tests.txt"
timeout 200 python3 textregion_ros/benchmarks/engine_stages.py --device cuda --size 640x480 --thresholds-off \
  --repeats 5 --region-sweep 8,16,32,64,128,256 --json "$OUT/engine_stages_gpu.json" 2>&1 \
  | grep -v "RANDOM weights" | tee "$OUT/engine_stages_gpu.txt"
timeout 120 python3 textregion_ros/benchmarks/amg_vs_stock.py --device cuda --size 640x480 --repeats 3 2>&1 \
  | grep -v "RANDOM weights\|FutureWarning\|warnings.warn" | tee "$OUT/amg_vs_stock_gpu.txt"
