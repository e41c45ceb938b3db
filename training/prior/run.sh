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
# First order, 256 inner and 512 outer points: 4.3x cheaper per iteration than second order at 512/1024, and
# a better validation after 600 iterations (docs/BENCHMARKS.md, "Meta-training cost"). The task bank is
# made once into out/ (about 0.4 s per task) and reused every epoch; missing shards are remade first.
# Rates: 1e-4 / 1e-5 (outer / step sizes) up to iteration 18,968, where validation had been flat since ~6k;
# from there a third of that (a resumed run takes the rates given here, not the checkpoint's).
exec nice -n 10 .venv/bin/python scripts/train_init_prior.py --data "$DATA" --out "$OUT" $RESUME \
    --algorithm metasdf --first-order --inner-points 256 --outer-points 512 --iterations 100000 \
    --procedural-fraction 0.5 --bank out/prior_bank --bank-size 800 --validate-every 250 \
    --checkpoint-every 50 --log-every 50 --threads 1 \
    --outer-lr 3e-5 --inner-lr-lr 3e-6 "$@"
