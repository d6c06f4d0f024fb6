#!/usr/bin/env bash
# results/experiments/NAME/summary.md and NAME.png from the cells run so far:
# notebooks/experiments.ipynb executed headless (copy with outputs in
# build/notebooks/experiments-NAME.ipynb). Cells not run are listed as such.
#
#   scripts/experiments/report.sh NAME
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
[ $# -eq 1 ] || { echo "usage: scripts/experiments/report.sh NAME" >&2; exit 2; }
[ -f "scripts/experiments/$1.cells" ] || { echo "report: no experiment '$1'" >&2; exit 1; }
command -v jupyter >/dev/null 2>&1 || { echo "report: jupyter not found; pip install -r requirements.txt" >&2; exit 1; }
mkdir -p build/notebooks "results/experiments/$1"
AHA_EXPERIMENT="$1" jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 \
  --output-dir build/notebooks --output "experiments-$1" notebooks/experiments.ipynb
echo "report: results/experiments/$1/summary.md"
