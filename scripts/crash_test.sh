#!/usr/bin/env bash
# Crash test (issue 19): nothing is lost when a run is killed.
#
# A tiny `aha pretrain` and a tiny `aha grpo` (CPU, a checkpoint every step)
# are killed with SIGKILL again and again, at varied moments: during their
# checkpoint saves, and, on resume, during the atomic rewrite of a log made
# large for the purpose. After each kill the run is resumed. At the end:
#   - every checkpoint loads, and the final one is bit for bit the one of an
#     uninterrupted run;
#   - every log line parses as JSON and the steps are 1..N, each once;
#   - no temporary file is left.
# Then a few careless commands that must fail at once and destroy nothing:
# an output that is an input, a NaN run, a size beyond the limits, and the
# resume of the base model `aha run` pretrained.
#
#   scripts/crash_test.sh [build/aha]   (CI, after make test) about 20 s on 2 idle CPU cores
set -euo pipefail
AHA=$(realpath "${1:-build/aha}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aha_crash.XXXXXX")
[ -n "${AHA_CRASH_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
START=$SECONDS

fail() { echo "crash test: FAILED: $*" >&2; exit 1; }

# The log is whole: every line JSON, steps exactly 1..$2.
check_log() {
  python3 - "$1" "$2" <<'EOF' || fail "log $1 is not whole"
import json, sys
steps = [json.loads(line)["step"] for line in open(sys.argv[1])]
want = list(range(1, int(sys.argv[2]) + 1))
if steps != want:
    sys.exit(f"{sys.argv[1]}: steps {steps}, want {want}")
EOF
}

# A log made large (about 20 MB: each line padded, still valid JSON) and
# ending in a torn line, so that the resume rewrites it, long enough to be
# killed in the middle.
inflate_log() {
  python3 - "$1" <<'EOF'
import json, sys
path = sys.argv[1]
texts = open(path).read().splitlines()
pad = "x" * (20_000_000 // max(1, len(texts)))
lines = []
for text in texts:
    try:
        line = json.loads(text)
    except ValueError:
        lines.append(text)  # a torn line stays torn
        continue
    line["pad"] = pad
    lines.append(json.dumps(line))
open(path, "w").write("\n".join(lines) + "\n" + '{"step": ')
EOF
}

# The step a checkpoint holds (0 when there is none yet).
ckpt_step() {
  if [ ! -f "$1" ]; then echo 0; return; fi
  python3 - "$1" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n))["__metadata__"]
print(meta.get("train.step", meta.get("grpo.step")))
EOF
}

# run_and_kill FILE AFTER_MS MAX_MS command...: starts the command and, from
# AFTER_MS on, kills it with SIGKILL as soon as its temporary file
# FILE.tmp.<its pid> exists (a save or a log rewrite of FILE is under way),
# or at MAX_MS. Sets KILLED to its pid.
run_and_kill() {
  local file=$1 after_ms=$2 max_ms=$3
  shift 3
  "$@" >/dev/null 2>&1 &
  KILLED=$!
  local start=${EPOCHREALTIME/./}
  local from=$((start + after_ms * 1000)) until=$((start + max_ms * 1000)) now
  while kill -0 "$KILLED" 2>/dev/null; do
    now=${EPOCHREALTIME/./}
    if [ "$now" -ge "$until" ]; then break; fi
    if [ -n "$file" ] && [ "$now" -ge "$from" ] && [ -e "$file.tmp.$KILLED" ]; then break; fi
    sleep 0.001
  done
  kill -9 "$KILLED" 2>/dev/null || true
  wait "$KILLED" 2>/dev/null || true
}

