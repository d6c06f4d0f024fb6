#!/usr/bin/env python3
"""PyTorch speed baseline for aha: aha's GPT and GRPO work, timed in plain PyTorch.

The model is aha's GPT (bench/reference_gpt.py is the definition: separate q/k/v
projections with biases, learned positions, pre-LN blocks, tanh-GELU MLP of
width 4C, final LayerNorm, LM head tied to wte, LayerNorm eps 1e-5), written as
a PyTorch user would write it: nn.Linear (weights stored [out, in], which
changes neither the parameters nor the FLOPs), F.scaled_dot_product_attention,
nn.LayerNorm, F.gelu(approximate="tanh"), torch.optim.AdamW with its defaults.

  python3 bench/reference.py speed --device cuda --out torch.jsonl             # gpu-small + gpu-medium
  python3 bench/reference.py speed --device cuda --shapes gpu-small --compile  # also torch.compile
  python3 bench/reference.py speed --device cuda --workloads generate --graph   # also the CUDA-graphed loop
  python3 bench/reference.py speed --device cpu --shapes cpu-tiny --threads 2
  python3 bench/reference.py speed --selftest                                  # checks, CPU, seconds
  python3 bench/compare.py aha.jsonl torch.jsonl                               # the table

Workloads (one timed iteration each):

  grpo_update    B sequences of T tokens, the first `prompt` positions prompt
                 (mask 0), the rest completion (mask 1). Reference-model forward
                 under no_grad -> ref log-probs; policy forward + backward of the
                 GRPO loss (R1 eq. 1-3, k3 KL, beta 0.04, clip 0.2, per-token
                 weights mask / (|o_i| N)); clip_grad_norm_(1.0); AdamW step
                 (lr 1e-5, betas (0.9, 0.95), weight decay 0.1); zero_grad.
                 Inputs, targets, old log-probs and advantages are drawn once,
                 before timing (the targets stand in for the inputs shifted by
                 one). tokens/s = B * T / time.
  generate       B random prompts of `prompt` tokens, `new` tokens sampled each
                 (temperature 1, torch.multinomial on the device, no early stop),
                 the prompt prefilled in one forward, then one token per forward
                 against a KV cache [B, H, context, D] per layer, preallocated
                 and written in place; the decoding query attends through
                 F.scaled_dot_product_attention (--decode-attention explicit:
                 softmax(q k^T / sqrt(D)) v, slower on an H100). Timed from the
                 prefill to the last token, the cache's allocation inside.
                 tokens/s = B * new / time.
  pretrain_step  B x T cross-entropy forward + backward, clip_grad_norm_(1.0),
                 AdamW (lr 1e-3), zero_grad. tokens/s = B * T / time.
                 (Default for cpu-tiny only; ask with --workloads elsewhere.)

dtypes: "fp32" = float32 weights and activations, TF32 matrix products on CUDA;
"bf16" = float32 master weights under torch.autocast(bfloat16) for the update
and pretraining steps, and a bfloat16 copy of the weights with a bfloat16 KV
cache for generation. Each row's "precision" field says which.

Timing: warm-up (2 iterations of an update or step, 1 generation), then the
median of --repeats iterations, each between torch.cuda.synchronize() calls,
timed with time.perf_counter. Out of memory gives an "oom" row; with --compile
a torch.compile variant (mode default) that fails or takes over 300 s to
compile gives a "skipped" row. The same run measures the matrix-product
ceilings (8192^3 on CUDA: TF32 and bf16) that compare.py divides by.

With --graph, generation is also timed as generate_graphed: the same model, the
decoding step written with fixed shapes (index_copy_ into the cache, attention
over the whole cache under a mask of the positions <= pos), one step captured
in a CUDA graph and replayed for every further token, sampling by the
Gumbel-max trick; the cache is zeroed at allocation. CUDA only.

Output: one JSON object per line on stdout (and in --out). A case: impl
("pytorch-eager" | "pytorch-compile" | "pytorch-graph"), shape, workload, dtype, batch, T,
prompt, new_tokens, ms (median), tokens_per_s, params, device, precision, and
the model's d_model, n_layers, n_heads, vocab, context; ms and tokens_per_s are
null with "oom": true or "skipped": "why". A ceiling: {"impl": "pytorch",
"workload": "matmul_peak", "dtype": "tf32" | "bf16" ("fp32" on the CPU), "n",
"ms", "tflops"}. Progress goes to stderr.
"""

import argparse
import contextlib
import copy
import gc
import json
import math
import os
import platform
import signal
import statistics
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-5
INIT_STD = 0.02  # GPT-2's initialisation; the values do not matter for speed

