#!/usr/bin/env bash
# The GPU checks of the M1 runtime, as one script for a lent GPU machine (issue 10):
#   1. the CUDA tests (cache semantics on every geometry, the official reference vectors,
#      the CUDA-graph decoder), 2. the quick GPU bench (bench/runtime_gpu.py), 3. optionally
#      the torch.compile rows (GPU_CHECK_COMPILE=1).
# It runs from the source tree with the machine's own PyTorch (>= 2.11) and needs no network.
# Python packages that machine lacks (pydantic) travel as wheels in .whl/, fetched beforehand:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --platform manylinux2014_x86_64 -d .whl pydantic pydantic_core annotated-types typing-inspection
# Usage: bash bench/gpu_check.sh [OUTDIR]     (default: $OUT, else bench/results)
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${1:-${OUT:-bench/results}}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/m1e-site .whl/*.whl \
    && export PYTHONPATH=/tmp/m1e-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUTDIR/gpu.txt"
$PY -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)" \
  | tee -a "$OUTDIR/gpu.txt"
status=0
echo "== CUDA tests"
timeout "${GPU_CHECK_TEST_S:-300}" $PY -m pytest -q -p no:cacheprovider -m "cuda and not slow" tests/model \
  > "$OUTDIR/cuda_tests.log" 2>&1 || status=1
tail -n 30 "$OUTDIR/cuda_tests.log"
echo "== bf16 reference numerics on CUDA"
timeout 120 $PY bench/reference_numerics.py 2>&1 | grep -v -i warn | tee "$OUTDIR/reference_numerics.log"
echo "== GPU bench (quick)"
timeout "${GPU_CHECK_BENCH_S:-360}" $PY bench/runtime.py --device cuda --quick --out "$OUTDIR/runtime_gpu.json" \
  > "$OUTDIR/runtime_gpu.log" 2>&1 || status=1
grep -v "Warning\|warn(" "$OUTDIR/runtime_gpu.log" | tail -n 60
if [ "${GPU_CHECK_COMPILE:-0}" = 1 ]; then
  echo "== torch.compile rows"
  timeout "${GPU_CHECK_COMPILE_S:-300}" $PY bench/runtime.py --device cuda --quick --compile --only none \
    --out "$OUTDIR/runtime_gpu_compile.json" > "$OUTDIR/runtime_gpu_compile.log" 2>&1 || status=1
  tail -n 25 "$OUTDIR/runtime_gpu_compile.log"
fi
exit $status
