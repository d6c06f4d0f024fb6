// The autograd layernorm with a bf16 output, and gelu on bf16 values (the bf16
// path, tensor/ops.h "bf16"), against the same graph in fp32: the gradients
// that reach the fp32 leaves (x, gamma, beta) differ only by the bf16
// roundings of y and of its gradient, so by about 2^-8 relative; and the
// backward passes the bf16 gradient to the tensor kernels unchanged (checked
// exactly against layernorm_backward). On CUDA when a GPU answers.
#include <doctest/doctest.h>

#include <vector>

#include "autograd/ops.h"
#include "tests/gpu_cases.h"

using namespace aha;

namespace {

aha_test::GpuCaseCounter g_gpu_cases("test_autograd_bf16_norm");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

// bf16 keeps 8 significant bits: one rounding is at most 2^-9 relative, and a
// gradient passes through a few of them.
constexpr double kBf16Tolerance = 1e-2;

Tensor randn(const Shape& shape, uint64_t seed, float std = 1.0f, float mean = 0.0f) {
  Generator gen(seed);
  Tensor t = Tensor::randn(shape, gen, Device::CPU, std);
  return mean == 0.0f ? t : add_scalar(t, mean);
}

// Leaves of a small LN -> GELU block on `device`, and the loss
//   L = sum(w * gelu(layernorm(x) in `act`)),  w fixed,
// with every activation in `act` (bf16 or fp32) and the sums in fp32.
struct Block {
  Var x, gamma, beta;
  Tensor w;
  Block(Device device, int64_t C)
      : x(randn(Shape{3, 5, C}, 1, 2.0f, 0.5f).to(device), true),
        gamma(add_scalar(randn(Shape{C}, 2, 0.2f), 1.0f).to(device), true),
        beta(randn(Shape{C}, 3, 0.2f).to(device), true),
        w(randn(Shape{3, 5, C}, 4).to(device)) {}

  Var loss(DType act, bool with_gelu) {
    Var h = layernorm(x, gamma, beta, 1e-5f, act);  // [3, 5, C] in act
    if (with_gelu) h = gelu(h);
    return sum_all(mul(cast(h, DType::F32), Var(w)));
  }
};

struct Grads {
  float loss;
  Tensor dx, dgamma, dbeta;
};

Grads run(Device device, int64_t C, DType act, bool with_gelu) {
  Block b(device, C);
  Var loss = b.loss(act, with_gelu);
  loss.backward();
  return {loss.value().item(), b.x.grad(), b.gamma.grad(), b.beta.grad()};
}

}  // namespace

TEST_CASE("autograd layernorm with out bf16: y is bf16, gradients fp32 and within 1e-2 of the fp32 layernorm's") {
  for (int64_t C : {1, 7, 64, 384}) {
    CAPTURE(C);
    Block b(Device::CPU, C);
    Var y = layernorm(b.x, b.gamma, b.beta, 1e-5f, DType::BF16);
    CHECK(y.value().dtype() == DType::BF16);
    const Grads h = run(Device::CPU, C, DType::BF16, false);
    const Grads f = run(Device::CPU, C, DType::F32, false);
    CHECK(h.dx.dtype() == DType::F32);
    CHECK(h.dgamma.dtype() == DType::F32);
    CHECK(h.dbeta.dtype() == DType::F32);
    CHECK(h.loss == doctest::Approx(f.loss).epsilon(kBf16Tolerance).scale(10.0));
    // dx at C = 1 is exactly 0 (x - mean = 0): relative_error_or_rms.
    CHECK(aha_test::relative_error_or_rms(h.dx, f.dx) <= kBf16Tolerance);
    CHECK(aha_test::relative_error(h.dgamma, f.dgamma) <= kBf16Tolerance);
    CHECK(aha_test::relative_error(h.dbeta, f.dbeta) <= kBf16Tolerance);
  }
}

TEST_CASE("autograd layernorm with out bf16: the backward is layernorm_backward of the bf16 dy, exactly") {
  const int64_t C = 64;
  Block b(Device::CPU, C);
  b.loss(DType::BF16, false).backward();
  // dL/dy = w, rounded to bf16 by cast's backward (a gradient has its value's dtype).
  const LayerNormResult r = layernorm(b.x.value(), b.gamma.value(), b.beta.value(), 1e-5f);
  const LayerNormGrads g = layernorm_backward(cast(b.w, DType::BF16), b.x.value(), b.gamma.value(), r.mean, r.rstd);
  CHECK(b.x.grad().to_vector() == g.dx.to_vector());
  CHECK(b.gamma.grad().to_vector() == g.dgamma.to_vector());
  CHECK(b.beta.grad().to_vector() == g.dbeta.to_vector());
}

TEST_CASE("autograd gelu on bf16 values: bf16 result, gradients within 1e-2 of the fp32 block's") {
  for (int64_t C : {7, 384}) {
    CAPTURE(C);
    Block b(Device::CPU, C);
    CHECK(gelu(layernorm(b.x, b.gamma, b.beta, 1e-5f, DType::BF16)).value().dtype() == DType::BF16);
    const Grads h = run(Device::CPU, C, DType::BF16, true);
    const Grads f = run(Device::CPU, C, DType::F32, true);
    CHECK(h.loss == doctest::Approx(f.loss).epsilon(kBf16Tolerance).scale(10.0));
    CHECK(aha_test::relative_error(h.dx, f.dx) <= kBf16Tolerance);
    CHECK(aha_test::relative_error(h.dgamma, f.dgamma) <= kBf16Tolerance);
    CHECK(aha_test::relative_error(h.dbeta, f.dbeta) <= kBf16Tolerance);
  }
}

TEST_CASE("autograd layernorm refuses a bf16 x with the op named") {
  Var x(cast(randn(Shape{2, 8}, 5), DType::BF16), true);
  Var gamma(randn(Shape{8}, 6), true), beta(randn(Shape{8}, 7), true);
  CHECK_THROWS_WITH_AS(layernorm(x, gamma, beta, 1e-5f, DType::BF16), doctest::Contains("layernorm: x, gamma and beta must be fp32"),
                       ShapeError);
}

TEST_CASE("autograd bf16 LN -> GELU block (CUDA): loss and gradients within 1e-2 of the CPU's") {
  if (skip_without_gpu()) return;
  for (int64_t C : {7, 384}) {
    CAPTURE(C);
    const Grads g = run(Device::CUDA, C, DType::BF16, true);
    const Grads c = run(Device::CPU, C, DType::BF16, true);
    CHECK(g.loss == doctest::Approx(c.loss).epsilon(kBf16Tolerance).scale(10.0));
    CHECK(aha_test::relative_error(g.dx, c.dx) <= kBf16Tolerance);
    CHECK(aha_test::relative_error(g.dgamma, c.dgamma) <= kBf16Tolerance);
    CHECK(aha_test::relative_error(g.dbeta, c.dbeta) <= kBf16Tolerance);
  }
}
