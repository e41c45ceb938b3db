#!/usr/bin/env bash
# The long training of the next default prior: start it, or resume it from its committed state.
# Run from the repository root with the development data beside it (../shared/data); one core, low priority.
# Stop it at any time with SIGTERM (kill): it writes its checkpoint first, and the next run resumes exactly.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/meshes}
OUT=training/prior/next.safetensors
RESUME=$([ -f "$OUT.ckpt" ] && echo --resume || true)
export OMP_WAIT_POLICY=PASSIVE
exec nice -n 10 .venv/bin/python scripts/train_prior.py --data "$DATA" --out "$OUT" $RESUME \
    --algorithm metasdf --iterations 30000 --procedural-fraction 0.5 --validate-every 200 \
    --checkpoint-every 50 --log-every 50 --threads 1 "$@"
