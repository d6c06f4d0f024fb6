#!/usr/bin/env bash
# The proof that grading works (CI, after make test): every exercise of
# scripts/assignment/exercises.tsv is OK here, on the solution; in the student
# copy every one is NOT OK, its grading output naming it ("exercise NAME: not
# written yet"), and the copy compiles without a warning.
usage() {
  cat <<'EOF'
usage: scripts/assignment/proof.sh [--keep] [--alone] [VAR=value ...]

  VAR=value   make variables for every build, e.g. CUDA=0; give the ones the build
              directory was made with (a CUDA=1 build must not be mixed with CUDA=0)
  --keep      leave the student copy in place (its path is printed)
  --alone     also: each exercise is OK in a copy where every other exercise is blank
              but those its `needs` column names (any order of work is graded
              fairly; one copy and rebuild per exercise, minutes, not in CI)

Cheap after make test: the student copy starts from a copy of build/ (times kept),
so make rebuilds only the blanked files and the suites that link them.
EOF
}
set -euo pipefail
cd "$(dirname "$0")/../.."
keep=0
alone=0
vars=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --keep) keep=1 ;;
    --alone) alone=1 ;;
    *=*) vars+=("$arg") ;;
    *) usage >&2; exit 2 ;;
  esac
done
BUILD=build
for v in "${vars[@]}"; do [ "${v%%=*}" != BUILD ] || BUILD=${v#*=}; done
START=$SECONDS
fail() { echo "assignment proof: FAILED: $*" >&2; exit 1; }
rows() { grep -v -e '^#' -e '^[[:space:]]*$' scripts/assignment/exercises.tsv; }
mapfile -t names < <(rows | cut -f1)

echo "== 1. the solution: every exercise OK" >&2
make --no-print-directory check EX=all "${vars[@]}" || fail "an exercise is NOT OK on the solution (above)"
t1=$((SECONDS - START))

echo "== 2. the student copy: every exercise NOT OK, naming itself" >&2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aha_assignment.XXXXXX")
[ $keep -eq 1 ] || trap 'rm -rf "$WORK"' EXIT
scripts/assignment/make_assignment.sh "$WORK/student" >&2
if [ -d "$BUILD" ]; then
  cp -a "$BUILD" "$WORK/student/$BUILD"
  rm -rf "$WORK/student/$BUILD/check"
fi
rc=0
(cd "$WORK/student" && make --no-print-directory check EX=all "${vars[@]}") >"$WORK/check.out" 2>"$WORK/build.err" || rc=$?
cat "$WORK/check.out"
[ $rc -ne 0 ] || fail "make check EX=all passed in the student copy"
if grep -q 'warning:' "$WORK/build.err"; then
  grep -B2 -A4 'warning:' "$WORK/build.err" >&2
  fail "the student copy compiles with warnings (above)"
fi
for name in "${names[@]}"; do
  line=$(grep -E "^(OK|NOT OK) +$name( |\$)" "$WORK/check.out" || true)
  case "$line" in
    "NOT OK"*"not written yet"*) ;;
    "NOT OK"*) fail "exercise $name fails in the student copy, but not by its own throw: $line" ;;
    "") cat "$WORK/build.err" >&2; fail "exercise $name was not graded in the student copy (a build error? above)" ;;
    *) fail "exercise $name is OK in the student copy: its tests do not grade it" ;;
  esac
  grep -q "exercise $name: not written yet" "$WORK/student/$BUILD/check/$name.log" ||
    fail "exercise $name: its grading output does not name it"
done
t2=$((SECONDS - START - t1))
[ $keep -eq 0 ] || echo "assignment proof: the student copy is kept in $WORK/student" >&2
alone_note=""
if [ $alone -eq 1 ]; then
  echo "== 3. each exercise alone: OK with every other one blank (but its needs)" >&2
  for name in "${names[@]}"; do
    needs=$(rows | awk -F'\t' -v n="$name" '$1 == n && $6 != "-" { print $6 }' | tr -d ' ')
    others=()
    for other in "${names[@]}"; do
      [ "$other" != "$name" ] && [[ ",$needs," != *",$other,"* ]] && others+=("$other")
    done
    copy="$WORK/alone-$name"
    scripts/assignment/make_assignment.sh --only "$(IFS=,; echo "${others[*]}")" "$copy" >/dev/null 2>&1
    [ ! -d "$BUILD" ] || cp -a "$BUILD" "$copy/$BUILD"
    if ! (cd "$copy" && make --no-print-directory check EX="$name" "${vars[@]}") >"$WORK/alone.out" 2>&1; then
      tail -30 "$WORK/alone.out" >&2
      fail "exercise $name is NOT OK with only it${needs:+ and $needs} written (above): its tests need another exercise"
    fi
    echo "OK      $name alone${needs:+ (with $needs)}"
    rm -rf "$copy"
  done
  alone_note=", OK alone ($((SECONDS - START - t1 - t2)) s)"
fi
echo "assignment proof: passed: ${#names[@]} exercises OK on the solution (${t1} s), NOT OK and named in the student copy (${t2} s)$alone_note"
