#!/usr/bin/env bash
# Grade exercises: build only the test suite an exercise needs and run only the
# test cases that grade it (scripts/assignment/exercises.tsv), then say OK or
# NOT OK. `make check EX=...` calls this; README "For teachers" has the list.
usage() {
  cat <<'EOF'
usage: scripts/assignment/check.sh [NAME[,NAME...] | all]
       make check EX=NAME          (the same, through make)

  (no argument)   list the exercises
  NAME            build build/test_<suite>, run the exercise's grading test cases with
                  doctest's full output (which value, expected vs got), then OK / NOT OK
  all, or a,b,c   every exercise (or those named): one OK / NOT OK line each, the full
                  output of each in $BUILD/check/NAME.log; a summary line at the end

Exit status: 0 when every exercise checked is OK, 1 when one is NOT OK, 2 on a usage
error (an unknown name is one: the message lists the names).
Environment: BUILD (default build), MAKE (default make); make's variables (CUDA=0 ...)
pass through from `make check`.
EOF
}
set -euo pipefail
cd "$(dirname "$0")/../.."
TABLE=scripts/assignment/exercises.tsv
BUILD=${BUILD:-build}
MAKE=${MAKE:-make}

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[ $# -le 1 ] || { usage >&2; exit 2; }

# The table's rows, comments and blank lines left out.
rows() { grep -v -e '^#' -e '^[[:space:]]*$' "$TABLE"; }
names() { rows | cut -f1; }

list() {
  echo "exercises (make check EX=NAME; EX=all for every one):"
  rows | while IFS=$'\t' read -r name file function _; do
    printf '  %-24s %s: %s\n' "$name" "$file" "$function"
  done
}

if [ $# -eq 0 ]; then list; exit 0; fi

# The exercises asked for, each checked against the table.
if [ "$1" = all ]; then
  mapfile -t selected < <(names)
else
  IFS=',' read -r -a selected <<<"$1"
  for name in "${selected[@]}"; do
    if ! names | grep -qx -- "$name"; then
      echo "check: no exercise '$name'" >&2
      list >&2
      exit 2
    fi
  done
fi
[ ${#selected[@]} -gt 0 ] || { echo "check: no exercise named" >&2; exit 2; }

field() { rows | awk -F'\t' -v n="$1" -v f="$2" '$1 == n { print $f }'; }

# doctest arguments for a tests column: "a*,b*,!c*" -> -tc=a*,b* -tce=c*
doctest_args() {
  local include="" exclude="" pattern
  IFS=',' read -r -a patterns <<<"$1"
  for pattern in "${patterns[@]}"; do
    if [ "${pattern:0:1}" = '!' ]; then exclude+="${exclude:+,}${pattern:1}"; else include+="${include:+,}$pattern"; fi
  done
  printf '%s\n' "-tc=$include"
  [ -z "$exclude" ] || printf '%s\n' "-tce=$exclude"
}

# Build every suite needed, once, in one make (parallel across suites).
suites=()
for name in "${selected[@]}"; do suites+=("$BUILD/test_$(field "$name" 4)"); done
mapfile -t suites < <(printf '%s\n' "${suites[@]}" | sort -u)
if ! $MAKE -q --no-print-directory "${suites[@]}" 2>/dev/null; then
  echo "check: building ${suites[*]}" >&2
  if ! $MAKE --no-print-directory "${suites[@]}" >&2; then
    echo "check: the build failed (the compiler's messages are above); nothing was graded" >&2
    exit 1
  fi
fi

# Run one exercise's grading tests, the output to $2; prints the verdict's reason.
# doctest exits 0 when no test case matched, so the count of those run is checked too.
run_one() {
  local name=$1 log=$2 suite tests
  suite=$(field "$name" 4)
  tests=$(field "$name" 5)
  mapfile -t args < <(doctest_args "$tests")
  local shown="" a
  for a in "${args[@]}"; do shown+=" ${a%%=*}=\"${a#*=}\""; done
  echo "== exercise $name: $BUILD/test_$suite$shown" >"$log"
  local rc=0
  "$BUILD/test_$suite" "${args[@]}" >>"$log" 2>&1 || rc=$?
  local ran
  ran=$(sed -n 's/^\[doctest\] test cases: *\([0-9]*\) .*/\1/p' "$log" | tail -1)
  if [ -z "$ran" ]; then
    echo "the test program stopped before its summary (exit status $rc: a crash? its last lines say)"
    return 1
  fi
  if [ "$ran" -eq 0 ]; then
    echo "no test case matched '$tests' (scripts/assignment/exercises.tsv is wrong)"
    return 1
  fi
  [ $rc -ne 0 ] || return 0
  # Which exercises are still blank, as the thrown messages say: this one first.
  local blank
  blank=$(grep -o 'exercise [a-z0-9_]*: not written yet' "$log" | sort -u | sed 's/exercise \([a-z0-9_]*\):.*/\1/' |
          paste -sd, - | sed 's/,/, /g')
  if grep -q "exercise $name: not written yet" "$log"; then
    echo "not written yet"
  elif [ -n "$blank" ]; then
    echo "its tests need exercises not written yet: $blank"
  else
    local failed
    failed=$(sed -n 's/^\[doctest\] test cases:.*| *\([0-9]*\) failed.*/\1/p' "$log" | tail -1)
    echo "${failed:-some} of $ran test cases failed"
  fi
  return 1
}

mkdir -p "$BUILD/check"
if [ ${#selected[@]} -eq 1 ] && [ "$1" != all ]; then
  name=${selected[0]}
  log="$BUILD/check/$name.log"
  reason=$(run_one "$name" "$log") && ok=1 || ok=0
  cat "$log"
  if [ "$ok" -eq 1 ]; then echo "OK      $name"; exit 0; fi
  echo "NOT OK  $name: $reason"
  [ "$reason" = "not written yet" ] ||
    echo "        (above: each failure names its test case, the check, and the expected and actual values)"
  exit 1
fi

not_ok=0
for name in "${selected[@]}"; do
  log="$BUILD/check/$name.log"
  if reason=$(run_one "$name" "$log"); then
    printf 'OK      %s\n' "$name"
  else
    printf 'NOT OK  %-24s %s (%s)\n' "$name" "$reason" "$log"
    not_ok=$((not_ok + 1))
  fi
done
total=${#selected[@]}
if [ $not_ok -eq 0 ]; then
  echo "check: all $total exercises OK"
else
  echo "check: $not_ok of $total exercises NOT OK"
  exit 1
fi