# GRPO (R1 eq. 1-3) and optimiser settings of the timed update
CLIP_EPS = 0.2
KL_BETA = 0.04
GRPO_LR = 1e-5
PRETRAIN_LR = 1e-3
ADAM_BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.1
GRAD_CLIP = 1.0
TEMPERATURE = 1.0

WARMUP_STEPS = 2  # grpo_update and pretrain_step
WARMUP_GENERATIONS = 1
COMPILE_TIMEOUT_S = 300
MATMUL_REPEATS_PER_SAMPLE = {"cuda": 10, "cpu": 1}  # products per timed sample of the ceiling
MATMUL_N = {"cuda": 8192, "cpu": 2048}

# Single-query attention over the cache prefix while decoding: "sdpa" calls
# F.scaled_dot_product_attention, "explicit" writes softmax(q k^T / sqrt(D)) v.
# sdpa is the default, the faster of the two on an H100 (torch 2.11, eager, ms
# per generation, sdpa / explicit): gpu-small fp32 617 / 712, bf16 609 / 957;
# gpu-medium fp32 1227 / 1259, bf16 877 / 1375.
DECODE_ATTENTIONS = ("sdpa", "explicit")


@dataclass(frozen=True)
class Shape:
    """One of aha's presets (model/config.cpp) and the default sizes of the work timed on it."""

    vocab: int
    context: int
    d_model: int
    n_layers: int
    n_heads: int
    update_batch: int  # grpo_update: sequences per update (T = context)
    gen_batch: int  # generate: prompts per batch
    pretrain_batch: int  # pretrain_step: sequences per step (T = context)
    prompt: int  # prompt tokens of an update row or a generation
    new_tokens: int  # tokens generated per prompt
    workloads: tuple  # timed unless --workloads says otherwise


# Vocabulary 56: aha's arithmetic tokenizer. cpu-tiny runs GRPO at context 128 (grpo/presets.cpp).
SHAPES = {
    "cpu-tiny": Shape(56, 128, 128, 4, 4, update_batch=16, gen_batch=16, pretrain_batch=16, prompt=32,
                      new_tokens=96, workloads=("grpo_update", "generate", "pretrain_step")),
    "gpu-small": Shape(56, 256, 384, 6, 6, update_batch=512, gen_batch=512, pretrain_batch=64, prompt=64,
                       new_tokens=192, workloads=("grpo_update", "generate")),
    "gpu-medium": Shape(56, 256, 768, 12, 12, update_batch=256, gen_batch=256, pretrain_batch=64, prompt=64,
                        new_tokens=192, workloads=("grpo_update", "generate")),
}
WORKLOADS = ("grpo_update", "generate", "pretrain_step")
DTYPES = ("fp32", "bf16")
PRECISION = {
    ("fp32", "train"): "float32 weights and activations; TF32 matmuls on CUDA",
    ("bf16", "train"): "float32 master weights, torch.autocast(bfloat16)",
    ("fp32", "generate"): "float32 weights and KV cache; TF32 matmuls on CUDA",
    ("bf16", "generate"): "bfloat16 weights and KV cache (model.to(bfloat16))",
}


# ---- the model ----


class CausalSelfAttention(nn.Module):
    def __init__(self, s, decode_attention):
        super().__init__()
        C = s.d_model
        self.n_heads = s.n_heads
        self.decode_attention = decode_attention
        self.q, self.k, self.v, self.c_proj = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)

    def forward(self, x, kv_cache=None, pos=0):
        """x [B, T, C] at positions pos .. pos+T-1 -> [B, T, C].

        Without a cache: causal attention over the T positions (training).
        With one (k, v each [B, H, context, D]): k and v are written at
        pos .. pos+T-1; then either a prefill (pos 0, causal over the T
        positions) or one decoding query (T 1) over the cache's first pos+1.
        """
        B, T, C = x.shape
        H = self.n_heads
        D = C // H
        q, k, v = (proj(x).view(B, T, H, D).transpose(1, 2) for proj in (self.q, self.k, self.v))  # [B, H, T, D]
        if kv_cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k_cache, v_cache = kv_cache
            k_cache[:, :, pos:pos + T] = k
            v_cache[:, :, pos:pos + T] = v
            if T > 1:
                assert pos == 0, "a prefill starts the sequence"
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                y = decode_attention(q, k_cache[:, :, :pos + 1], v_cache[:, :, :pos + 1], self.decode_attention)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads merged
        return self.c_proj(y)


def decode_attention(q, k, v, how):
    """One query per head over every cached key: q [B, H, 1, D], k and v [B, H, Tk, D] -> [B, H, 1, D].

    No mask: the query is the newest position and sees all of them (is_causal
    would align the query with key 0 and hide the rest). how: "sdpa" or "explicit".
    """
    if how == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # [B, H, 1, Tk]
    return torch.softmax(scores, dim=-1) @ v


