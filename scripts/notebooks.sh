#!/usr/bin/env bash
# Executes the notebooks headless on run directories and saves their figures.
#
#   scripts/notebooks.sh [RUN_DIR ...]
#
# RUN_DIR: directories written by `aha run` (each holds a grpo.jsonl); default:
# every directory under results/ that holds one. Environment:
#   AHA_FIGURES        where the notebooks write PNGs, before_after_table.md and
#                      trace_table.md (default notebooks/figures/)
#   AHA_NOTEBOOK_OUT   where the executed copies of the notebooks go, outputs
#                      included (default build/notebooks/); the committed .ipynb
#                      files are never overwritten
# Installs nothing: needs the packages of requirements.txt. Exits non-zero if a
# notebook raises.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
notebooks=(notebooks/aha_curves.ipynb notebooks/before_after.ipynb notebooks/aha_trace.ipynb)

die() { echo "notebooks.sh: error: $*" >&2; exit 1; }

if ! command -v jupyter >/dev/null 2>&1; then
  die "jupyter not found; install the notebook dependencies with: pip install -r requirements.txt"
fi
if ! missing="$(python3 - <<'EOF' 2>&1
import importlib.util, sys
needed = ["nbconvert", "nbclient", "ipykernel", "matplotlib", "pandas", "numpy"]
missing = [name for name in needed if importlib.util.find_spec(name) is None]
print(" ".join(missing))
sys.exit(1 if missing else 0)
EOF
)"; then
  die "missing Python module(s): $missing; install them with: pip install -r requirements.txt"
fi

runs=()
if [ $# -gt 0 ]; then
  runs=("$@")
else
  while IFS= read -r log; do runs+=("$(dirname "$log")"); done \
    < <(find results -name grpo.jsonl 2>/dev/null | sort)
  [ ${#runs[@]} -gt 0 ] || die "no run directories given and none found: looked for results/*/grpo.jsonl under $root"
fi
run_list=""
for run in "${runs[@]}"; do
  [ -d "$run" ] || die "run directory '$run' does not exist"
  [ -f "$run/grpo.jsonl" ] || die "run directory '$run' has no grpo.jsonl"
  run="$(cd "$run" && pwd)"
  case "$run" in *[[:space:]]*) die "run directory '$run' has a space in its path (AHA_RUNS is space-separated)";; esac
  run_list="${run_list:+$run_list }$run"
done

figures="${AHA_FIGURES:-notebooks/figures}"
out="${AHA_NOTEBOOK_OUT:-build/notebooks}"
mkdir -p "$figures" "$out"
figures="$(cd "$figures" && pwd)"
stamp="$(mktemp)"
trap 'rm -f "$stamp"' EXIT

echo "runs: $run_list"
failed=()
for notebook in "${notebooks[@]}"; do
  echo "executing $notebook ..."
  AHA_RUNS="$run_list" AHA_FIGURES="$figures" \
    jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 --output-dir "$out" "$notebook" \
    || failed+=("$notebook")
done

echo "executed notebooks (with outputs) in $out/"
echo "written to $figures/:"
find "$figures" -maxdepth 1 -type f \( -name '*.png' -o -name '*.md' \) -newer "$stamp" | sort | sed 's/^/  /'
if [ ${#failed[@]} -gt 0 ]; then
  die "notebook(s) raised: ${failed[*]} (see the traceback above)"
fi
