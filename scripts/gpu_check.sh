#!/usr/bin/env bash
# The GPU check, one command that fits in 10 minutes on a CUDA machine:
#   1. the core and meta-learning tests with their fits on CUDA,
#   2. the engine benchmark on CUDA (figures beside the CPU ones in docs/BENCHMARKS.md),
#   3. the cost of a meta-iteration at meta-batch 2, 8 and 16, first and second order (the tasks of a
#      meta-batch run as one vectorised computation, which is what a GPU can gain from),
#   4. a timed meta-training burst (BURST seconds, default 150) that resumes the committed CPU training
#      state on the GPU at meta-batch BURST_META_BATCH (default 16: the tasks run as one computation) and
#      hands back the state it reached (as OUT/training/next.safetensors.ckpt, to commit if it is better);
#      the committed state has reached run.sh's 100,000 iterations, so the burst asks for more than it can
#      reach and ends on its timeout (SIGTERM: the checkpoint is written first).
# Usage: scripts/gpu_check.sh [OUT]   (OUT defaults to out/gpu_check; everything it writes goes there)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-out/gpu_check}}
mkdir -p "$OUT/docs" "$OUT/training"
# The Python: $PYTHON if set, else the project's .venv, else a python3 that already has torch (a CUDA machine's
# own), else a new .venv from requirements.txt.
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
elif python3 -c "import torch, trimesh, skimage, safetensors" 2>/dev/null; then PY=python3
else python3.11 -m venv .venv && .venv/bin/pip install -q -r requirements.txt; PY=.venv/bin/python; fi
BURST=${BURST:-150}
DATA=${DATA:-../shared/data}
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import sys, numpy, torch; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
} > "$OUT/environment.txt" 2>&1

echo "== 1. tests on CUDA"
NEUREP_TEST_DEVICE=cuda timeout 200 $PY -m pytest -q tests/core/test_fit.py tests/core/test_pipeline.py \
    tests/meta 2>&1 | tail -5 | tee "$OUT/tests.txt"

echo "== 2. engine benchmark on CUDA"
timeout 200 $PY scripts/bench_engine.py --device cuda --out "$OUT/docs" --data "$DATA" --repeats 20 \
    2>&1 | tee "$OUT/bench_engine.txt"

echo "== 3. meta-batch cost on CUDA"
timeout 120 $PY scripts/bench_meta.py --data "$DATA/meshes" --batch-cost 2,8,16 --device cuda --out "$OUT/docs" \
    --bank "$OUT/bench_bank" --pool 32 --repeats 5 2>&1 | tee "$OUT/bench_meta_batch.txt"

echo "== 4. meta-training burst on CUDA, resuming the committed CPU state"
cp training/prior/next.safetensors* "$OUT/training/" 2>/dev/null
RESUME=$([ -f "$OUT/training/next.safetensors.ckpt" ] && echo --resume || true)
# The same objective and rates as training/prior/run.sh, on a small task bank made here.
BURST_META_BATCH=${BURST_META_BATCH:-16}
timeout "$BURST" $PY scripts/train_init_prior.py --data "$DATA/meshes" --out "$OUT/training/next.safetensors" $RESUME \
    --device cuda --algorithm metasdf --first-order --inner-points 256 --outer-points 512 --iterations 10000000 \
    --meta-batch "$BURST_META_BATCH" \
    --procedural-fraction 0.5 --bank "$OUT/bank" --bank-size 64 --validate-every 250 --checkpoint-every 50 \
    --log-every 50 --outer-lr 3e-5 --inner-lr-lr 3e-6 2>&1 | tee "$OUT/train_burst.txt"
echo "done: $OUT"
