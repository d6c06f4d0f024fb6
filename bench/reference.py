#!/usr/bin/env python3
"""PyTorch reference for aha: writes the golden files the C++ tests compare against.

PyTorch (CPU) is only a test oracle here, never linked into aha. Each golden file
has one function below that builds the computation in PyTorch, runs it forward and
backward, and writes inputs, parameters, outputs and gradients as JSON.

  python3 bench/reference.py golden --out tests/golden                  # every golden file
  python3 bench/reference.py golden --out tests/golden --only attention_block
  python3 bench/reference.py speed --device cuda --out torch.jsonl      # PyTorch speed baseline
                                                                        # (bench/speed_reference.py)

To add a golden file: write `def golden_<name>() -> dict` and decorate it with
@golden("<name>"); `golden` writes <out>/<name>.json.

Numbers: inputs and parameters are drawn in float32 (what the C++ side holds),
then every computation runs in float64, so the references are exact to well
below float32 precision and a C++ mismatch is the C++ side's. Floats are
written with 9 significant digits, which round-trips float32 exactly.
"""

import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

GOLDEN_FILES = {}  # name -> function returning the JSON object


def golden(name):
    def register(fn):
        GOLDEN_FILES[name] = fn
        return fn

    return register


def tensor_json(t):
    """{"shape": [...], "data": [...]} with data flattened row-major."""
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": [float("%.9g" % v) for v in t.flatten().tolist()]}


class Params:
    """Named float32 parameters drawn from one seeded generator, in creation order."""

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.float32 = {}

    def randn(self, *shape, std=1.0):
        return (torch.randn(*shape, generator=self.gen, dtype=torch.float32) * std).float()

    def add(self, name, value):
        self.float32[name] = value
        return value

    def float64_leaves(self):
        return {k: v.double().requires_grad_() for k, v in self.float32.items()}


# ---- attention_block: the autograd ops composed into a two-layer pre-LN transformer ----


def causal_self_attention(x, p, prefix, n_head):
    """x [B, T, C] -> [B, T, C]: qkv projection, heads, causal softmax attention, merge, projection."""
    B, T, C = x.shape
    D = C // n_head
    qkv = x @ p[prefix + "w_qkv"] + p[prefix + "b_qkv"]  # [B, T, 3C]
    q, k, v = qkv.split(C, dim=-1)  # each [B, T, C]
    q, k, v = (t.view(B, T, n_head, D).transpose(1, 2) for t in (q, k, v))  # [B, H, T, D]
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)  # [B, H, T, T]
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v  # [B, H, T, D]
    y = y.transpose(1, 2).reshape(B, T, C)  # heads merged
    return y @ p[prefix + "w_proj"] + p[prefix + "b_proj"]


def mlp(x, p, prefix):
    """x [B, T, C] -> [B, T, C]: C -> 4C, GELU (tanh form), 4C -> C."""
    h = F.gelu(x @ p[prefix + "w_fc"] + p[prefix + "b_fc"], approximate="tanh")
    return h @ p[prefix + "w_proj"] + p[prefix + "b_proj"]