class MLP(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.c_fc = nn.Linear(s.d_model, 4 * s.d_model)
        self.c_proj = nn.Linear(4 * s.d_model, s.d_model)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, s, decode_attention):
        super().__init__()
        self.ln_1 = nn.LayerNorm(s.d_model, eps=LN_EPS)
        self.attn = CausalSelfAttention(s, decode_attention)
        self.ln_2 = nn.LayerNorm(s.d_model, eps=LN_EPS)
        self.mlp = MLP(s)

    def forward(self, x, kv_cache=None, pos=0):
        x = x + self.attn(self.ln_1(x), kv_cache, pos)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """aha's GPT; parameter names are reference_gpt.param_shapes()'s.

    decode_attention: how a decoding query attends to the KV cache, "sdpa" or "explicit".
    """

    def __init__(self, s, decode_attention="sdpa"):
        super().__init__()
        self.wte = nn.Embedding(s.vocab, s.d_model)
        self.wpe = nn.Embedding(s.context, s.d_model)
        self.h = nn.ModuleList(Block(s, decode_attention) for _ in range(s.n_layers))
        self.ln_f = nn.LayerNorm(s.d_model, eps=LN_EPS)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                nn.init.normal_(p, std=INIT_STD)

    def forward(self, tokens, kv_caches=None, pos=0):
        """tokens [B, T] at positions pos .. pos+T-1 -> logits [B, T, V]; kv_caches: one (k, v) per layer."""
        T = tokens.shape[1]
        x = self.wte(tokens) + self.wpe.weight[pos:pos + T]  # [B, T, C]
        for layer, block in enumerate(self.h):
            x = block(x, None if kv_caches is None else kv_caches[layer], pos)
        return F.linear(self.ln_f(x), self.wte.weight)  # LM head tied to wte


def param_count_formula(s):
    """aha's parameter count: wte, wpe, per block 2 LayerNorms + q, k, v, proj + MLP, final LayerNorm."""
    C = s.d_model
    block = 2 * 2 * C + 4 * (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    return s.vocab * C + s.context * C + s.n_layers * block + 2 * C


# ---- GRPO ----


def token_logprobs(logits, targets):
    """log pi(target_t | tokens_<=t) = log_softmax(logits)[target]: logits [B, T, V], targets [B, T] -> [B, T]."""
    return F.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def grpo_token_weights(mask):
    """GRPO's average (R1 eq. 1): mean over completions of the per-completion token mean.

    w_it = mask_it / (|o_i| N), mask [N, T]; rows without a token weigh 0 and do not count in N.
    """
    lengths = mask.sum(dim=1, keepdim=True)  # |o_i|, [N, 1]
    rows = (lengths > 0).sum()
    return mask / (lengths.clamp(min=1) * rows)


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, weights):
    """-J(theta), every argument [N, T] (advantages A_i repeated over the tokens of row i):

      J = sum_{i,t} w_it [ min(rho_it A_i, clip(rho_it, 1 - eps, 1 + eps) A_i) - beta KL_it ]
      rho_it = exp(log pi_theta - log pi_old)                        (R1 eq. 1)
      KL_it  = pi_ref/pi_theta - log(pi_ref/pi_theta) - 1            (R1 eq. 2, the k3 estimator)
    """
    ratio = torch.exp(logprobs - old_logprobs)
    surrogate = torch.minimum(ratio * advantages, torch.clamp(ratio, 1 - CLIP_EPS, 1 + CLIP_EPS) * advantages)
    log_ref_ratio = ref_logprobs - logprobs
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1
    return -(weights * (surrogate - KL_BETA * kl)).sum()


def make_optimizer(model, lr):
    # PyTorch's default AdamW: the foreach implementation for CUDA tensors
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=ADAM_BETAS, weight_decay=WEIGHT_DECAY)


def autocast_for(dtype, device):
    if dtype == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def grpo_update_step(policy, reference, optimizer, batch, dtype, device):
    """One GRPO update on a fixed batch: the reference pass, the policy's loss, backward, clip, AdamW."""
    with torch.no_grad(), autocast_for(dtype, device):
        ref_logprobs = token_logprobs(reference(batch["inputs"]), batch["targets"])
    with autocast_for(dtype, device):
        logprobs = token_logprobs(policy(batch["inputs"]), batch["targets"])
        loss = grpo_loss(logprobs, batch["old_logprobs"], ref_logprobs, batch["advantages"], batch["weights"])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), GRAD_CLIP)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def grpo_batch(model, s, B, T, prompt, device, gen):
    """Random inputs [B, T] and targets, mask 0 on the prompt, advantages, and old log-probs
    from the initial policy plus a little noise (ratios near 1, as after sampling)."""
    inputs = torch.randint(0, s.vocab, (B, T), generator=gen).to(device)
    targets = torch.randint(0, s.vocab, (B, T), generator=gen).to(device)
    mask = torch.zeros(B, T)
    mask[:, prompt:] = 1.0
    advantages = torch.randn(B, 1, generator=gen).expand(B, T).contiguous()
    noise = 0.01 * torch.randn(B, T, generator=gen)
    with torch.no_grad():
        old_logprobs = token_logprobs(model(inputs), targets) + noise.to(device)
    return {"inputs": inputs, "targets": targets, "old_logprobs": old_logprobs,
            "advantages": advantages.to(device), "weights": grpo_token_weights(mask).to(device)}


