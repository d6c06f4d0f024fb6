// The fused causal attention op (tensor/cpu/attention.cpp, tensor/cuda/attention.cu)
// against the unfused composition of existing tensor ops (head permutes,
// matmul, scale, causal_mask, softmax, softmax_backward), forward (y and lse)
// and backward (dq, dk, dv), at sizes that are and are not multiples of the
// CUDA kernels' 64-row tiles, head dims 4 to 64; then the CUDA kernels against
// the CPU ones, with TF32 off (the fp32 kernels) and on (the tensor-core
// kernels for D = 32 and 64, the fp32 ones for other D).
//
// Without a usable GPU every GPU case is skipped at run time (it says so), and
// the number skipped is printed when the suite ends.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "tests/gpu_cases.h"

using aha::Device;
using aha::Generator;
using aha::Shape;
using aha::Tensor;

namespace {

constexpr Device kCPU = Device::CPU;
constexpr Device kGPU = Device::CUDA;

// Float32 on both sides, the same sums in a different order (and the
// reference's softmax uses exp_fast): a few ulps, summed over up to 256 keys.
constexpr double kCpuTolerance = 1e-5;
// The CUDA kernels are plain float32 FMAs too (no TF32: the products are
// computed in registers, not by cuBLAS), but with exp2f of base-2 scores and
// rsqrtf for 1/sqrt(D), each accurate to 2 ulps, and other summation orders.
// Measured errors are printed (MESSAGE) so the margin is visible.
constexpr double kGpuTolerance = 1e-4;
// With TF32 on, D = 32 and 64 run on tensor cores, which round each product's
// operands to a 10-bit mantissa (unit roundoff 2^-11 ~ 4.9e-4) and sum in fp32,
// as cuBLAS does for the unfused matmuls. Products of randn operands then land
// near 4e-4 relative (an emulation in numpy: y, dv 3e-4 to 4e-4, dq, dk 5e-4
// to 6e-4), except at short T (7) where rows have few keys and dS = P (dP - D_i)
// cancels: dq, dk up to 1.2e-3 there. 3e-3 leaves 2.5x over that.
constexpr double kTf32Tolerance = 3e-3;

using aha_test::Tf32Scope;
aha_test::GpuCaseCounter g_gpu_cases("test_tensor_attention");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

Tensor randn(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, kCPU);
}

// Relative error, or the RMS against an exact-zero reference (dq and dk at T = 1).
double relative_error(const Tensor& a, const Tensor& b) { return aha_test::relative_error_or_rms(a, b); }

struct Problem {
  int64_t B, T, H, D;
  std::string str() const {
    return "B=" + std::to_string(B) + " T=" + std::to_string(T) + " H=" + std::to_string(H) +
           " D=" + std::to_string(D);
  }
};

struct Inputs {
  Tensor q, k, v, dy;  // [B, T, C]
  Inputs to(Device device) const { return {q.to(device), k.to(device), v.to(device), dy.to(device)}; }
};

Inputs random_inputs(const Problem& p, uint64_t seed) {
  const Shape shape{p.B, p.T, p.H * p.D};
  return {randn(shape, seed), randn(shape, seed + 1), randn(shape, seed + 2), randn(shape, seed + 3)};
}

struct Outputs {
  Tensor y, lse, dq, dk, dv;
};

Outputs fused(const Inputs& in, int64_t H) {
  Outputs out;
  out.y = aha::causal_attention(in.q, in.k, in.v, (int)H, out.lse);
  aha::causal_attention_backward(in.q, in.k, in.v, out.y, out.lse, in.dy, (int)H, out.dq, out.dk, out.dv);
  return out;
}

// [B, T, H*D] -> [B, H, T, D] and back.
Tensor split_heads(const Tensor& x, int64_t H) {
  return aha::permute_0213(x.reshape(Shape{x.size(0), x.size(1), H, x.size(2) / H}));
}
Tensor merge_heads(const Tensor& x) {
  return aha::permute_0213(x).reshape(Shape{x.size(0), x.size(2), x.size(1) * x.size(3)});
}

