#!/usr/bin/env bash
# make demo: the main job. The whole aha pipeline at the cpu-tiny preset on the
# CPU (corpus -> pretrain -> eval base -> GRPO -> eval RL), then its before/after
# table. The run directory (logs, evals, checkpoints) is runs/demo/, the layout
# the notebooks read: `make notebooks RUNS=runs/demo`.
set -euo pipefail
AHA=${1:-build/aha}
OUT=${DEMO_OUT:-runs/demo}
if [ ! -x "$AHA" ]; then echo "demo: $AHA is not built (run make)" >&2; exit 1; fi
"$AHA" --help | head -3
exec "$AHA" run --preset cpu-tiny --device cpu --seed "${DEMO_SEED:-1}" --out "$OUT"