# ---- generation ----


@torch.no_grad()
def generate(model, prompts, new_tokens, s, dtype):
    """prompts [B, P] -> sampled tokens [B, new_tokens]: prefill, then one forward per token.

    `model` is the GPT of shape s or its torch.compile wrapper, with weights of `dtype` (the cache's).
    """
    B, P = prompts.shape
    H, D = s.n_heads, s.d_model // s.n_heads
    kv_caches = [(torch.empty(B, H, s.context, D, dtype=dtype, device=prompts.device),
                  torch.empty(B, H, s.context, D, dtype=dtype, device=prompts.device)) for _ in range(s.n_layers)]
    out = torch.empty(B, new_tokens, dtype=torch.long, device=prompts.device)
    logits = model(prompts, kv_caches, 0)[:, -1]  # [B, V]
    for t in range(new_tokens):
        probs = F.softmax(logits.float() / TEMPERATURE, dim=-1)
        token = torch.multinomial(probs, 1)  # [B, 1]
        out[:, t] = token[:, 0]
        if t + 1 < new_tokens:
            logits = model(token, kv_caches, P + t)[:, -1]
    return out


# ---- generation as one CUDA graph per token (the tight loop of issue 17) ----


def decode_static(model, token, pos, kv_caches, s):
    """One decoding step in which no shape changes with the step, so that it can be captured in a CUDA graph:
    token [B, 1] at position pos (a [1] long tensor on the device) -> logits [B, V].

    generate() writes the cache at pos:pos+1 and attends to its first pos + 1 keys,
    shapes that grow every step; here the key and value go in with index_copy_ at pos and
    the query attends to the whole cache under a mask of the positions <= pos (the cache
    must start zeroed: a masked key gets weight 0, and 0 x NaN garbage would be NaN).
    """
    B = token.shape[0]
    H, D = s.n_heads, s.d_model // s.n_heads
    visible = (torch.arange(s.context, device=token.device) <= pos)[None]  # [1 query, context], broadcast over B, H
    x = model.wte(token) + model.wpe(pos)[None]  # [B, 1, C]
    for block, (k_cache, v_cache) in zip(model.h, kv_caches):
        a = block.attn
        h = block.ln_1(x)
        q, k, v = (proj(h).view(B, 1, H, D).transpose(1, 2) for proj in (a.q, a.k, a.v))  # [B, H, 1, D]
        k_cache.index_copy_(2, pos, k)
        v_cache.index_copy_(2, pos, v)
        y = F.scaled_dot_product_attention(q, k_cache, v_cache, attn_mask=visible)
        x = x + a.c_proj(y.transpose(1, 2).reshape(B, 1, H * D))
        x = x + block.mlp(block.ln_2(x))
    return F.linear(model.ln_f(x), model.wte.weight)[:, -1]


def sample_gumbel(logits):
    """A token per row from softmax(logits / T) [B, V] -> [B, 1], as the Gumbel-max trick: argmax of
    logits / T - log E with E ~ Exp(1) (-log E is a Gumbel variable). Unlike torch.multinomial it is a
    few elementwise kernels and an argmax, which a CUDA graph captures and replays with fresh noise."""
    noise = torch.empty_like(logits, dtype=torch.float32).exponential_()
    return (logits.float() / TEMPERATURE - noise.log()).argmax(dim=-1, keepdim=True)


