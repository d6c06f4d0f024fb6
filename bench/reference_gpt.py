#!/usr/bin/env python3
"""PyTorch reference of aha's GPT (model/gpt.cpp), for golden files and checkpoint interop.

PyTorch (CPU) is a test oracle only. The model here is written from the paper's
equations, independently of the C++ code, with the same parameter names and
layouts (linear weights [in, out], y = x @ W + b; LM head tied to wte):

    x = wte[tokens] + wpe[positions]
    per block:  x = x + attn(LN_1(x)) ;  x = x + mlp(LN_2(x))
    logits = LN_f(x) @ wte^T

  python3 bench/reference_gpt.py logits --ckpt C --tokens 1 2 3   # logits of a checkpoint, as JSON
  python3 bench/reference.py golden --only gpt_small              # tests/golden/gpt_small.json

Checkpoints are read with the `safetensors` package when it is installed, else
by a small parser of the format (8-byte header length, JSON header, raw data).
"""

import argparse
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

LN_EPS = 1e-5  # model/gpt.cpp uses the autograd layernorm's default, as PyTorch does


def param_shapes(config):
    """Every parameter of a GPT config as (name, shape), in model/gpt.cpp's order."""
    V, T, C, L = config["vocab_size"], config["context"], config["d_model"], config["n_layers"]
    shapes = [("wte.weight", (V, C)), ("wpe.weight", (T, C))]
    for layer in range(L):
        h = "h.%d." % layer
        shapes += [
            (h + "ln_1.weight", (C,)), (h + "ln_1.bias", (C,)),
            (h + "attn.q.weight", (C, C)), (h + "attn.q.bias", (C,)),
            (h + "attn.k.weight", (C, C)), (h + "attn.k.bias", (C,)),
            (h + "attn.v.weight", (C, C)), (h + "attn.v.bias", (C,)),
            (h + "attn.c_proj.weight", (C, C)), (h + "attn.c_proj.bias", (C,)),
            (h + "ln_2.weight", (C,)), (h + "ln_2.bias", (C,)),
            (h + "mlp.c_fc.weight", (C, 4 * C)), (h + "mlp.c_fc.bias", (4 * C,)),
            (h + "mlp.c_proj.weight", (4 * C, C)), (h + "mlp.c_proj.bias", (C,)),
        ]
    shapes += [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]
    return shapes


def gpt_forward(params, config, tokens):
    """tokens [B, T] (int64) -> logits [B*T, V]. params: name -> tensor (any float dtype)."""
    B, T = tokens.shape
    C, H = config["d_model"], config["n_heads"]
    D = C // H

    def ln(x, name):
        return F.layer_norm(x, (C,), params[name + ".weight"], params[name + ".bias"], LN_EPS)

    def linear(x, name):
        return x @ params[name + ".weight"] + params[name + ".bias"]

    def heads(x):  # [B, T, C] -> [B, H, T, D]
        return x.view(B, T, H, D).transpose(1, 2)

    x = params["wte.weight"][tokens] + params["wpe.weight"][torch.arange(T)]  # [B, T, C]
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for layer in range(config["n_layers"]):
        h = "h.%d." % layer
        a = ln(x, h + "ln_1")
        q, k, v = heads(linear(a, h + "attn.q")), heads(linear(a, h + "attn.k")), heads(linear(a, h + "attn.v"))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D)).masked_fill(future, float("-inf"))  # [B, H, T, T]
        y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + linear(y, h + "attn.c_proj")
        m = F.gelu(linear(ln(x, h + "ln_2"), h + "mlp.c_fc"), approximate="tanh")
        x = x + linear(m, h + "mlp.c_proj")
    return (ln(x, "ln_f") @ params["wte.weight"].T).reshape(B * T, -1)


def masked_loss(logits, targets, mask):
    """sum_i m_i * -log softmax(z_i)[t_i] / max(1, sum_i m_i), as tensor/ops.h's cross_entropy."""
    nll = F.cross_entropy(logits, targets, reduction="none")
    return (nll * mask).sum() / max(1.0, float(mask.sum()))