// The unfused attention of model/gpt.cpp (attend) in tensor ops, and its
// backward through softmax_backward (not the D_i shortcut the fused op takes):
//   S = causal_mask(Q K^T / sqrt(D)), P = softmax(S), Y = P V, lse = log sum_j exp(S_ij)
//   dV = P^T dY, dS = softmax_backward(P, dY V^T) / sqrt(D), dQ = dS K, dK = dS^T Q
Outputs composed(const Inputs& in, int64_t H) {
  const Tensor q = split_heads(in.q, H), k = split_heads(in.k, H), v = split_heads(in.v, H);
  const Tensor dy = split_heads(in.dy, H);
  const int64_t T = q.size(2);
  const float scale = 1.0f / std::sqrt((float)q.size(3));
  Tensor S = aha::causal_mask(aha::mul_scalar(aha::matmul(q, k, false, true), scale), -INFINITY);
  Tensor P = aha::softmax(S);
  Tensor m = aha::max_last(S);
  Outputs out;
  out.y = merge_heads(aha::matmul(P, v));
  out.lse = aha::add(m, aha::log(aha::sum_last(aha::exp(aha::sub(S, aha::expand_last(m, T))))));
  Tensor dS = aha::mul_scalar(aha::softmax_backward(P, aha::matmul(dy, v, false, true)), scale);
  out.dq = merge_heads(aha::matmul(dS, k));
  out.dk = merge_heads(aha::matmul(dS, q, true, false));
  out.dv = merge_heads(aha::matmul(P, dy, true, false));
  return out;
}

// Every output of `got` against `want` within `tolerance`; reports the errors.
void check_outputs(const Outputs& got, const Outputs& want, double tolerance, const std::string& what) {
  const char* names[] = {"y", "lse", "dq", "dk", "dv"};
  const Tensor* g[] = {&got.y, &got.lse, &got.dq, &got.dk, &got.dv};
  const Tensor* w[] = {&want.y, &want.lse, &want.dq, &want.dk, &want.dv};
  std::string errors;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(g[i]->shape() == w[i]->shape());
    const double error = relative_error(*g[i], *w[i]);
    char buf[64];
    std::snprintf(buf, sizeof buf, " %s %.2e", names[i], error);
    errors += buf;
    INFO(what << ": " << names[i] << " relative error " << error << " (tolerance " << tolerance << ")");
    CHECK(error <= tolerance);
  }
  MESSAGE(what << ": relative errors" << errors);
}

const std::vector<Problem> kProblems = {
    {1, 1, 1, 16},  {2, 7, 2, 16},  {2, 64, 2, 32}, {1, 65, 3, 32}, {2, 130, 2, 64},
    {1, 256, 2, 64}, {2, 37, 2, 8}, {1, 20, 2, 4},  {2, 70, 1, 48},
};

}  // namespace

TEST_CASE("causal_attention: forward and backward equal the unfused composition (CPU)") {
  uint64_t seed = 100;
  for (const Problem& p : kProblems) {
    CAPTURE(p.str());
    const Inputs in = random_inputs(p, seed += 10);
    const Outputs got = fused(in, p.H);
    REQUIRE(got.y.shape() == Shape{p.B, p.T, p.H * p.D});
    REQUIRE(got.lse.shape() == Shape{p.B, p.H, p.T});
    check_outputs(got, composed(in, p.H), kCpuTolerance, "CPU " + p.str());
  }
}

TEST_CASE("causal_attention: query 0 sees only key 0, so y[0] = v[0] and lse[0] = q.k/sqrt(D)") {
  const Inputs in = random_inputs({1, 5, 2, 4}, 7);
  Tensor lse;
  const Tensor y = aha::causal_attention(in.q, in.k, in.v, 2, lse);
  for (int64_t c = 0; c < 8; ++c) CHECK(y.at({0, 0, c}) == doctest::Approx(in.v.at({0, 0, c})).epsilon(1e-6));
  for (int64_t h = 0; h < 2; ++h) {
    double dot = 0.0;
    for (int64_t d = 0; d < 4; ++d) dot += (double)in.q.at({0, 0, h * 4 + d}) * in.k.at({0, 0, h * 4 + d});
    CHECK(lse.at({0, h, 0}) == doctest::Approx(dot / 2.0).epsilon(1e-5));
  }
}

TEST_CASE("causal_attention: shape errors name the op and the shapes") {
  const Tensor q = Tensor::zeros(Shape{2, 3, 8});
  Tensor lse;
  CHECK_THROWS_WITH_AS(aha::causal_attention(q, q, q, 3, lse), doctest::Contains("n_heads 3"), aha::ShapeError);
  CHECK_THROWS_WITH_AS(aha::causal_attention(q, Tensor::zeros(Shape{2, 4, 8}), q, 2, lse),
                       doctest::Contains("causal_attention"), aha::ShapeError);
  CHECK_THROWS_WITH_AS(aha::causal_attention(q.reshape(Shape{6, 8}), q.reshape(Shape{6, 8}), q.reshape(Shape{6, 8}), 2, lse),
                       doctest::Contains("[B, T, C]"), aha::ShapeError);
  Tensor y = aha::causal_attention(q, q, q, 2, lse), dq, dk, dv;
  CHECK_THROWS_WITH_AS(aha::causal_attention_backward(q, q, q, y, Tensor::zeros(Shape{2, 3}), q, 2, dq, dk, dv),
                       doctest::Contains("lse"), aha::ShapeError);
}