@golden("attention_block")
def golden_attention_block():
    """x -> [x + attn(LN(x)); x + mlp(LN(x))] x n_layer -> LN -> logits -> masked cross-entropy.

    Weights are [in, out] (y = x @ W + b), as the C++ test multiplies them.
    """
    B, T, C, H, V, n_layer, eps = 2, 5, 8, 2, 11, 2, 1e-5
    P = Params(seed=0)
    for layer in range(n_layer):
        h = "h%d." % layer
        P.add(h + "ln_1.gamma", 1.0 + P.randn(C, std=0.1))
        P.add(h + "ln_1.beta", P.randn(C, std=0.1))
        P.add(h + "attn.w_qkv", P.randn(C, 3 * C, std=0.3))
        P.add(h + "attn.b_qkv", P.randn(3 * C, std=0.1))
        P.add(h + "attn.w_proj", P.randn(C, C, std=0.3))
        P.add(h + "attn.b_proj", P.randn(C, std=0.1))
        P.add(h + "ln_2.gamma", 1.0 + P.randn(C, std=0.1))
        P.add(h + "ln_2.beta", P.randn(C, std=0.1))
        P.add(h + "mlp.w_fc", P.randn(C, 4 * C, std=0.3))
        P.add(h + "mlp.b_fc", P.randn(4 * C, std=0.1))
        P.add(h + "mlp.w_proj", P.randn(4 * C, C, std=0.2))
        P.add(h + "mlp.b_proj", P.randn(C, std=0.1))
    P.add("ln_f.gamma", 1.0 + P.randn(C, std=0.1))
    P.add("ln_f.beta", P.randn(C, std=0.1))
    P.add("w_out", P.randn(C, V, std=0.3))
    x32 = P.randn(B, T, C)
    targets = torch.randint(0, V, (B * T,), generator=P.gen)
    mask = torch.ones(B * T, dtype=torch.float64)
    mask[3] = 0.0  # two rows that must not count, and must get zero gradient
    mask[8] = 0.0

    p = P.float64_leaves()
    x = x32.double().requires_grad_()

    def ln(t, name):
        return F.layer_norm(t, (C,), p[name + ".gamma"], p[name + ".beta"], eps)

    h = x
    for layer in range(n_layer):
        pre = "h%d." % layer
        h = h + causal_self_attention(ln(h, pre + "ln_1"), p, pre + "attn.", H)
        h = h + mlp(ln(h, pre + "ln_2"), p, pre + "mlp.")
    logits = ln(h, "ln_f") @ p["w_out"]  # [B, T, V]
    nll = F.cross_entropy(logits.reshape(B * T, V), targets, reduction="none")  # [B*T]
    loss = (nll * mask).sum() / max(1.0, float(mask.sum()))
    loss.backward()

    return {
        "description": "two-layer pre-LN transformer block stack; see golden_attention_block in "
        "bench/reference.py",
        "config": {"B": B, "T": T, "C": C, "H": H, "V": V, "n_layer": n_layer, "eps": eps},
        "param_order": list(P.float32),
        "x": tensor_json(x32),
        "targets": tensor_json(targets),
        "mask": tensor_json(mask),
        "params": {k: tensor_json(v) for k, v in P.float32.items()},
        "logits": tensor_json(logits),
        "loss": float("%.12g" % loss.item()),
        "grads": {k: tensor_json(v.grad) for k, v in p.items()},
        "x_grad": tensor_json(x.grad),
    }


# The GPT of model/gpt.cpp has its own reference file (also used for checkpoint
# interop, tests/interop_gpt.py); its golden file is registered here.
import reference_gpt  # noqa: E402  (bench/ is on sys.path when this runs as a script)

golden("gpt_small")(lambda: reference_gpt.golden_gpt_small(tensor_json))

# The speed baseline of bench/compare.py lives in its own file; `speed` dispatches to it.
import speed_reference  # noqa: E402


def cmd_golden(args):
    names = args.only or list(GOLDEN_FILES)
    unknown = [n for n in names if n not in GOLDEN_FILES]
    if unknown:
        sys.exit("reference.py: unknown golden file(s) %s; known: %s" % (unknown, ", ".join(GOLDEN_FILES)))
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        path = os.path.join(args.out, name + ".json")
        obj = GOLDEN_FILES[name]()
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, path)
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("golden", help="write the golden files for the C++ tests")
    g.add_argument("--out", default="tests/golden", help="output folder (default: tests/golden)")
    g.add_argument("--only", nargs="+", metavar="NAME", help="just these golden files (default: all)")
    g.set_defaults(fn=cmd_golden)
    s = sub.add_parser("speed", help="time aha's GPT workloads in PyTorch (bench/speed_reference.py)",
                       description=speed_reference.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    speed_reference.add_arguments(s)
    s.set_defaults(fn=speed_reference.run)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