@torch.no_grad()
def generate_graphed(model, prompts, new_tokens, s, dtype):
    """generate()'s work with the decoding steps replayed from one CUDA graph: prefill eagerly, run
    one decoding step eagerly (on a side stream, as capture requires), capture the next, replay it
    for the rest. On the CPU (selftest) every step runs eagerly. prompts [B, P] -> tokens [B, new_tokens]."""
    B, P = prompts.shape
    H, D = s.n_heads, s.d_model // s.n_heads
    device = prompts.device
    kv_caches = [(torch.zeros(B, H, s.context, D, dtype=dtype, device=device),
                  torch.zeros(B, H, s.context, D, dtype=dtype, device=device)) for _ in range(s.n_layers)]
    out = torch.empty(B, new_tokens, dtype=torch.long, device=device)
    token = sample_gumbel(model(prompts, kv_caches, 0)[:, -1])  # [B, 1]: the graph's input and output
    out[:, 0] = token[:, 0]
    pos = torch.full((1,), P, dtype=torch.long, device=device)  # where the fed token goes
    step = torch.ones(1, dtype=torch.long, device=device)  # which column of out the drawn token fills

    def one_step():
        token.copy_(sample_gumbel(decode_static(model, token, pos, kv_caches, s)))
        out.index_copy_(1, step, token)
        pos.add_(1)
        step.add_(1)

    if new_tokens < 2:
        return out
    if device.type != "cuda":
        for _ in range(new_tokens - 1):
            one_step()
        return out
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        one_step()  # step 1, eagerly: the warm-up capture needs
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        one_step()  # recorded, not run
    for _ in range(new_tokens - 2):
        graph.replay()
    return out


# ---- timing ----


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


class CompileTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    """Raise CompileTimeout in the main thread after `seconds` (SIGALRM; Unix).

    Also on leaving the block, in case the compiler caught the first one and carried on.
    """
    expired = []

    def expire(signum, frame):
        expired.append(True)
        raise CompileTimeout("compile took over %d s" % seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if expired:
        raise CompileTimeout("compile took over %d s" % seconds)


def median_ms(fn, warmup, repeats, device, compiled=False):
    """Median wall time of fn() in ms after `warmup` calls; a compiled fn compiles in its warm-up."""
    with time_limit(COMPILE_TIMEOUT_S) if compiled else contextlib.nullcontext():
        for _ in range(warmup):
            fn()
        synchronize(device)
    samples = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return 1e3 * statistics.median(samples)


def time_case(s, workload, dtype, sizes, device, compiled, repeats, seed, decode_attention, graphed=False):
    """(ms, params) of one case; builds its own model so that everything is freed when it returns.
    graphed: generation through generate_graphed (one CUDA graph per token)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = GPT(s, decode_attention).to(device)
    params = sum(p.numel() for p in model.parameters())
    B, T = sizes["batch"], sizes["T"]
    if workload == "grpo_update":
        reference = copy.deepcopy(model).requires_grad_(False).eval()
        batch = grpo_batch(model, s, B, T, sizes["prompt"], device, gen)
        optimizer = make_optimizer(model, GRPO_LR)
        policy_fn = torch.compile(model) if compiled else model
        reference_fn = torch.compile(reference) if compiled else reference

        def run():
            grpo_update_step(policy_fn, reference_fn, optimizer, batch, dtype, device)

        warmup = WARMUP_STEPS
    elif workload == "pretrain_step":
        inputs = torch.randint(0, s.vocab, (B, T), generator=gen).to(device)
        targets = torch.randint(0, s.vocab, (B, T), generator=gen).to(device)
        optimizer = make_optimizer(model, PRETRAIN_LR)
        model_fn = torch.compile(model) if compiled else model

        def run():
            with autocast_for(dtype, device):
                logits = model_fn(inputs)
                loss = F.cross_entropy(logits.reshape(B * T, s.vocab).float(), targets.reshape(B * T))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        warmup = WARMUP_STEPS
    elif workload == "generate":
        weights_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        model = model.to(weights_dtype).eval()
        prompts = torch.randint(0, s.vocab, (B, sizes["prompt"]), generator=gen).to(device)
        model_fn = torch.compile(model) if compiled else model
        loop = generate_graphed if graphed else generate

        def run():
            torch.manual_seed(seed)  # every timed generation samples the same tokens
            loop(model_fn, prompts, sizes["new_tokens"], s, weights_dtype)

        warmup = WARMUP_GENERATIONS
    else:
        raise ValueError("unknown workload %r (workloads: %s)" % (workload, ", ".join(WORKLOADS)))
    return median_ms(run, warmup, repeats, device, compiled), params


def matmul_ceiling(device, dtype, n, repeats):
    """TFLOP/s of an n^3 product of random matrices ("tf32": float32 tensors with TF32 allowed)."""
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=torch_dtype)
    b = torch.randn(n, n, device=device, dtype=torch_dtype)
    c = torch.empty(n, n, device=device, dtype=torch_dtype)
    per_sample = MATMUL_REPEATS_PER_SAMPLE[device.type]

    def run():
        for _ in range(per_sample):
            torch.matmul(a, b, out=c)

    ms = median_ms(run, warmup=2, repeats=repeats, device=device) / per_sample
    return ms, 2.0 * n ** 3 / (ms * 1e-3) / 1e12


# ---- the command ----


def case_sizes(s, workload, args):
    """batch, T, prompt, new_tokens of one case: the shape's defaults unless overridden."""
    if workload == "generate":
        prompt = args.prompt or s.prompt
        new_tokens = args.new or s.new_tokens
        sizes = {"batch": args.batch or s.gen_batch, "T": prompt + new_tokens, "prompt": prompt,
                 "new_tokens": new_tokens}
    elif workload == "grpo_update":
        T = args.T or s.context
        prompt = args.prompt or s.prompt
        sizes = {"batch": args.batch or s.update_batch, "T": T, "prompt": prompt, "new_tokens": T - prompt}
    else:
        sizes = {"batch": args.batch or s.pretrain_batch, "T": args.T or s.context, "prompt": 0, "new_tokens": 0}
    if sizes["T"] > s.context or (workload != "pretrain_step" and sizes["prompt"] >= sizes["T"]):
        sys.exit("speed: %s: T %d (prompt %d + new %d) must fit the context %d with prompt < T"
                 % (workload, sizes["T"], sizes["prompt"], sizes["new_tokens"], s.context))
    return sizes


def tokens_per_s(workload, sizes, ms):
    tokens = sizes["batch"] * (sizes["new_tokens"] if workload == "generate" else sizes["T"])
    return tokens / (ms * 1e-3)


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name()
    return "cpu (%s, %d threads)" % (platform.processor() or platform.machine(), torch.get_num_threads())


def split_list(text, known, what):
    items = [x for x in text.split(",") if x]
    unknown = [x for x in items if x not in known]
    if unknown:
        sys.exit("speed: unknown %s %s (known: %s)" % (what, ", ".join(unknown), ", ".join(known)))
    return items


def add_arguments(parser):
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--shapes", default=None,
                        help="comma-separated: %s (default: gpu-small,gpu-medium on cuda, cpu-tiny on cpu)"
                        % ",".join(SHAPES))
    parser.add_argument("--workloads", default=None,
                        help="comma-separated: %s (default: each shape's own)" % ",".join(WORKLOADS))
    parser.add_argument("--dtypes", default="fp32,bf16", help="comma-separated: fp32,bf16")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(model) (mode default)")
    parser.add_argument("--graph", action="store_true",
                        help="also time generation with each decoding step replayed from one CUDA graph "
                             "(generate_graphed; CUDA only)")
    parser.add_argument("--repeats", type=int, default=10, help="timed iterations; the median is reported")
    parser.add_argument("--batch", type=int, help="override every workload's batch")
    parser.add_argument("--T", type=int, help="override the sequence length of grpo_update and pretrain_step")
    parser.add_argument("--prompt", type=int, help="override the prompt length")
    parser.add_argument("--new", type=int, help="override the tokens generated per prompt")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (default: all cores)")
    parser.add_argument("--decode-attention", choices=DECODE_ATTENTIONS, default=DECODE_ATTENTIONS[0],
                        help="single-query attention while decoding (default: %(default)s)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the matrix-product ceilings")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the JSON lines to this file")
    parser.add_argument("--selftest", action="store_true", help="check the model and the loss on the CPU, then exit")


