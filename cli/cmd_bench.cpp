// `aha bench ops --device cpu|cuda`: every tensor op timed at a size where its
// speed matters (64M floats elementwise, rows of 4096 for softmax and
// layernorm, a 50257-token vocabulary for the losses, the matrix products of a
// d=768 GPT), printed as a table. Benchmarks never gate a test.
//
// Bandwidth is "effective": the bytes an op must move at the least (each input
// read once, each output written once) over its time. On CUDA it is also shown
// as a share of a device-to-device copy measured in the same run, the practical
// ceiling of a memory-bound kernel; matrix products show TFLOP/s and their
// share of an 8192^3 TF32 product measured in the same run.
// Times: CUDA events on aha's stream (warm-up first, then the median of
// --repeats samples, each sample several back-to-back calls); the CPU uses a
// steady clock the same way.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "tensor/tensor.h"

#if AHA_CUDA
#include "tensor/cuda/check.h"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/stream.h"
#endif

namespace aha {
namespace {

struct BenchOptions {
  std::string device = "cpu";
  int repeats = 10;  // timed samples per op; the median is reported
};

// The sizes: large on a GPU, a quarter (or less) on a CPU so the run takes a
// minute, not an hour.
struct BenchSizes {
  int64_t elements;        // elementwise ops, all-reductions, the optimiser
  int64_t rows, cols;      // row-wise ops: softmax, layernorm, reductions over the last dim
  int64_t loss_rows;       // rows of logits for the losses
  int64_t vocab;           // GPT-2's vocabulary
  int64_t tokens;          // B*T for the matrix products and the embedding
  int64_t heads, seq;      // attention
};

BenchSizes sizes_for(Device device) {
  if (device == Device::CUDA) return {int64_t(1) << 26, 16384, 4096, 2048, 50257, 8192, 96, 1024};
  return {int64_t(1) << 24, 4096, 4096, 256, 50257, 256, 12, 256};
}

struct Row {
  std::string op, shape;
  double ms, bytes, flops;  // bytes moved at the least; flops for matrix products (else 0)
};

std::string shape_str(std::initializer_list<int64_t> dims) { return Shape(dims).str(); }

std::string format(const char* spec, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, value);
  return buf;
}

class OpBench {
 public:
  OpBench(Device device, int repeats) : device_(device), repeats_(repeats) {
#if AHA_CUDA
    if (device_ == Device::CUDA) {
      AHA_CUDA_CHECK(cudaEventCreate(&start_));
      AHA_CUDA_CHECK(cudaEventCreate(&stop_));
    }
#endif
  }
  ~OpBench() {
#if AHA_CUDA
    if (device_ == Device::CUDA) {
      cudaEventDestroy(start_);
      cudaEventDestroy(stop_);
    }
#endif
  }
  OpBench(const OpBench&) = delete;
  OpBench& operator=(const OpBench&) = delete;

  // Times `fn` and records a row. Returns the median milliseconds per call.
  double run(const std::string& op, const std::string& shape, double bytes, double flops,
             const std::function<void()>& fn) {
    std::cerr << "bench: " << op << " " << shape << "\n";
    double first = time_calls(fn, 1);  // warm-up: first-touch allocations, cuBLAS heuristics
    first = std::min(first, time_calls(fn, 1));
    // Each sample lasts about 2 ms on a GPU (launch gaps vanish in the queue)
    // and 20 ms on a CPU.
    double target_ms = device_ == Device::CUDA ? 2.0 : 20.0;
    int calls = (int)std::clamp(target_ms / std::max(first, 1e-4), 1.0, 200.0);
    std::vector<double> samples;
    for (int i = 0; i < repeats_; ++i) samples.push_back(time_calls(fn, calls));
    std::sort(samples.begin(), samples.end());
    double median = samples[samples.size() / 2];
    rows_.push_back({op, shape, median, bytes, flops});
    return median;
  }

