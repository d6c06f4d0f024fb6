#!/usr/bin/env python3
"""aha against PyTorch on the same GPU: one markdown table from two JSON-lines files.

  python3 bench/reference.py speed --device cuda --compile --out torch.jsonl
  python3 bench/compare.py aha.jsonl torch.jsonl

Each file holds one JSON object per line. A timed case carries impl ("aha",
"pytorch-eager", "pytorch-compile", "pytorch-graph": generation as one CUDA graph
per token), shape, workload, dtype, batch, T, prompt,
new_tokens, ms and tokens_per_s; "oom": true or "skipped": "why" where it did
not run. The model's d_model, n_layers and vocab (for the FLOPs) are read from
whichever row of the shape carries them (bench/speed_reference.py's always do).
A matrix-product ceiling is {"workload": "matmul_peak", "dtype": "tf32" | "bf16",
"tflops": ...}; the aha file's ceilings are used where it has them, else
PyTorch's.

Columns: the times, the speed ratio (PyTorch ms / aha ms: above 1, aha is
faster; from tokens/s, marked *, where the two ran different sizes), tokens/s,
and aha's achieved TFLOP/s (model_flops / time) with its MFU (that over the
ceiling of its dtype: TF32 for fp32, bf16 for bf16).
"""

import json
import sys

WORKLOAD_ORDER = ("grpo_update", "generate", "pretrain_step")
DTYPE_ORDER = ("fp32", "fp32-kv-bf16", "bf16")
# first found is used ("fp32": a CPU run); fp32-kv-bf16 (aha generate --kv-cache bf16):
# fp32 weights, so TF32 products, with a bf16 KV cache
CEILING_OF_DTYPE = {"fp32": ("tf32", "fp32"), "fp32-kv-bf16": ("tf32", "fp32"), "bf16": ("bf16",)}
# aha's fp32-kv-bf16 generation has no PyTorch twin: it is set beside PyTorch's
# bf16 generation (bf16 weights and KV cache), the PyTorch run with a bf16 cache.
PYTORCH_DTYPE_OF = {"fp32-kv-bf16": "bf16"}
# PyTorch's implementations (bench/speed_reference.py), eager first, and their column names.
TORCH_IMPLS = ("pytorch-eager", "pytorch-compile", "pytorch-graph")
IMPL_NAME = {"pytorch-eager": "eager", "pytorch-compile": "compile", "pytorch-graph": "graph"}
SIZE_FIELDS = ("batch", "T", "prompt", "new_tokens")


# Matrix-product FLOPs (multiply-add = 2) of the model; biases, LayerNorm,
# softmax, GELU and the optimiser are left out. L layers, width C, vocabulary V.
#
#   one GPT forward of B sequences of T tokens:
#     F(B, T) = 2 B T (12 L C^2 + C V)            q, k, v, proj (4 C^2), MLP (8 C^2), LM head (C V)
#             + 2 * 2 B L C T^2 / 2               Q K^T and A V, causal half
#   grpo_update   = 4 F(B, T)                     policy forward + backward (3x), reference forward (1x)
#   pretrain_step = 3 F(B, T)                     forward + backward
#   generate      = F(B, P) + sum_{t=1}^{N-1} [ 2 B (12 L C^2 + C V) + 2 * 2 B L C (P + t) ]
#                   prefill of the P prompt tokens (it samples the first new token), then
#                   one forward per further new token t, its query over P + t cached keys.
def model_flops(workload, dims, batch, T, prompt, new_tokens):
    L, C, V = dims["n_layers"], dims["d_model"], dims["vocab"]
    per_token = 2 * (12 * L * C * C + C * V)

    def forward(B, T):
        return B * T * per_token + 2 * 2 * B * L * C * T * T / 2

    if workload == "grpo_update":
        return 4 * forward(batch, T)
    if workload == "pretrain_step":
        return 3 * forward(batch, T)
    if workload == "generate":
        decode = sum(batch * per_token + 2 * 2 * batch * L * C * (prompt + t) for t in range(1, new_tokens))
        return forward(batch, prompt) + decode
    return None


def read_rows(path):
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit("compare: %s:%d: not JSON (%s)" % (path, number, e))
    return rows


def ceilings(aha_rows, torch_rows):
    """dtype -> (TFLOP/s, who measured it): the aha file's matmul_peak rows, else PyTorch's."""
    found = {}
    for who, rows in (("PyTorch", torch_rows), ("aha", aha_rows)):  # aha's overwrite PyTorch's
        for r in rows:
            if r.get("workload") == "matmul_peak" and r.get("tflops"):
                found[r["dtype"]] = (float(r["tflops"]), who, r.get("n"))
    return found


def fmt_ms(ms):
    if ms is None:
        return "-"
    return "%.1f" % ms if ms >= 100 else "%.2f" % ms if ms >= 1 else "%.3f" % ms


def fmt_count(x):
    return "-" if x is None else "{:,.0f}".format(x)


def cell(row, field, fmt):
    """A row's value, or why it has none: "-" (no row), "oom", "skipped"."""
    if row is None:
        return "-"
    if row.get("oom"):
        return "oom"
    if row.get("skipped"):
        return "skipped"
    return fmt(row.get(field))


