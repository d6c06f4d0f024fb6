#!/usr/bin/env bash
# Write the student copy: this repository's files with the body of each
# exercise (scripts/assignment/exercises.tsv) replaced by a throw naming it.
usage() {
  cat <<'EOF'
usage: scripts/assignment/make_assignment.sh [--only NAME[,NAME...]] OUT
       make assignment OUT=dir [EX=NAME,NAME]   (the same, through make)

Copies the files git tracks (every file but .git and build directories when this
is not a git checkout) to OUT, then replaces each exercise's body, between its
"// BEGIN EXERCISE NAME: ..." and "// END EXERCISE NAME" lines, with
  throw std::logic_error("exercise NAME: not written yet ...");
The marker lines stay, so the student sees where to write. --only blanks just the
exercises named (default: all). OUT must not exist or be empty; the copy is made
in a temporary directory beside it and renamed into place, so a failure leaves
nothing half-written. The copy builds (make test) and every part not blanked works.
EOF
}
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TABLE=$ROOT/scripts/assignment/exercises.tsv

die() { echo "make_assignment: $*" >&2; exit 1; }

only=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --only) [ $# -ge 2 ] || die "--only needs a list of exercise names"; only=$2; shift 2 ;;
    --only=*) only=${1#--only=}; shift ;;
    -*) usage >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { usage >&2; exit 2; }
OUT=$1

if [ -e "$OUT" ]; then
  [ -d "$OUT" ] || die "$OUT exists and is not a directory"
  [ -z "$(ls -A "$OUT")" ] || die "$OUT exists and is not empty; give a new directory"
fi
OUT_PARENT=$(cd "$(dirname "$OUT")" 2>/dev/null && pwd) || die "the directory above $OUT does not exist"
OUT_ABS=$OUT_PARENT/$(basename "$OUT")
case "$OUT_ABS/" in "$ROOT/"*/) die "$OUT is inside the repository; give a directory outside it" ;; esac

# The table's names and files; --only checked against them.
mapfile -t names < <(grep -v -e '^#' -e '^[[:space:]]*$' "$TABLE" | cut -f1)
declare -A file_of
while IFS=$'\t' read -r name file _; do file_of[$name]=$file; done < <(grep -v -e '^#' -e '^[[:space:]]*$' "$TABLE")
if [ -n "$only" ]; then
  IFS=',' read -r -a wanted <<<"$only"
  for name in "${wanted[@]}"; do
    [ -n "${file_of[$name]:-}" ] || die "no exercise '$name'; the exercises: ${names[*]}"
  done
else
  wanted=("${names[@]}")
fi

TMP=$(mktemp -d "$OUT_PARENT/.$(basename "$OUT").partial.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# 1. The files. tar keeps their times, so a build directory copied in later
# (scripts/assignment/proof.sh) rebuilds only what the blanking rewrote.
cd "$ROOT"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$TMP"
else
  tar --exclude=./.git --exclude='./build*' -cf - . | tar -xf - -C "$TMP"
fi

# 2. Every marked region: well formed, named in the table, in the table's file.
mapfile -t marked < <(grep -rl --include='*.cpp' --include='*.h' --include='*.cu' -e '// BEGIN EXERCISE ' \
                        -e '// END EXERCISE ' -- "$TMP" | sed "s|^$TMP/||" | sort)
for name in "${names[@]}"; do
  grep -q "// BEGIN EXERCISE $name:" "$TMP/${file_of[$name]}" 2>/dev/null ||
    die "exercise $name: no '// BEGIN EXERCISE $name:' line in ${file_of[$name]} (scripts/assignment/exercises.tsv)"
done
for f in "${marked[@]}"; do
  for name in $(sed -n 's|^[[:space:]]*// BEGIN EXERCISE \([^: ]*\).*|\1|p' "$TMP/$f"); do
    [ "${file_of[$name]:-}" = "$f" ] ||
      die "$f marks exercise $name, but scripts/assignment/exercises.tsv puts it in ${file_of[$name]:-no file (it is not in the table)}"
  done
done

# 3. Blank the wanted regions, file by file (awk: keep the marker lines, put
# one throw at the BEGIN line's indentation in place of the body).
blanked=0
for f in "${marked[@]}"; do
  out=$(awk -v wanted=" ${wanted[*]} " -v file="$f" -v table=" ${names[*]} " '
    function fail(msg) { printf "make_assignment: %s:%d: %s\n", file, FNR, msg > "/dev/stderr"; bad = 1; exit 1 }
    function name_of(line,   s) {
      s = line
      sub(/^[ \t]*\/\/ (BEGIN|END) EXERCISE /, "", s)
      sub(/[: \t].*$/, "", s)
      return s
    }
    /^[ \t]*\/\/ BEGIN EXERCISE / {
      name = name_of($0)
      if (open != "") fail("BEGIN EXERCISE " name " inside exercise " open)
      if (index(table, " " name " ") == 0) fail("exercise " name " is not in scripts/assignment/exercises.tsv")
      open = name
      print
      if (index(wanted, " " name " ")) {
        indent = $0
        sub(/\/\/.*/, "", indent)
        printf "%sthrow std::logic_error(\"exercise %s: not written yet; write it in %s (the comments above say what to compute), then run: make check EX=%s\");\n", indent, name, file, name
        skipping = 1
        count++
      }
      next
    }
    /^[ \t]*\/\/ END EXERCISE / {
      name = name_of($0)
      if (name != open) fail("END EXERCISE " name " without its BEGIN" (open != "" ? " (exercise " open " is open)" : ""))
      open = ""
      skipping = 0
      print
      next
    }
    !skipping { print }
    END {
      if (bad) exit 1
      if (open != "") { printf "make_assignment: %s: exercise %s has no END EXERCISE line\n", file, open > "/dev/stderr"; exit 1 }
      printf "%d\n", count > "/dev/stderr"
    }' "$TMP/$f" 2>"$TMP/.count") || { cat "$TMP/.count" >&2; die "$f: the exercise markers are malformed"; }
  n=$(tail -1 "$TMP/.count")
  rm -f "$TMP/.count"
  [ "$n" -gt 0 ] || continue
  blanked=$((blanked + n))
  echo "  $f: $n region(s) blanked" >&2
  if grep -q '^// Student copy: each exercise' <<<"$out"; then  # a student copy blanked again
    printf '%s\n' "$out" >"$TMP/$f"
    continue
  fi
  # std::logic_error needs <stdexcept>; a blank body leaves its parameters unused.
  header='\n// Student copy: each exercise below throws until it is written, and its\n// parameters are unused until then.\n#pragma GCC diagnostic ignored "-Wunused-parameter"'
  grep -q '^#include <stdexcept>' <<<"$out" || header="#include <stdexcept>\n$header"
  last_include=$(grep -n '^#include ' <<<"$out" | tail -1 | cut -d: -f1)
  [ -n "$last_include" ] || die "$f has no #include line to put <stdexcept> after"
  # (awk turns the \n of a -v value into newlines)
  awk -v at="$last_include" -v header="$header" '{ print } NR == at { print header }' <<<"$out" >"$TMP/$f"
done

# 4. Into place.
[ ! -d "$OUT_ABS" ] || rmdir "$OUT_ABS"
mv "$TMP" "$OUT_ABS"
trap - EXIT
echo "make_assignment: wrote $OUT_ABS with ${#wanted[@]} exercise(s) blanked (${wanted[*]}; $blanked region(s))"
echo "  students: cd $OUT && make check EX=NAME   (make check lists the names)"
