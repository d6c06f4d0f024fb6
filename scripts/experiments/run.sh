#!/usr/bin/env bash
# The experiments of README "Experiments": one grid of `aha run`s each.
#
#   scripts/experiments/run.sh NAME [NAME ...]     (or: all)
#
# NAME: echo-chamber, structure-vs-content, scale, length, dynamic-sampling,
# pass-at-k. Each grid is scripts/experiments/NAME.cells, one cell a line:
# its name, then the `aha run` options that make it differ from the demo's
# setting (cpu-tiny, 3-digit sums, README "The demo"), then optionally
# "# why: ...", shown in summary.md while the cell is not run. Each cell's run goes to
# runs/experiments/NAME/CELL/ (checkpoints and all) and its logs and evals to
# results/experiments/NAME/CELL/; a cell whose results hold a summary.json is
# done and skipped, so a grid cut short resumes where it stopped. Then
# scripts/experiments/report.sh writes results/experiments/NAME/summary.md and
# its figure (needs the notebook packages of requirements.txt).
#
# Environment: AHA (the binary, default build/aha), DEVICE (cuda or cpu,
# default cuda: each grid is sized for about 20 minutes of one H100), JOBS
# (cells at once, default 8 on cuda, 1 on cpu), CELL_TIMEOUT (seconds, default
# 1500), REPORT (0 to skip the report).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
die() { echo "experiments: error: $*" >&2; exit 1; }
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0;; esac
all=(echo-chamber structure-vs-content scale length dynamic-sampling pass-at-k)
names=("$@")
[ "$1" = all ] && names=("${all[@]}")
for name in "${names[@]}"; do
  [ -f "scripts/experiments/$name.cells" ] || die "no experiment '$name' (choices: ${all[*]}, all)"
done
AHA=${AHA:-build/aha}
DEVICE=${DEVICE:-cuda}
[ "$DEVICE" = cuda ] || [ "$DEVICE" = cpu ] || die "DEVICE must be cuda or cpu, not '$DEVICE'"
JOBS=${JOBS:-$([ "$DEVICE" = cuda ] && echo 8 || echo 1)}
CELL_TIMEOUT=${CELL_TIMEOUT:-1500}
[ -x "$AHA" ] || die "$AHA is not built (run: make$([ "$DEVICE" = cuda ] && echo " CUDA=1"))"

# Every cell of every named experiment, "NAME CELL OPTIONS...", unfinished ones only.
pending=()
for name in "${names[@]}"; do
  while read -r cell options; do
    case "$cell" in ''|'#'*) continue;; esac
    options="${options%%#*}"  # a trailing "# why: ..." says why a cell was not run (summary.md)
    if [ -f "results/experiments/$name/$cell/summary.json" ]; then
      echo "experiments: $name/$cell done, skipped"
    else
      pending+=("$name $cell $options")
    fi
  done < "scripts/experiments/$name.cells"
done
echo "experiments: ${#pending[@]} cell(s) to run on $DEVICE, $JOBS at once"

# One cell: the run, then (pass-at-k) its pass@k evals, then the files kept.
run_cell() {
  local name=$1 cell=$2; shift 2
  local run="runs/experiments/$name/$cell" keep="results/experiments/$name/$cell"
  local start=$SECONDS
  mkdir -p "$run"
  if ! timeout "$CELL_TIMEOUT" "$AHA" run --device "$DEVICE" --out "$run" "$@" > "$run/run.log" 2>&1; then
    echo "experiments: $name/$cell FAILED or timed out after $((SECONDS - start)) s (log: $run/run.log)"
    return 0
  fi
  if [ "$name" = pass-at-k ]; then
    # The test split at the difficulties the run trained on (its summary.json
    # says which), as the run's own evals; the ood split is difficulty 5.
    local difficulties
    difficulties=$(python3 -c 'import json, sys; print(",".join(map(str, json.load(open(sys.argv[1]))["grpo_config"]["difficulties"])))' "$run/summary.json")
    for model in base rl; do
      for split in test ood; do
        local only=()
        [ "$split" = test ] && only=(--difficulties "$difficulties")
        timeout "$CELL_TIMEOUT" "$AHA" eval --ckpt "$run/$model.safetensors" --task add --split "$split" "${only[@]}" \
          -n 100 --k 1,2,4,8,16,32,64,128,256 --device "$DEVICE" --out "$run/passk_${model}_$split.json" \
          >> "$run/run.log" 2>&1 || { echo "experiments: $name/$cell pass@k eval FAILED"; return 0; }
      done
    done
  fi
  mkdir -p "$keep"
  cp "$run"/grpo.jsonl "$run"/eval_*.json "$keep"/
  cp "$run"/passk_*.json "$keep"/ 2>/dev/null || true
  cp "$run"/summary.json "$keep"/  # last: its presence marks the cell done
  echo "experiments: $name/$cell done in $((SECONDS - start)) s"
}
export -f run_cell
export AHA DEVICE CELL_TIMEOUT
if [ ${#pending[@]} -gt 0 ]; then
  printf '%s\n' "${pending[@]}" | xargs -P "$JOBS" -L 1 bash -c 'run_cell "$@"' _
fi

if [ "${REPORT:-1}" != 0 ]; then
  for name in "${names[@]}"; do scripts/experiments/report.sh "$name"; done
fi