# ---- safetensors ----


def read_safetensors(path):
    """(tensors: name -> float32 tensor, metadata: dict)."""
    try:
        from safetensors import safe_open
    except ImportError:
        safe_open = None
    if safe_open is not None:
        tensors = {}
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
            for name in f.keys():
                tensors[name] = f.get_tensor(name)
        return tensors, metadata
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    metadata = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError("%s: tensor %s has dtype %s (only F32)" % (path, name, info["dtype"]))
        begin, end = info["data_offsets"]
        values = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32)
        tensors[name] = values.reshape(info["shape"])
    return tensors, metadata


def load_checkpoint(path):
    """An aha checkpoint -> (params, config, metadata); the optimizer state is left out."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != "aha-gpt-1":
        raise ValueError("%s: not an aha GPT checkpoint (format %r)" % (path, metadata.get("format")))
    config = json.loads(metadata["config"])
    params = {}
    for name, shape in param_shapes(config):
        if tuple(tensors[name].shape) != shape:
            raise ValueError("%s: %s has shape %s, expected %s" % (path, name, tuple(tensors[name].shape), shape))
        params[name] = tensors[name]
    return params, config, metadata


# ---- golden file: tests/golden/gpt_small.json ----


def golden_gpt_small(tensor_json):
    """Logits, loss and every parameter's gradient of a small GPT, in float64.

    tensor_json: bench/reference.py's encoder of one tensor (the golden files' format).

    Parameters are drawn in float32 (what the C++ test loads), not with GPT-2's
    initialisation: larger values make every op matter in the comparison.
    """
    config = {"vocab_size": 13, "context": 8, "d_model": 16, "n_layers": 2, "n_heads": 2}
    B, T = 2, 7  # T < context: the position table is used only in part
    gen = torch.Generator().manual_seed(1234)

    def randn(*shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    params32 = {}
    for name, shape in param_shapes(config):
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            params32[name] = 1.0 + randn(*shape, std=0.1)
        elif len(shape) == 1:
            params32[name] = randn(*shape, std=0.1)
        else:
            params32[name] = randn(*shape, std=0.3)
    tokens = torch.randint(0, config["vocab_size"], (B, T), generator=gen)
    targets = torch.randint(0, config["vocab_size"], (B * T,), generator=gen)
    mask = torch.ones(B * T, dtype=torch.float64)
    mask[2] = 0.0  # positions that must not count (a prompt, padding)
    mask[B * T - 1] = 0.0

    params = {k: v.double().requires_grad_() for k, v in params32.items()}
    logits = gpt_forward(params, config, tokens)
    loss = masked_loss(logits, targets, mask)
    loss.backward()

    return {
        "description": "small GPT: logits, masked loss, parameter gradients; see golden_gpt_small in "
        "bench/reference_gpt.py",
        "config": config,
        "param_order": list(params32),
        "tokens": tensor_json(tokens),
        "targets": tensor_json(targets),
        "mask": tensor_json(mask),
        "params": {k: tensor_json(v) for k, v in params32.items()},
        "logits": tensor_json(logits),
        "loss": float("%.12g" % loss.item()),
        "grads": {k: tensor_json(v.grad) for k, v in params.items()},
    }


def cmd_logits(args):
    params, config, _ = load_checkpoint(args.ckpt)
    tokens = torch.tensor([args.tokens], dtype=torch.int64)
    with torch.no_grad():
        logits = gpt_forward({k: v.double() for k, v in params.items()}, config, tokens)
    json.dump({"config": config, "logits": logits.tolist()}, sys.stdout)
    sys.stdout.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("logits", help="logits of a checkpoint's model for a token sequence, as JSON")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--tokens", type=int, nargs="+", required=True)
    p.set_defaults(fn=cmd_logits)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