def timed(row):
    return row is not None and row.get("ms") is not None and not row.get("oom") and not row.get("skipped")


def ratio(torch_row, aha_row):
    """PyTorch ms / aha ms (> 1: aha faster); from tokens/s with a * where the sizes differ."""
    if not (timed(torch_row) and timed(aha_row)):
        return "-"
    if all(torch_row.get(f) == aha_row.get(f) for f in SIZE_FIELDS):
        return "%.2fx" % (torch_row["ms"] / aha_row["ms"])
    return "%.2fx*" % (aha_row["tokens_per_s"] / torch_row["tokens_per_s"])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python3 bench/compare.py AHA.jsonl TORCH.jsonl")
    aha_rows, torch_rows = read_rows(sys.argv[1]), read_rows(sys.argv[2])
    cases = {}  # (shape, workload, dtype) -> impl -> row (the last one wins)
    dims = {}  # shape -> {"n_layers", "d_model", "vocab"}
    shape_order = []
    for r in torch_rows + aha_rows:
        if r.get("workload") == "matmul_peak" or "shape" not in r:
            continue
        key = (r["shape"], r["workload"], r["dtype"])
        cases.setdefault(key, {})[r["impl"]] = r
        if r["shape"] not in shape_order:
            shape_order.append(r["shape"])
        if all(k in r for k in ("n_layers", "d_model", "vocab")):
            dims[r["shape"]] = {k: r[k] for k in ("n_layers", "d_model", "vocab")}
    peaks = ceilings(aha_rows, torch_rows)
    # PyTorch's columns: eager always; torch.compile and the CUDA-graphed generation where the file has them.
    others = [i for i in TORCH_IMPLS[1:] if any(i in impls for impls in cases.values())]
    shown = [TORCH_IMPLS[0]] + others

    def order(key):
        shape, workload, dtype = key
        return (shape_order.index(shape),
                WORKLOAD_ORDER.index(workload) if workload in WORKLOAD_ORDER else len(WORKLOAD_ORDER),
                DTYPE_ORDER.index(dtype) if dtype in DTYPE_ORDER else len(DTYPE_ORDER), workload, dtype)

    header = ["shape", "workload", "dtype", "batch x T", "aha ms"] + ["PyTorch %s ms" % IMPL_NAME[i] for i in shown]
    header += ["%s ms / aha ms" % IMPL_NAME[i] for i in shown]
    header += ["aha tok/s"] + ["PyTorch %s tok/s" % IMPL_NAME[i] for i in shown]
    header += ["aha TFLOP/s", "aha MFU"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for key in sorted(cases, key=order):
        shape, workload, dtype = key
        impls, label = cases[key], dtype
        if dtype in PYTORCH_DTYPE_OF:
            torch_impls = cases.get((shape, workload, PYTORCH_DTYPE_OF[dtype]), {})
            impls = dict(impls, **{k: v for k, v in torch_impls.items() if k != "aha"})
            label = "%s (PyTorch %s)" % (dtype, PYTORCH_DTYPE_OF[dtype])
        aha = impls.get("aha")
        theirs = [impls.get(i) for i in shown]
        size = " / ".join(dict.fromkeys("%s x %s" % (r.get("batch", "?"), r.get("T", "?"))
                                        for r in [aha] + theirs if r is not None))  # aha's first
        tflops = mfu = "-"
        if timed(aha) and shape in dims:
            flops = model_flops(workload, dims[shape], aha["batch"], aha["T"], aha["prompt"], aha["new_tokens"])
            if flops is not None:
                achieved = flops / (aha["ms"] * 1e-3) / 1e12
                tflops = "%.1f" % achieved
                peak = next((peaks[c][0] for c in CEILING_OF_DTYPE.get(dtype, ()) if c in peaks), None)
                mfu = "%.1f%%" % (100 * achieved / peak) if peak else "-"
        elif aha is not None and not timed(aha):
            tflops = mfu = cell(aha, "ms", fmt_ms)
        row = [shape, workload, label, size, cell(aha, "ms", fmt_ms)] + [cell(r, "ms", fmt_ms) for r in theirs]
        row += [ratio(r, aha) for r in theirs]
        row += [cell(aha, "tokens_per_s", fmt_count)] + [cell(r, "tokens_per_s", fmt_count) for r in theirs]
        row += [tflops, mfu]
        lines.append("| " + " | ".join(row) + " |")
    print("\n".join(lines))
    print()
    if peaks:
        print("Ceilings (matrix product n^3, MFU's denominator): " + "; ".join(
            "%s %.1f TFLOP/s (%s, n=%s)" % (dtype, tflops, who, n) for dtype, (tflops, who, n) in sorted(peaks.items())))
    else:
        print("Ceilings: none in either file (no MFU).")
    devices = sorted({r.get("device") for r in aha_rows + torch_rows if r.get("device")})
    if len(devices) > 1:
        print("Warning: the files name more than one device: %s" % "; ".join(devices))
    print("FLOPs: matrix products only, see model_flops in bench/compare.py; "
          "* = the sizes differ, ratio of tokens/s.")


if __name__ == "__main__":
    main()