  // A Markdown table: op, shape, ms, GB/s, then on CUDA % of copy, TFLOP/s and
  // % of peak; on the CPU GFLOP/s.
  void print(const std::string& device_label, double copy_gbs, double peak_tflops) const {
    const bool cuda = device_ == Device::CUDA;
    std::printf("aha bench ops: device %s, median of %d samples\n", device_label.c_str(), repeats_);
    if (cuda)
      std::printf("copy bandwidth (device to device, read + write): %.0f GB/s; "
                  "matmul peak (8192^3, TF32): %.1f TFLOP/s\n",
                  copy_gbs, peak_tflops);
    std::printf("\n| %-28s | %-22s | %9s | %7s |", "op", "shape", "ms", "GB/s");
    if (cuda) std::printf(" %6s | %7s | %6s |\n", "% copy", "TFLOP/s", "% peak");
    else std::printf(" %7s |\n", "GFLOP/s");
    std::printf("|------------------------------|------------------------|-----------|---------|");
    std::printf(cuda ? "--------|---------|--------|\n" : "---------|\n");
    for (const Row& r : rows_) {
      const double seconds = r.ms * 1e-3;
      const double gbs = r.bytes / seconds / 1e9;
      const double rate = r.flops / seconds / (cuda ? 1e12 : 1e9);
      std::printf("| %-28s | %-22s | %9.4f | %7s |", r.op.c_str(), r.shape.c_str(), r.ms,
                  r.bytes > 0 ? format("%.0f", gbs).c_str() : "");
      if (cuda)
        std::printf(" %6s | %7s | %6s |\n",
                    r.bytes > 0 ? format("%.0f%%", 100.0 * gbs / copy_gbs).c_str() : "",
                    r.flops > 0 ? format("%.1f", rate).c_str() : "",
                    r.flops > 0 ? format("%.0f%%", 100.0 * rate / peak_tflops).c_str() : "");
      else
        std::printf(" %7s |\n", r.flops > 0 ? format("%.1f", rate).c_str() : "");
    }
  }

 private:
  // Milliseconds per call of `calls` back-to-back calls of fn.
  double time_calls(const std::function<void()>& fn, int calls) {
#if AHA_CUDA
    if (device_ == Device::CUDA) {
      AHA_CUDA_CHECK(cudaEventRecord(start_, cuda::stream()));
      for (int i = 0; i < calls; ++i) fn();
      AHA_CUDA_CHECK(cudaEventRecord(stop_, cuda::stream()));
      AHA_CUDA_CHECK(cudaEventSynchronize(stop_));
      float ms = 0.0f;
      AHA_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      return (double)ms / calls;
    }
#endif
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) fn();
    std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - t0;
    return elapsed.count() / calls;
  }

  Device device_;
  int repeats_;
  std::vector<Row> rows_;
#if AHA_CUDA
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
#endif
};

std::string device_label(Device device) {
  if (device == Device::CUDA) return "cuda (" + device_model_name(device) + ")";
  return "cpu (" + device_model_name(device) + ", one thread)";
}

// Integer ids in [0, V) as floats, made on the host and copied over.
Tensor random_ids(int64_t n, int64_t V, Generator& gen, Device device) {
  std::vector<float> ids((size_t)n);
  for (float& id : ids) id = (float)gen.below((uint64_t)V);
  return Tensor::from_vector(ids, Shape{n}, device);
}

