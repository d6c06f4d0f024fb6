// The fused causal attention Var op (autograd/ops_attention.cpp) against the
// same attention composed from autograd ops (reshape, permute_0213, matmul,
// mul_scalar, causal_mask, softmax: model/gpt.cpp's split_heads/attend/
// merge_heads), values and gradients, on the CPU and (when a GPU answers) on
// CUDA; and against central finite differences on a tiny CPU case.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tests/gpu_cases.h"
#include "tests/gradcheck_var.h"

using namespace aha;

namespace {

// Float32 both ways, sums in other orders (see tests/test_tensor_attention.cpp).
constexpr double kCpuTolerance = 1e-5;
// CUDA fused kernels (float32 FMAs, exp2f) against the CPU composition, TF32 off.
constexpr double kGpuTolerance = 1e-4;
// TF32 on: D = 32 and 64 run on tensor cores, operands rounded to a 10-bit
// mantissa (see kTf32Tolerance in tests/test_tensor_attention.cpp).
constexpr double kTf32Tolerance = 3e-3;

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, Device::CPU);
}

double relative_error(const Tensor& a, const Tensor& b) { return aha_test::relative_error_or_rms(a, b); }

// The unfused reference: [B, T, C] -> heads [B, H, T, D], masked softmax attention, back.
Var composed_attention(const Var& q, const Var& k, const Var& v, int n_heads) {
  const int64_t B = q.shape()[0], T = q.shape()[1], C = q.shape()[2], D = C / n_heads;
  auto split = [&](const Var& x) { return permute_0213(reshape(x, Shape{B, T, n_heads, D})); };
  const float scale = 1.0f / std::sqrt((float)D);
  Var scores = causal_mask(mul_scalar(matmul(split(q), split(k), false, true), scale));
  Var y = matmul(softmax(scores), split(v));                  // [B, H, T, D]
  return reshape(permute_0213(y), Shape{B, T, C});
}

using Attention = Var (*)(const Var&, const Var&, const Var&, int);

struct Result {
  Tensor y, dq, dk, dv;
};

// y = attention(q, k, v) on `device`, and the gradients of sum(w * y).
Result run(Attention attention, const std::vector<Tensor>& qkvw, int n_heads, Device device) {
  Var q(qkvw[0].to(device), true), k(qkvw[1].to(device), true), v(qkvw[2].to(device), true);
  Var y = attention(q, k, v, n_heads);
  sum_all(mul(y, Var(qkvw[3].to(device)))).backward();
  return {y.value(), q.grad(), k.grad(), v.grad()};
}

Var fused_attention(const Var& q, const Var& k, const Var& v, int n_heads) {
  return causal_attention(q, k, v, n_heads);
}

void check_against_composed(Device device, double tolerance) {
  struct Case {
    int64_t B, T, H, D;
  };
  const Case cases[] = {{1, 1, 1, 16}, {2, 7, 2, 16}, {1, 64, 2, 32}, {2, 65, 2, 32},
                        {1, 130, 2, 64}, {1, 256, 1, 64}, {2, 9, 2, 8}};
  uint64_t seed = 40;
  for (const Case& c : cases) {
    const Shape shape{c.B, c.T, c.H * c.D};
    std::vector<Tensor> qkvw;
    for (int i = 0; i < 4; ++i) qkvw.push_back(random_tensor(shape, seed++));
    const Result got = run(fused_attention, qkvw, (int)c.H, device);
    const Result want = run(composed_attention, qkvw, (int)c.H, Device::CPU);
    CAPTURE(c.B);
    CAPTURE(c.T);
    CAPTURE(c.H);
    CAPTURE(c.D);
    REQUIRE(got.y.device() == device);
    const double ey = relative_error(got.y, want.y), eq = relative_error(got.dq, want.dq),
                 ek = relative_error(got.dk, want.dk), ev = relative_error(got.dv, want.dv);
    MESSAGE(std::string(device == Device::CUDA ? "CUDA" : "CPU") << " B=" << c.B << " T=" << c.T << " H=" << c.H << " D=" << c.D
                                << ": relative errors y " << ey << " dq " << eq << " dk " << ek << " dv " << ev);
    CHECK(ey <= tolerance);
    CHECK(eq <= tolerance);
    CHECK(ek <= tolerance);
    CHECK(ev <= tolerance);
  }
}

}  // namespace

TEST_CASE("causal_attention: values and gradients equal the composed attention (CPU)") {
  check_against_composed(Device::CPU, kCpuTolerance);
}

TEST_CASE("causal_attention: values and gradients equal the composed attention (CUDA, when a GPU answers)") {
  if (!cuda_available()) {
    MESSAGE("no CUDA GPU here: skipped");
    return;
  }
  {
    aha_test::Tf32Scope scope(false);
    check_against_composed(Device::CUDA, kGpuTolerance);
  }
  aha_test::Tf32Scope scope(true);
  check_against_composed(Device::CUDA, kTf32Tolerance);
}

// The Var op's backward against central differences of its forward (the
// shared checker, tests/gradcheck.h).
TEST_CASE("causal_attention: gradients match finite differences (CPU, tiny)") {
  const Shape shape{2, 5, 8};  // B 2, T 5, two heads of 4
  aha_test::check_var_gradients([](const std::vector<Var>& v) { return causal_attention(v[0], v[1], v[2], 2); },
                                {random_tensor(shape, 70), random_tensor(shape, 71), random_tensor(shape, 72)});
}

TEST_CASE("causal_attention: only the inputs that require grad get a gradient") {
  const Shape shape{1, 6, 8};
  Var q(random_tensor(shape, 1), true), k(random_tensor(shape, 2), false), v(random_tensor(shape, 3), true);
  sum_all(causal_attention(q, k, v, 2)).backward();
  CHECK(q.grad().defined());
  CHECK(!k.grad().defined());
  CHECK(v.grad().defined());
}
