#!/usr/bin/env bash
# The headline aha runs (README "The aha run"): gpu-small countdown on one GPU,
# one `aha run` per seed, each run's logs, evals and summary copied into
# results/gpu-small-countdown-seed<N>/ (checkpoints stay in runs/).
#   scripts/countdown_runs.sh 1 2 3            (extra aha run flags: AHA_FLAGS)
set -euo pipefail
AHA=${AHA:-build/aha}
RESULTS=${RESULTS:-results}
if [ ! -x "$AHA" ]; then echo "countdown_runs: $AHA is not built (make CUDA=1)" >&2; exit 1; fi
if [ $# -eq 0 ]; then echo "usage: $0 SEED [SEED ...]" >&2; exit 2; fi
for seed in "$@"; do
  run=runs/gpu-small-countdown-seed$seed
  # shellcheck disable=SC2086
  "$AHA" run --preset gpu-small --task countdown --device cuda --seed "$seed" --out "$run" ${AHA_FLAGS:-}
  mkdir -p "$RESULTS/gpu-small-countdown-seed$seed"
  cp "$run"/*.json "$run"/*.jsonl "$RESULTS/gpu-small-countdown-seed$seed/"
done