void run_ops_bench(const BenchOptions& options) {
  Device device = parse_device(options.device);
  require_device(device);
  const BenchSizes s = sizes_for(device);
  const double F = sizeof(float);
  OpBench bench(device, options.repeats);
  Generator gen(0);
  auto randn = [&](const Shape& shape) { return Tensor::randn(shape, gen, device); };

  // ---- the two ceilings: a plain copy, and (CUDA) the biggest TF32 product ----
  const int64_t E = s.elements;
  const std::string e_shape = shape_str({E});
  double copy_gbs = 0.0, peak_tflops = 0.0;
  {
    Tensor a = randn(Shape{E});
    double ms = bench.run("copy (clone)", e_shape, 2 * E * F, 0, [&] { a.clone(); });
    copy_gbs = 2 * E * F / (ms * 1e-3) / 1e9;
  }
  if (device == Device::CUDA) {
    const int64_t n = 8192;
    Tensor a = randn(Shape{n, n}), b = randn(Shape{n, n});
    double flops = 2.0 * n * n * n;
    double ms = bench.run("matmul (peak, TF32)", shape_str({n, n, n}), 0, flops,
                          [&] { matmul(a, b); });
    peak_tflops = flops / (ms * 1e-3) / 1e12;
    set_tf32(false);
    bench.run("matmul (float32, TF32 off)", shape_str({n, n, n}), 0, flops, [&] { matmul(a, b); });
    set_tf32(true);
  }

  // ---- elementwise ----
  {
    Tensor a = randn(Shape{E}), b = randn(Shape{E});
    bench.run("fill_", e_shape, E * F, 0, [&] { fill_(a, 0.5f); });
    bench.run("add", e_shape, 3 * E * F, 0, [&] { add(a, b); });
    bench.run("mul_scalar", e_shape, 2 * E * F, 0, [&] { mul_scalar(a, 1.5f); });
    bench.run("exp", e_shape, 2 * E * F, 0, [&] { exp(a); });
    bench.run("gelu", e_shape, 2 * E * F, 0, [&] { gelu(a); });
    bench.run("gelu_backward", e_shape, 3 * E * F, 0, [&] { gelu_backward(a, b); });
    bench.run("axpy_", e_shape, 3 * E * F, 0, [&] { axpy_(a, 1e-3f, b); });
    bench.run("sum_all", e_shape, E * F, 0, [&] { sum_all(a); });
    bench.run("max_all", e_shape, E * F, 0, [&] { max_all(a); });
    bench.run("sum_squares", e_shape, E * F, 0, [&] { sum_squares(a); });
  }
  {
    Tensor p = randn(Shape{E}), g = randn(Shape{E});
    Tensor m = Tensor::zeros(Shape{E}, device), v = Tensor::zeros(Shape{E}, device);
    int64_t step = 0;
    bench.run("adamw_step_", e_shape, 7 * E * F, 0, [&] {
      adamw_step_(p, g, m, v, {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, ++step});
    });
  }

  // ---- row-wise ----
  const int64_t R = s.rows, C = s.cols;
  const std::string rc = shape_str({R, C});
  const double RC = (double)R * C;
  {
    Tensor x = randn(Shape{R, C}), dy = randn(Shape{R, C}), bias = randn(Shape{C});
    bench.run("add (bias over last dim)", rc, 2 * RC * F, 0, [&] { add(x, bias); });
    bench.run("sum_last", rc, RC * F, 0, [&] { sum_last(x); });
    bench.run("sum_rows", rc, RC * F, 0, [&] { sum_rows(x); });
    Tensor y = softmax(x);
    bench.run("softmax", rc, 2 * RC * F, 0, [&] { softmax(x); });
    bench.run("log_softmax", rc, 2 * RC * F, 0, [&] { log_softmax(x); });
    bench.run("softmax_backward", rc, 3 * RC * F, 0, [&] { softmax_backward(y, dy); });
    Tensor gamma = Tensor::ones(Shape{C}, device), beta = Tensor::zeros(Shape{C}, device);
    LayerNormResult ln = layernorm(x, gamma, beta, 1e-5f);
    bench.run("layernorm", rc, 2 * RC * F, 0, [&] { layernorm(x, gamma, beta, 1e-5f); });
    bench.run("layernorm_backward", rc, 3 * RC * F, 0,
              [&] { layernorm_backward(dy, x, gamma, ln.mean, ln.rstd); });
  }

  // ---- losses over a vocabulary ----
  const int64_t N = s.loss_rows, V = s.vocab;
  const std::string nv = shape_str({N, V});
  const double NV = (double)N * V;
  {
    Tensor logits = randn(Shape{N, V});
    Tensor targets = random_ids(N, V, gen, device), mask = Tensor::ones(Shape{N}, device);
    Tensor dout = randn(Shape{N});
    bench.run("cross_entropy", nv, NV * F, 0, [&] { cross_entropy(logits, targets, mask); });
    bench.run("cross_entropy_backward", nv, 2 * NV * F, 0,
              [&] { cross_entropy_backward(logits, targets, mask, 1.0f); });
    bench.run("token_logprobs", nv, NV * F, 0, [&] { token_logprobs(logits, targets); });
    bench.run("token_logprobs_backward", nv, 2 * NV * F, 0,
              [&] { token_logprobs_backward(logits, targets, dout); });
    bench.run("softmax_entropy", nv, NV * F, 0, [&] { softmax_entropy(logits); });
  }

  // ---- embedding, layout ----
  const int64_t T = s.tokens, D = 768;
  {
    Tensor weight = randn(Shape{V, D}), ids = random_ids(T, V, gen, device);
    Tensor dout = randn(Shape{T, D});
    bench.run("embedding", shape_str({T, D}), 2.0 * T * D * F, 0, [&] { embedding(weight, ids); });
    bench.run("embedding_backward", shape_str({V, D}), ((double)V * D + (double)T * D) * F, 0,
              [&] { embedding_backward(dout, ids, V); });
  }
  {
    const int64_t batch = E / (s.seq * s.seq);
    Tensor scores = randn(Shape{batch, s.seq, s.seq});
    const std::string shape = shape_str({batch, s.seq, s.seq});
    const double moved = 2.0 * scores.numel() * F;
    bench.run("transpose_last2", shape, moved, 0, [&] { transpose_last2(scores); });
    bench.run("causal_mask", shape, moved, 0, [&] { causal_mask(scores, -1e9f); });
    const int64_t head_dim = 64, heads = 12, seqs = E / (s.seq * heads * head_dim);
    Tensor qkv = randn(Shape{seqs, s.seq, heads, head_dim});
    bench.run("permute_0213", shape_str({seqs, s.seq, heads, head_dim}), 2.0 * qkv.numel() * F, 0,
              [&] { permute_0213(qkv); });
  }

  // ---- batched decoding: one step of gpu-small's rollouts (batch 512, 6 heads of 64, a full 256 cache) ----
  {
    const int64_t B = device == Device::CUDA ? 512 : 64, H = 6, Dh = 64, Tmax = 256, C = H * Dh;
    Tensor keys = randn(Shape{B, H, Tmax, Dh}), values = randn(Shape{B, H, Tmax, Dh});
    Tensor qkv = randn(Shape{B, 1, 3 * C}), pads = Tensor::zeros(Shape{B}, device);
    const std::string shape = shape_str({B, H, Tmax, Dh});
    bench.run("decode_attention", shape, (2.0 * B * H * Tmax * Dh + 2.0 * B * C) * F, 0,
              [&] { decode_attention(qkv, 0, keys, values, pads, Tmax); });
    bench.run("kv_cache_write_ (k and v)", shape, 4.0 * B * C * F, 0, [&] {
      kv_cache_write_(keys, qkv, C, Tmax - 1);
      kv_cache_write_(values, qkv, 2 * C, Tmax - 1);
    });
    // The bf16 cache (two values a float): half the bytes of the cache to read.
    Tensor keys16 = randn(Shape{B, H, Tmax, Dh / 2}), values16 = randn(Shape{B, H, Tmax, Dh / 2});
    kv_cache_write_bf16_(keys16, permute_0213(keys).reshape(Shape{B, Tmax, C}), Dh, 0, 0);  // real bf16 values
    kv_cache_write_bf16_(values16, permute_0213(values).reshape(Shape{B, Tmax, C}), Dh, 0, 0);
    bench.run("decode_attention_bf16", shape, (2.0 * B * H * Tmax * Dh * 2 + 2.0 * B * C * F), 0,
              [&] { decode_attention_bf16(qkv, 0, keys16, values16, Dh, pads, Tmax); });
    bench.run("kv_cache_write_bf16_ (k and v)", shape, 2.0 * B * C * F + 2.0 * B * C * 2, 0, [&] {
      kv_cache_write_bf16_(keys16, qkv, Dh, C, Tmax - 1);
      kv_cache_write_bf16_(values16, qkv, Dh, 2 * C, Tmax - 1);
    });
  }

  // ---- training attention of gpt-small's GRPO update (batch 512, T 256, 6 heads of 64): fused op vs
  // the unfused ops model/gpt.cpp attend() and its autograd backward run. TFLOP/s counts the causal
  // half of the products: 4 B H T^2 D / 2 forward, 10 B H T^2 D / 2 backward (5 products) ----
  {
    const int64_t B = device == Device::CUDA ? 512 : 16, Ta = 256, H = 6, Dh = 64, C = H * Dh;
    Tensor q = randn(Shape{B, Ta, C}), k = randn(Shape{B, Ta, C}), v = randn(Shape{B, Ta, C});
    Tensor dy = randn(Shape{B, Ta, C}), lse;
    const Tensor y = causal_attention(q, k, v, (int)H, lse);
    const std::string shape = shape_str({B, Ta, H, Dh});
    const double forward_flops = 2.0 * B * H * Ta * Ta * Dh, backward_flops = 2.5 * forward_flops;
    bench.run("causal_attention", shape, 0, forward_flops, [&] {
      Tensor l;
      causal_attention(q, k, v, (int)H, l);
    });
    bench.run("causal_attention_backward", shape, 0, backward_flops, [&] {
      Tensor dq, dk, dv;
      causal_attention_backward(q, k, v, y, lse, dy, (int)H, dq, dk, dv);
    });
    auto split = [&](const Tensor& x) { return permute_0213(x.reshape(Shape{B, Ta, H, Dh})); };
    auto merge = [&](const Tensor& x) { return permute_0213(x).reshape(Shape{B, Ta, C}); };
    const float scale = 1.0f / std::sqrt((float)Dh);
    bench.run("attention unfused (forward)", shape, 0, forward_flops, [&] {
      Tensor p = softmax(causal_mask(mul_scalar(matmul(split(q), split(k), false, true), scale), -INFINITY));
      merge(matmul(p, split(v)));
    });
    const Tensor qh = split(q), kh = split(k), vh = split(v);
    const Tensor p = softmax(causal_mask(mul_scalar(matmul(qh, kh, false, true), scale), -INFINITY));
    bench.run("attention unfused (backward)", shape, 0, backward_flops, [&] {
      Tensor dyh = split(dy);
      Tensor ds = mul_scalar(causal_mask(softmax_backward(p, matmul(dyh, vh, false, true)), 0.0f), scale);
      merge(matmul(ds, kh));
      merge(matmul(ds, qh, true, false));
      merge(matmul(p, dyh, true, false));
    });
  }

  // ---- the bf16 training path (--dtype bf16) against fp32 at gpu-small's linear layers
  // (B*T = 131072 rows on CUDA): forward with and without a residual, the backward's two products,
  // the bf16 attention and layernorm. Each bf16 row sits under its fp32 twin ----
  {
    const int64_t rows = device == Device::CUDA ? 131072 : 4096;
    struct Linear {
      int64_t K, N;
    };
    for (const Linear& l : {Linear{384, 384}, Linear{384, 1536}, Linear{1536, 384}}) {
      const Tensor x = randn(Shape{rows, l.K}), w = randn(Shape{l.K, l.N}), b = randn(Shape{l.N});
      const Tensor r = randn(Shape{rows, l.N});
      const Tensor x16 = cast(x, DType::BF16), w16 = cast(w, DType::BF16), dy16 = cast(r, DType::BF16);
      const std::string shape = shape_str({rows, l.N, l.K});
      const double flops = 2.0 * rows * l.N * l.K;
      bench.run("linear", shape, 0, flops, [&] { linear(x, w, b); });
      bench.run("linear bf16", shape, 0, flops, [&] { linear(x16, w, b); });
      bench.run("linear + residual", shape, 0, flops, [&] { linear(x, w, b, r); });
      bench.run("linear bf16 + residual", shape, 0, flops, [&] { linear(x16, w, b, r); });
      bench.run("linear dX = dY W^T", shape, 0, flops, [&] { matmul(r, w, false, true); });
      bench.run("linear dX bf16", shape, 0, flops, [&] { matmul(dy16, w16, false, true, DType::BF16); });
      bench.run("linear dW = X^T dY", shape, 0, flops, [&] { matmul(x, r, true, false); });
      bench.run("linear dW bf16", shape, 0, flops, [&] { matmul(x16, dy16, true, false, DType::F32); });
    }
    const int64_t B = device == Device::CUDA ? 512 : 16, Ta = 256, H = 6, Dh = 64, C = H * Dh;
    const Tensor q = cast(randn(Shape{B, Ta, C}), DType::BF16), k = cast(randn(Shape{B, Ta, C}), DType::BF16);
    const Tensor v = cast(randn(Shape{B, Ta, C}), DType::BF16), dy = cast(randn(Shape{B, Ta, C}), DType::BF16);
    Tensor lse;
    const Tensor y = causal_attention(q, k, v, (int)H, lse);
    const std::string shape = shape_str({B, Ta, H, Dh});
    const double forward_flops = 2.0 * B * H * Ta * Ta * Dh;
    bench.run("causal_attention bf16", shape, 0, forward_flops, [&] {
      Tensor l;
      causal_attention(q, k, v, (int)H, l);
    });
    bench.run("causal_attention_backward bf16", shape, 0, 2.5 * forward_flops, [&] {
      Tensor dq, dk, dv;
      causal_attention_backward(q, k, v, y, lse, dy, (int)H, dq, dk, dv);
    });
    const Tensor x = randn(Shape{B * Ta, C}), gamma = randn(Shape{C}), beta = randn(Shape{C});
    const std::string rc = shape_str({B * Ta, C});
    bench.run("layernorm (fp32 -> bf16)", rc, (F + 2) * B * Ta * C, 0,
              [&] { layernorm(x, gamma, beta, 1e-5f, DType::BF16); });
    const Tensor u = randn(Shape{B * Ta, 4 * C}), du = randn(Shape{B * Ta, 4 * C});
    const Tensor u16 = cast(u, DType::BF16), du16 = cast(du, DType::BF16);
    const std::string r4c = shape_str({B * Ta, 4 * C});
    const double n4c = (double)B * Ta * 4 * C;
    bench.run("gelu (MLP hidden)", r4c, 2 * n4c * F, 0, [&] { gelu(u); });
    bench.run("gelu bf16", r4c, 2 * n4c * 2, 0, [&] { gelu(u16); });
    bench.run("gelu_backward (MLP hidden)", r4c, 3 * n4c * F, 0, [&] { gelu_backward(u, du); });
    bench.run("gelu_backward bf16", r4c, 3 * n4c * 2, 0, [&] { gelu_backward(u16, du16); });
  }

  // ---- matrix products of a d=768 GPT over T tokens (TF32 on CUDA) ----
  struct Gemm {
    const char* name;
    int64_t M, N, K;
    bool trans_a, trans_b;
  };
  const std::vector<Gemm> gemms = {
      {"matmul qkv", T, 3 * D, D, false, false},
      {"matmul attn proj", T, D, D, false, false},
      {"matmul mlp up", T, 4 * D, D, false, false},
      {"matmul mlp down", T, D, 4 * D, false, false},
      {"matmul lm head (B^T)", T, V, D, false, true},
      {"matmul dW mlp up (A^T)", D, 4 * D, T, true, false},
  };
  for (const Gemm& g : gemms) {
    Tensor a = randn(g.trans_a ? Shape{g.K, g.M} : Shape{g.M, g.K});
    Tensor b = randn(g.trans_b ? Shape{g.N, g.K} : Shape{g.K, g.N});
    bench.run(g.name, shape_str({g.M, g.N, g.K}), 0, 2.0 * g.M * g.N * g.K,
              [&] { matmul(a, b, g.trans_a, g.trans_b); });
  }
  {
    const int64_t head_dim = 64;
    Tensor q = randn(Shape{s.heads, s.seq, head_dim}), k = randn(Shape{s.heads, s.seq, head_dim});
    bench.run("matmul attn scores (batched)", shape_str({s.heads, s.seq, s.seq, head_dim}), 0,
              2.0 * s.heads * s.seq * s.seq * head_dim, [&] { matmul(q, k, false, true); });
  }

  bench.print(device_label(device), copy_gbs, peak_tflops);
}

}  // namespace

std::string device_model_name(Device device) {
#if AHA_CUDA
  if (device == Device::CUDA) {
    int id = 0;
    AHA_CUDA_CHECK(cudaGetDevice(&id));
    cudaDeviceProp prop{};
    AHA_CUDA_CHECK(cudaGetDeviceProperties(&prop, id));
    return prop.name;
  }
#endif
  (void)device;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "cpu";
}

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "benchmark tables (they never gate a test)");
  bench->require_subcommand(1);
  auto options = std::make_shared<BenchOptions>();
  CLI::App* ops = bench->add_subcommand(
      "ops", "time every tensor op at a large size: ms, GB/s (and % of copy), TFLOP/s");
  ops->add_option("--device", options->device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  ops->add_option("--repeats", options->repeats, "timed samples per op; the median is shown")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  ops->callback([options] { run_ops_bench(*options); });
  add_bench_model_command(*bench);
}

}  // namespace aha
