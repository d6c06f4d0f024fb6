// The fused causal attention on bf16 tensors (tensor/ops.h "bf16"). On the CPU
// (and on CUDA for head dims other than 32 and 64) a bf16 call widens q, k, v,
// runs the fp32 op and rounds its outputs: the cast path, the reference. On
// CUDA, D = 32 and 64 run the native bf16 tensor-core kernels of
// tensor/cuda/attention_tc.cu. Checked here: the cast path bit for bit
// against round(fp32 attention of the widened inputs); the native kernels
// against the cast path on the CPU, forward (y, lse) and backward (dq, dk, dv);
// their determinism; and which path the CUDA dispatch takes.
//
// Without a usable GPU every GPU case is skipped at run time (it says so), and
// the number skipped is printed when the suite ends.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "tests/gpu_cases.h"

using aha::Device;
using aha::DType;
using aha::Generator;
using aha::Shape;
using aha::Tensor;

namespace {

constexpr Device kCPU = Device::CPU;
constexpr Device kGPU = Device::CUDA;

// The native kernels against the cast path, as max |got - want| / max |want|.
// bf16 keeps 8 significant bits: unit roundoff u = 2^-9 ~ 2e-3. The native
// kernels round P (forward; dS in the backward) to bf16 before the product
// with V (K, Q; dY for dV), so each term of a sum errs by at most u of
// itself, e.g. |dy_i| <= u sum_j P_ij |v_j| <= u max |v|; and both sides round
// each output once, so an element whose fp32 values straddle a rounding
// boundary differs by one bf16 ulp (2u of itself). The rounding errors of P
// have random signs, so measured errors (printed by MESSAGE) sit well below
// the worst case; 2e-2 is 10 u.
constexpr double kBf16Tolerance = 2e-2;
// lse is fp32 on both sides, from the same fp32 scores (a bf16 x bf16 product
// is exact in fp32) summed in other orders, with exp2f/log2f (2 ulps).
constexpr double kLseTolerance = 1e-4;
// Below this largest magnitude a reference is taken as zero and the error is
// absolute: dq and dk at T = 1 are 0 in exact arithmetic (one key gets P = 1
// whatever q.k is), rounding noise on both sides.
constexpr double kZeroScale = 1e-3;

aha_test::GpuCaseCounter g_gpu_cases("test_tensor_bf16_attention");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

struct Problem {
  int64_t B, T, H, D;
  std::string str() const {
    return "B=" + std::to_string(B) + " T=" + std::to_string(T) + " H=" + std::to_string(H) +
           " D=" + std::to_string(D);
  }
};

struct Inputs {
  Tensor q, k, v, dy;  // bf16 [B, T, C]
  Inputs to(Device device) const { return {q.to(device), k.to(device), v.to(device), dy.to(device)}; }
};

Inputs random_inputs(const Problem& p, uint64_t seed) {
  Generator gen(seed);
  const Shape shape{p.B, p.T, p.H * p.D};
  auto draw = [&] { return aha::cast(Tensor::randn(shape, gen, kCPU), DType::BF16); };
  Inputs in;
  in.q = draw();
  in.k = draw();
  in.v = draw();
  in.dy = draw();
  return in;
}

struct Outputs {
  Tensor y, lse, dq, dk, dv;  // lse fp32, the rest bf16
};

Outputs fused(const Inputs& in, int64_t H) {
  Outputs out;
  out.y = aha::causal_attention(in.q, in.k, in.v, (int)H, out.lse);
  aha::causal_attention_backward(in.q, in.k, in.v, out.y, out.lse, in.dy, (int)H, out.dq, out.dk, out.dv);
  return out;
}

Tensor to_f32(const Tensor& x) { return aha::cast(x, DType::F32); }
Tensor to_bf16(const Tensor& x) { return aha::cast(x, DType::BF16); }

// The cast path spelled out: round(fp32 attention of the widened inputs), the
// backward on the bf16 y (what the bf16 op hands its backward).
Outputs widened_fp32(const Inputs& in, int64_t H) {
  Outputs out;
  out.y = to_bf16(aha::causal_attention(to_f32(in.q), to_f32(in.k), to_f32(in.v), (int)H, out.lse));
  aha::causal_attention_backward(to_f32(in.q), to_f32(in.k), to_f32(in.v), to_f32(out.y), out.lse, to_f32(in.dy),
                                 (int)H, out.dq, out.dk, out.dv);
  out.dq = to_bf16(out.dq), out.dk = to_bf16(out.dk), out.dv = to_bf16(out.dv);
  return out;
}

// max |got - want| / max |want| in double (absolute below kZeroScale); infinity on a NaN.
double max_relative_error(const Tensor& got, const Tensor& want) {
  const std::vector<float> a = got.to_vector(), b = want.to_vector();
  REQUIRE(a.size() == b.size());
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs((double)a[i] - (double)b[i]);
    if (std::isnan(d)) return INFINITY;
    diff = std::max(diff, d);
    scale = std::max(scale, std::fabs((double)b[i]));
  }
  return diff / (scale < kZeroScale ? 1.0 : scale);
}