# kill_loop NAME CHECKPOINT LOG STEPS fresh-arguments... -- resume-arguments...
# Starts the run, or resumes it from CHECKPOINT after making its log large
# and torn, and kills it: while it writes a checkpoint, while it rewrites the
# log, or at a random moment; ten times. A temporary file left beside the
# checkpoint or the log after a kill shows that the kill hit that window
# (the next start must sweep it). Then the run is resumed to its end.
kill_loop() {
  local name=$1 ckpt=$2 log=$3 steps=$4
  shift 4
  local fresh=() resume=() cmd=() kills=0 hits_save=0 hits_log=0 mode out
  while [ "$1" != "--" ]; do
    fresh+=("$1")
    shift
  done
  shift
  resume=("$@")
  for mode in save log random save log save log random save log; do
    [ "$(ckpt_step "$ckpt")" -lt "$steps" ] || break
    if [ -f "$ckpt" ]; then
      inflate_log "$log"
      cmd=("${resume[@]}")
    else
      cmd=("${fresh[@]}")
      [ $mode != log ] || mode=save  # no log to rewrite before the first checkpoint
    fi
    case $mode in
      save) run_and_kill "$ckpt" $((RANDOM % 400)) 3000 "$AHA" "${cmd[@]}" ;;  # a save after some steps
      log) run_and_kill "$log" 0 3000 "$AHA" "${cmd[@]}" ;;
      random) run_and_kill "" 0 $((100 + RANDOM % 400)) "$AHA" "${cmd[@]}" ;;
    esac
    kills=$((kills + 1))
    if [ -e "$ckpt.tmp.$KILLED" ]; then hits_save=$((hits_save + 1)); fi
    if [ -e "$log.tmp.$KILLED" ]; then hits_log=$((hits_log + 1)); fi
  done
  if [ -f "$ckpt" ]; then
    out=$("$AHA" "${resume[@]}" 2>&1) || grep -q "already at step" <<<"$out" || fail "$name resume: $out"
  else
    "$AHA" "${fresh[@]}" >/dev/null 2>&1 || fail "$name: aha ${fresh[*]}"
  fi
  echo "crash test: $name killed $kills times, $hits_save during a save, $hits_log during a log rewrite"
  [ $hits_save -gt 0 ] && [ $hits_log -gt 0 ] || fail "no kill of $name hit a save or a log rewrite"
}

RANDOM=19  # the same random moments on every run

# ---- pretraining: 30 steps, a checkpoint every step ----
PRETRAIN=(pretrain --preset cpu-tiny --task add --context 384 --batch-size 2 --steps 30 --ckpt-every 1 --eval-every 10 --seed 3)
"$AHA" "${PRETRAIN[@]}" --out ref.safetensors --log ref.jsonl >/dev/null 2>&1 || fail "the uninterrupted pretraining failed"
kill_loop pretrain base.safetensors pretrain.jsonl 30 "${PRETRAIN[@]}" --out base.safetensors --log pretrain.jsonl -- \
  pretrain --resume base.safetensors --out base.safetensors --log pretrain.jsonl
cmp -s ref.safetensors base.safetensors || fail "the resumed pretraining differs from the uninterrupted one"
check_log pretrain.jsonl 30

# ---- GRPO from that base: 24 steps, a checkpoint every step ----
GRPO=(grpo --init base.safetensors --prompts 2 --group-size 2 --max-new 24 --eval-every 0 --ckpt-every 1 --steps 24)
"$AHA" "${GRPO[@]}" --out rl_ref.safetensors --log rl_ref.jsonl >/dev/null 2>&1 || fail "the uninterrupted GRPO run failed"
kill_loop grpo rl.safetensors grpo.jsonl 24 "${GRPO[@]}" --out rl.safetensors --log grpo.jsonl -- \
  grpo --resume rl.safetensors --out rl.safetensors --log grpo.jsonl
cmp -s rl_ref.safetensors rl.safetensors || fail "the resumed GRPO run differs from the uninterrupted one"
check_log grpo.jsonl 24
"$AHA" sample --ckpt rl.safetensors --prompt '<bos>what is 1+2?\n' --greedy --max-new 4 >/dev/null ||
  fail "rl.safetensors does not load"
echo "crash test: both runs resumed to the same bits as uninterrupted runs, with whole logs"

leftovers=$(find . -name '*.tmp*')
[ -z "$leftovers" ] || fail "temporary files left: $leftovers"