def measure(s, shape_name, workload, dtype, impl, args, device, name):
    """One case's JSON row: timed, or marked "oom" / "skipped"."""
    sizes = case_sizes(s, workload, args)
    row = {"impl": impl, "shape": shape_name, "workload": workload, "dtype": dtype, **sizes,
           "ms": None, "tokens_per_s": None, "params": param_count_formula(s), "device": name,
           "precision": PRECISION[(dtype, "generate" if workload == "generate" else "train")],
           "repeats": args.repeats, "torch": torch.__version__, "d_model": s.d_model, "n_layers": s.n_layers,
           "n_heads": s.n_heads, "vocab": s.vocab, "context": s.context}
    if workload == "generate":
        row["decode_attention"] = args.decode_attention
    if device.type == "cpu":
        row["threads"] = torch.get_num_threads()
    label = "%s %s %s %s B=%d T=%d" % (impl, shape_name, workload, dtype, sizes["batch"], sizes["T"])
    print("speed: %s ..." % label, file=sys.stderr, flush=True)
    compiled = impl == "pytorch-compile"
    try:
        ms, row["params"] = time_case(s, workload, dtype, sizes, device, compiled, args.repeats, args.seed,
                                      args.decode_attention, graphed=impl == "pytorch-graph")
        row["ms"], row["tokens_per_s"] = ms, tokens_per_s(workload, sizes, ms)
        outcome = "%.2f ms, %.0f tokens/s" % (ms, row["tokens_per_s"])
    except torch.OutOfMemoryError:
        row["oom"] = True
        outcome = "out of memory"
    except Exception as e:  # a compile or graph-capture failure is a result; an eager failure is a bug
        if impl == "pytorch-eager":
            raise
        cause = e  # the compiler wraps the error that stopped it, once or more
        while (cause.__cause__ or getattr(cause, "inner_exception", None)) is not None:
            cause = cause.__cause__ or cause.inner_exception
        lines = str(cause).strip().splitlines()
        row["skipped"] = "%s: %s" % (type(cause).__name__, lines[0][:200] if lines else "")
        outcome = "skipped (%s)" % row["skipped"]
    if compiled:
        torch._dynamo.reset()
    gc.collect()  # the case's tensors, before the next case allocates
    if device.type == "cuda":
        torch.cuda.empty_cache()
    print("speed: %s: %s" % (label, outcome), file=sys.stderr, flush=True)
    return row