const char* kNames[] = {"y", "lse", "dq", "dk", "dv"};

std::vector<const Tensor*> fields(const Outputs& o) { return {&o.y, &o.lse, &o.dq, &o.dk, &o.dv}; }

void check_close(const Outputs& got, const Outputs& want, const std::string& what) {
  const std::vector<const Tensor*> g = fields(got), w = fields(want);
  std::string errors;
  for (size_t i = 0; i < g.size(); ++i) {
    REQUIRE(g[i]->shape() == w[i]->shape());
    CHECK(g[i]->dtype() == w[i]->dtype());
    const double error = max_relative_error(*g[i], *w[i]);
    const double tolerance = i == 1 ? kLseTolerance : kBf16Tolerance;
    char buf[64];
    std::snprintf(buf, sizeof buf, " %s %.2e", kNames[i], error);
    errors += buf;
    INFO(what << ": " << kNames[i] << " max relative error " << error << " (tolerance " << tolerance << ")");
    CHECK(error <= tolerance);
  }
  MESSAGE(what << ": max relative errors" << errors);
}

void check_equal(const Outputs& got, const Outputs& want, const std::string& what) {
  const std::vector<const Tensor*> g = fields(got), w = fields(want);
  for (size_t i = 0; i < g.size(); ++i) {
    INFO(what << ": " << kNames[i]);
    CHECK(g[i]->dtype() == w[i]->dtype());
    CHECK(g[i]->to_vector() == w[i]->to_vector());
  }
}

// T 1 to 256 (within one 64-row tile, one past it, several), D 32 and 64, B 1..4, H 1..6.
const std::vector<Problem> kProblems = {
    {1, 1, 1, 32},   {2, 1, 3, 64},   {3, 17, 2, 32},  {4, 17, 5, 64},  {1, 64, 6, 32},
    {2, 64, 4, 64},  {4, 100, 3, 32}, {3, 100, 6, 64}, {2, 256, 5, 32}, {4, 256, 6, 64},
};

}  // namespace

TEST_CASE("bf16 causal_attention (CPU): the cast path equals round(fp32 attention of the widened inputs)") {
  std::vector<Problem> problems = {{2, 17, 2, 32}, {1, 100, 3, 64}, {2, 70, 2, 16}};
  uint64_t seed = 40;
  for (const Problem& p : problems) {
    CAPTURE(p.str());
    const Inputs in = random_inputs(p, seed += 10);
    const Outputs got = fused(in, p.H);
    REQUIRE(got.y.dtype() == DType::BF16);
    REQUIRE(got.dq.dtype() == DType::BF16);
    REQUIRE(got.lse.dtype() == DType::F32);
    check_equal(got, widened_fp32(in, p.H), "CPU cast path " + p.str());
  }
}

TEST_CASE("bf16 causal_attention on CUDA: the native kernels equal the cast path within bf16 rounding") {
  if (skip_without_gpu()) return;
  uint64_t seed = 200;
  for (const Problem& p : kProblems) {
    CAPTURE(p.str());
    const Inputs in = random_inputs(p, seed += 10);
    const Outputs got = fused(in.to(kGPU), p.H);
    REQUIRE(got.y.device() == kGPU);
    REQUIRE(got.y.dtype() == DType::BF16);
    REQUIRE(got.dk.dtype() == DType::BF16);
    check_close(got, fused(in, p.H), "native vs CPU cast path " + p.str());
  }
}

TEST_CASE("bf16 causal_attention on CUDA: two runs of the native kernels are equal bit for bit") {
  if (skip_without_gpu()) return;
  for (const Problem& p : {Problem{2, 130, 3, 64}, Problem{3, 100, 6, 32}}) {
    CAPTURE(p.str());
    const Inputs in = random_inputs(p, 300).to(kGPU);
    check_equal(fused(in, p.H), fused(in, p.H), "two native runs " + p.str());
  }
}

TEST_CASE("bf16 causal_attention on CUDA: D 32 and 64 run the native kernels, other D the cast path") {
  if (skip_without_gpu()) return;
  aha_test::Tf32Scope fp32(false);  // the cast path on the fp32 kernels: no TF32 error in lse
  uint64_t seed = 400;
  for (int64_t D : {16, 32, 64, 48}) {
    const Problem p{2, 130, 2, D};
    CAPTURE(p.str());
    const Inputs in = random_inputs(p, seed += 10).to(kGPU);
    const Outputs got = fused(in, p.H), cast_path = widened_fp32(in, p.H);
    if (D == 32 || D == 64) {
      // P and dS rounded to bf16 give other (close) bits than the cast path's fp32 ones.
      CHECK(got.y.to_vector() != cast_path.y.to_vector());
      CHECK(got.dk.to_vector() != cast_path.dk.to_vector());
      check_close(got, cast_path, "native vs CUDA cast path " + p.str());
    } else {
      check_equal(got, cast_path, "CUDA cast path " + p.str());
    }
  }
}