# ---- careless commands: refused at once, nothing destroyed ----
cp base.safetensors keep.safetensors
expect_error() {  # expect_error "message part" aha-arguments...
  local want=$1
  shift
  local out
  if out=$("$AHA" "$@" 2>&1); then fail "aha $* succeeded"; fi
  grep -qF -- "$want" <<<"$out" || fail "aha $*: expected '$want' in: $out"
  cmp -s keep.safetensors base.safetensors || fail "aha $* changed its input"
}
expect_error "grpo: --out 'base.safetensors' is the same file as --init" grpo --init base.safetensors --out base.safetensors
expect_error "grpo: --log './base.safetensors' is the same file as --init" \
  grpo --init base.safetensors --out x.safetensors --log ./base.safetensors
expect_error "eval: --out 'base.safetensors' is the same file as --ckpt" eval --ckpt base.safetensors --task add --out base.safetensors
expect_error "pretrain: --log 'base.safetensors' is the same file as --resume" \
  pretrain --resume base.safetensors --out more.safetensors --log base.safetensors
expect_error "is a directory" pretrain --task add --steps 1 --out . --log x.jsonl
expect_error "tokens per micro-batch, more than the limit" pretrain --batch-size 1073741824 --out big.safetensors
expect_error "completions per step, more than the limit" \
  grpo --init base.safetensors --prompts 1048576 --group-size 4096 --out big.safetensors
# --resume continues the checkpoint's run: every flag that sets a GRPO
# setting (the rows of grpo/config.h), --preset and --init are refused; only
# --steps may change. The flags are what `aha grpo --help` lists, less the
# command's own; each gets a value its check accepts.
declare -A VALUE=([--task]=add [--difficulties]=1 [--loss]=grpo [--kv-cache]=fp32 [--dtype]=fp32 [--std-scale]=on
                  [--clip-low]=0.5 [--preset]=cpu-tiny [--init]=base.safetensors)
refused=0
for flag in $("$AHA" grpo --help | grep -oE '^  --[a-z-]+'); do
  case $flag in --help-all | --out | --device | --resume | --stop-at | --log | --steps) continue ;; esac
  expect_error "grpo: $flag cannot change on --resume" \
    grpo --resume rl.safetensors --out resumed.safetensors "$flag" "${VALUE[$flag]:-2}"
  refused=$((refused + 1))
done
[ $refused -ge 25 ] || fail "only $refused flags of aha grpo --help were tried on --resume"
out=$("$AHA" grpo --resume rl.safetensors --out rl.safetensors --log grpo.jsonl --steps 24 2>&1) ||
  grep -q "already at step" <<<"$out" || fail "aha grpo --resume ... --steps 24: $out"
[ ! -e resumed.safetensors ] || fail "a refused --resume wrote a file"
cp base.safetensors nan.safetensors
expect_error "pretrain: step 2: the loss is NaN" \
  pretrain --task add --context 384 --batch-size 2 --steps 2 --lr 1e30 --out nan.safetensors --log nan.jsonl
cmp -s nan.safetensors base.safetensors || fail "the NaN run overwrote its checkpoint"
[ ! -e big.safetensors ] && [ ! -e x.safetensors ] && [ ! -e more.safetensors ] || fail "a refused command wrote a file"

# ---- the demo's base model resumes (issue 19, case 4) ----
"$AHA" run --out demo --pretrain-steps 3 --steps 1 --prompts 2 --group-size 2 --max-new 8 --eval-n 2 --k 1 \
  --eval-problems 2 >/dev/null 2>&1 || fail "aha run failed"
out=$("$AHA" pretrain --resume demo/base.safetensors --out demo/base.safetensors --log demo/pretrain.jsonl \
  --steps 4 2>&1) || fail "aha pretrain --resume of the base model aha run pretrained: $out"
check_log demo/pretrain.jsonl 4
echo "crash test: careless commands refused; the base of aha run resumes"

leftovers=$(find . -name '*.tmp*')
[ -z "$leftovers" ] || fail "temporary files left: $leftovers"
echo "crash test: passed in $((SECONDS - START)) s"