def run(args):
    if args.selftest:
        selftest()
        return
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("speed: --device cuda asked for, but torch sees no CUDA device (torch %s)" % torch.__version__)
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    shapes = split_list(args.shapes or ("gpu-small,gpu-medium" if device.type == "cuda" else "cpu-tiny"),
                        SHAPES, "shape")
    dtypes = split_list(args.dtypes, DTYPES, "dtype")
    impls = ["pytorch-eager"] + (["pytorch-compile"] if args.compile else [])
    name = device_name(device)
    out_file = open(args.out, "w") if args.out else None

    def emit(row):
        line = json.dumps(row)
        print(line, flush=True)
        if out_file:
            out_file.write(line + "\n")
            out_file.flush()

    print("speed: torch %s on %s" % (torch.__version__, name), file=sys.stderr, flush=True)
    if not args.no_ceiling:
        n = MATMUL_N[device.type]
        for dtype in ("tf32" if device.type == "cuda" else "fp32", "bf16"):
            ms, tflops = matmul_ceiling(device, dtype, n, args.repeats)
            print("speed: matmul %d^3 %s: %.3f ms, %.1f TFLOP/s" % (n, dtype, ms, tflops), file=sys.stderr, flush=True)
            emit({"impl": "pytorch", "workload": "matmul_peak", "dtype": dtype, "n": n, "ms": ms,
                  "tflops": tflops, "device": name, "torch": torch.__version__})
    for shape_name in shapes:
        s = SHAPES[shape_name]
        workloads = split_list(args.workloads, WORKLOADS, "workload") if args.workloads else s.workloads
        for workload in workloads:
            for dtype in dtypes:
                # The CUDA-graphed loop is generation's alone, and the GPU's.
                graph = ["pytorch-graph"] if args.graph and workload == "generate" and device.type == "cuda" else []
                for impl in impls + graph:
                    emit(measure(s, shape_name, workload, dtype, impl, args, device, name))
    if out_file:
        out_file.close()


# ---- self-test: python3 bench/reference.py speed --selftest ----