TEST_CASE("causal_attention on CUDA: with TF32 off, equals the unfused composition and the CPU kernels") {
  if (skip_without_gpu()) return;
  Tf32Scope fp32(false);
  std::vector<Problem> problems = kProblems;
  problems.push_back({4, 256, 6, 64});  // gpu-small's heads at its full context
  problems.push_back({3, 200, 3, 64});
  uint64_t seed = 500;
  for (const Problem& p : problems) {
    CAPTURE(p.str());
    const Inputs in = random_inputs(p, seed += 10);
    const Outputs got = fused(in.to(kGPU), p.H);
    REQUIRE(got.y.device() == kGPU);
    REQUIRE(got.dq.device() == kGPU);
    check_outputs(got, composed(in, p.H), kGpuTolerance, "CUDA vs composed " + p.str());
    check_outputs(got, fused(in, p.H), kGpuTolerance, "CUDA vs CPU fused " + p.str());
  }
}

TEST_CASE("causal_attention on CUDA: TF32 on and off, T 1 to 256, D 16 to 64, against the CPU kernels") {
  if (skip_without_gpu()) return;
  uint64_t seed = 700;
  for (int64_t T : {1, 7, 64, 65, 130, 256}) {
    for (int64_t D : {16, 32, 64}) {
      const Problem p{2, T, 2, D};
      CAPTURE(p.str());
      const Inputs in = random_inputs(p, seed += 10);
      const Outputs want = fused(in, p.H);
      const Inputs on_gpu = in.to(kGPU);
      for (bool tf32 : {true, false}) {
        Tf32Scope scope(tf32);
        check_outputs(fused(on_gpu, p.H), want, tf32 ? kTf32Tolerance : kGpuTolerance,
                      std::string(tf32 ? "TF32 on " : "TF32 off ") + p.str());
      }
    }
  }
}

TEST_CASE("causal_attention on CUDA: the TF32 switch picks the tensor-core kernels for D = 64") {
  if (skip_without_gpu()) return;
  const Problem p{2, 130, 2, 64};
  const Inputs in = random_inputs(p, 800).to(kGPU);
  Outputs on, off;
  {
    Tf32Scope scope(true);
    on = fused(in, p.H);
  }
  {
    Tf32Scope scope(false);
    const Outputs gpu = fused(in, p.H);
    off = {gpu.y.to(kCPU), gpu.lse.to(kCPU), gpu.dq.to(kCPU), gpu.dk.to(kCPU), gpu.dv.to(kCPU)};
  }
  // Rounded operands give other (close) results: were both runs the fp32
  // kernels, they would be equal bit for bit.
  CHECK(relative_error(on.y, off.y) > 0.0);
  CHECK(relative_error(on.dk, off.dk) > 0.0);
  check_outputs(on, off, kTf32Tolerance, "TF32 on vs off " + p.str());
}

TEST_CASE("causal_attention on CUDA: the backward is deterministic (no atomics), TF32 on and off") {
  if (skip_without_gpu()) return;
  const Problem p{2, 130, 3, 64};
  const Inputs in = random_inputs(p, 900).to(kGPU);
  for (bool tf32 : {true, false}) {
    CAPTURE(tf32);
    Tf32Scope scope(tf32);
    const Outputs a = fused(in, p.H), b = fused(in, p.H);
    CHECK(a.dq.to_vector() == b.dq.to_vector());
    CHECK(a.dk.to_vector() == b.dk.to_vector());
    CHECK(a.dv.to_vector() == b.dv.to_vector());
  }
}

TEST_CASE("causal_attention on CUDA: a head dim over 64 is a clear error") {
  if (skip_without_gpu()) return;
  const Tensor q = Tensor::zeros(Shape{1, 4, 128}, kGPU);
  Tensor lse;
  CHECK_THROWS_WITH_AS(aha::causal_attention(q, q, q, 1, lse), doctest::Contains("head dim D = 128"),
                       std::runtime_error);
}
