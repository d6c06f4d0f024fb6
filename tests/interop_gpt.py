#!/usr/bin/env python3
"""Checkpoint interop: an aha checkpoint loads into the PyTorch reference GPT and gives the same numbers.

Not part of `make test` (CI has no torch). Run from the repository root:

  python3 tests/interop_gpt.py                        # pretrains a few steps with build/aha, then checks
  python3 tests/interop_gpt.py --ckpt base.safetensors
  python3 tests/interop_gpt.py --aha build-x/aha

What is compared: `aha sample --json` prints, for every generated token, its
log-probability under the model (policy_logprobs, temperature 1). The script
loads the checkpoint with the Python `safetensors` package (strict about the
format) into bench/reference_gpt.py's model, runs the prompt plus completion
through it in float64, and checks at every generated position that
log_softmax(logits)[token] matches within 1e-4, and that greedy completions are
PyTorch's argmax. Log-probabilities are the logits up to each position's
normaliser, so this checks the logits of every position the sampler read.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import reference_gpt  # noqa: E402

TOLERANCE = 1e-4
TEXT = "the cat sat on the mat. the dog sat on the log. a cat saw a dog and a dog saw a cat.\n" * 40


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("interop_gpt: %s failed:\n%s" % (" ".join(cmd), result.stderr))
    return result.stdout


def make_checkpoint(aha, folder):
    text = os.path.join(folder, "text.txt")
    with open(text, "w") as f:
        f.write(TEXT)
    ckpt = os.path.join(folder, "interop.safetensors")
    run([aha, "pretrain", "--preset", "cpu-tiny", "--text", text, "--steps", "5", "--context", "64",
         "--batch-size", "4", "--out", ckpt, "--log", os.path.join(folder, "interop.jsonl")])
    return ckpt


def check_completions(params, config, lines, greedy):
    worst = 0.0
    for line in lines:
        c = json.loads(line)
        prompt, tokens = c["prompt_tokens"], c["tokens"]
        seq = torch.tensor([prompt + tokens[:-1]], dtype=torch.int64)
        with torch.no_grad():
            logprobs = torch.log_softmax(reference_gpt.gpt_forward(params, config, seq), dim=-1)  # [T, V]
        for i, token in enumerate(tokens):
            row = logprobs[len(prompt) - 1 + i]
            worst = max(worst, abs(float(row[token]) - c["policy_logprobs"][i]))
            if greedy:
                top2 = torch.topk(row, 2).values
                if float(top2[0] - top2[1]) > TOLERANCE and int(row.argmax()) != token:
                    sys.exit("interop_gpt: greedy token %d at step %d is not PyTorch's argmax %d"
                             % (token, i, int(row.argmax())))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aha", default="build/aha", help="the aha binary (default: build/aha)")
    parser.add_argument("--ckpt", help="checkpoint to check (default: pretrain one for 5 steps)")
    parser.add_argument("--prompt", default="the cat")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        ckpt = args.ckpt or make_checkpoint(args.aha, folder)
        params, config, metadata = reference_gpt.load_checkpoint(ckpt)
        params = {k: v.double() for k, v in params.items()}
        print("loaded %s: %s, tokenizer %s..." % (ckpt, config, metadata["tokenizer"][:24]))
        greedy = run([args.aha, "sample", "--ckpt", ckpt, "--prompt", args.prompt, "--greedy", "--max-new", "40",
                      "--json"]).splitlines()
        sampled = run([args.aha, "sample", "--ckpt", ckpt, "--prompt", args.prompt, "--n", "3", "--seed", "7",
                       "--max-new", "40", "--json"]).splitlines()
        worst = max(check_completions(params, config, greedy, True),
                    check_completions(params, config, sampled, False))
    print("max |log-prob difference| over %d completions: %.3g (tolerance %g)"
          % (len(greedy) + len(sampled), worst, TOLERANCE))
    if worst > TOLERANCE:
        sys.exit("interop_gpt: FAILED")
    print("interop_gpt: OK")


if __name__ == "__main__":
    main()