def selftest():
    """The model is reference_gpt's, the cache decodes what the full forward computes, the loss is R1's."""
    import reference_gpt

    torch.manual_seed(0)
    # Parameter count: the formula, the module, and reference_gpt's list agree for every shape.
    for name, s in SHAPES.items():
        with torch.device("meta"):
            n_module = sum(p.numel() for p in GPT(s).parameters())
        config = {"vocab_size": s.vocab, "context": s.context, "d_model": s.d_model, "n_layers": s.n_layers,
                  "n_heads": s.n_heads}
        n_reference = sum(math.prod(shape) for _, shape in reference_gpt.param_shapes(config))
        assert n_module == param_count_formula(s) == n_reference, (name, n_module, n_reference)
        print("selftest: %s has %d parameters (formula, module and reference_gpt agree)" % (name, n_module),
              file=sys.stderr)
    C = 384
    hand = 56 * C + 256 * C + 6 * (4 * C + 4 * (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)) + 2 * C
    assert hand == param_count_formula(SHAPES["gpu-small"]), hand

    # The module's logits are reference_gpt.gpt_forward's (float64; nn.Linear stores W^T).
    s = Shape(13, 16, 32, 2, 4, 0, 0, 0, 4, 8, ())
    model = GPT(s).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    params = {k: (v.T if v.dim() == 2 and not k.startswith(("wte", "wpe")) else v)
              for k, v in model.state_dict().items()}
    config = {"vocab_size": s.vocab, "context": s.context, "d_model": s.d_model, "n_layers": s.n_layers,
              "n_heads": s.n_heads}
    tokens = torch.randint(0, s.vocab, (3, 12))
    with torch.no_grad():
        logits = model(tokens)
        expected = reference_gpt.gpt_forward(params, config, tokens).view(3, 12, s.vocab)
    assert torch.allclose(logits, expected, atol=1e-10), (logits - expected).abs().max()
    print("selftest: forward matches reference_gpt.gpt_forward", file=sys.stderr)

    # Prefill + cached decoding give the full forward's logits, with both decode attentions.
    for attention in DECODE_ATTENTIONS:
        for block in model.h:
            block.attn.decode_attention = attention
        H, D = s.n_heads, s.d_model // s.n_heads
        kv_caches = [(torch.zeros(3, H, s.context, D, dtype=torch.float64),
                      torch.zeros(3, H, s.context, D, dtype=torch.float64)) for _ in range(s.n_layers)]
        with torch.no_grad():
            steps = [model(tokens[:, :5], kv_caches, 0)]
            steps += [model(tokens[:, t:t + 1], kv_caches, t) for t in range(5, 12)]
        assert torch.allclose(torch.cat(steps, dim=1), logits, atol=1e-10), attention
    out = generate(model, tokens[:, :5], 7, s, torch.float64)
    assert out.shape == (3, 7) and int(out.min()) >= 0 and int(out.max()) < s.vocab
    print("selftest: KV-cache decoding matches the full forward (sdpa and explicit)", file=sys.stderr)

    # The static decoding step (a masked, whole-cache attention) gives the full forward's logits too.
    kv_caches = [(torch.zeros(3, H, s.context, D, dtype=torch.float64),
                  torch.zeros(3, H, s.context, D, dtype=torch.float64)) for _ in range(s.n_layers)]
    with torch.no_grad():
        steps = [model(tokens[:, :5], kv_caches, 0)[:, -1]]
        steps += [decode_static(model, tokens[:, t:t + 1], torch.tensor([t]), kv_caches, s) for t in range(5, 12)]
    assert torch.allclose(torch.stack(steps, dim=1), logits[:, 4:], atol=1e-10)
    out = generate_graphed(model, tokens[:, :5], 7, s, torch.float64)
    assert out.shape == (3, 7) and int(out.min()) >= 0 and int(out.max()) < s.vocab
    # Gumbel-max draws from softmax(logits): the frequencies of 20000 draws from 3 logits.
    draws = sample_gumbel(torch.log(torch.tensor([[0.2, 0.3, 0.5]])).expand(20000, 3))[:, 0]
    freq = torch.bincount(draws, minlength=3).double() / 20000
    assert torch.allclose(freq, torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64), atol=0.015), freq
    print("selftest: the static decoding step matches the full forward; Gumbel-max samples the softmax",
          file=sys.stderr)

    # GRPO loss, case 1: pi = pi_old = pi_ref, so rho = 1 and KL = 0, and the loss is -mean_i A_i.
    N, T, prompt = 4, 10, 3
    mask = torch.zeros(N, T, dtype=torch.float64)
    for i, length in enumerate((7, 5, 1, 0)):  # the last row is empty: weight 0, not counted in N
        mask[i, prompt:prompt + length] = 1.0
    weights = grpo_token_weights(mask)
    A = torch.tensor([0.5, -1.0, 2.0, 3.0], dtype=torch.float64)
    advantages = A[:, None].expand(N, T)
    logprobs = -torch.rand(N, T, dtype=torch.float64) - 0.1
    loss = grpo_loss(logprobs, logprobs, logprobs, advantages, weights)
    assert abs(loss.item() - -(0.5 - 1.0 + 2.0) / 3) < 1e-12, loss.item()

    # Case 2: arbitrary log-probs against a per-token loop over the formula of grpo_loss's docstring.
    old = logprobs + 0.3 * torch.randn(N, T, dtype=torch.float64)
    ref = logprobs + 0.3 * torch.randn(N, T, dtype=torch.float64)
    J = 0.0
    completions = [i for i in range(N) if mask[i].sum() > 0]
    for i in completions:
        o_i = float(mask[i].sum())
        for t in range(T):
            if mask[i, t] == 0:
                continue
            rho = math.exp(logprobs[i, t] - old[i, t])
            clipped = min(max(rho, 1 - CLIP_EPS), 1 + CLIP_EPS)
            r = math.exp(ref[i, t] - logprobs[i, t])
            kl = r - math.log(r) - 1
            J += (min(rho * A[i].item(), clipped * A[i].item()) - KL_BETA * kl) / (o_i * len(completions))
    loss = grpo_loss(logprobs, old, ref, advantages, weights)
    assert abs(loss.item() - -J) < 1e-12, (loss.item(), -J)
    print("selftest: GRPO loss matches the hand computation (rho 1 / KL 0, and arbitrary values)",
          file=sys.stderr)

    # One update and one pretraining step run end to end (CPU, bf16 autocast included).
    s = Shape(56, 32, 32, 2, 2, 4, 4, 4, 8, 8, ())
    args = argparse.Namespace(batch=None, T=None, prompt=None, new=None)
    for workload in ("grpo_update", "pretrain_step", "generate"):
        for dtype in DTYPES:
            time_case(s, workload, dtype, case_sizes(s, workload, args), torch.device("cpu"), False, 1, 0, "sdpa")
    print("selftest: ok", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
