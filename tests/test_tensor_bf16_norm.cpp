// layernorm and GELU on the bf16 path (tensor/ops.h "bf16"): layernorm takes
// fp32 x and gives bf16 y, its backward takes bf16 dy and gives fp32 dx; GELU
// and its backward are bf16 in and out. The math is the fp32 kernels' on
// exactly widened inputs with one rounding on store, so on the CPU the
// reference is exact: the fp32 op on widened inputs, rounded once
// (bf16_round). CUDA is checked against its own fp32 kernels (exact: the same
// template), and against the CPU: fp32 results within 1e-5, bf16 results
// within one bf16 step (see kOneStepFrom) and rarely different at all. Also:
// the dtype mixes that are refused, with what they say.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <vector>

#include "tensor/tensor.h"
#include "tests/gpu_cases.h"

using namespace aha;

namespace {

aha_test::GpuCaseCounter g_gpu_cases("test_tensor_bf16_norm");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

// Row widths: 1 and 7 take the generic CUDA kernels (C % 4 != 0), 64 and 384
// a warp per row in registers, 1536 a block per row (the gpu-small and
// gpu-medium MLP widths are 4 * 384 and 4 * 768).
const std::vector<int64_t> kWidths = {1, 7, 64, 384, 1536};
const std::vector<int64_t> kRows = {1, 7, 300};

// fp32 CUDA sums (fixed order, float) against the CPU's (double): 1e-5 as in
// tests/test_tensor_cuda.cpp.
constexpr double kTolerance = 1e-5;

Tensor randn(const Shape& shape, uint64_t seed, float std = 1.0f, float mean = 0.0f) {
  Generator gen(seed);
  Tensor t = Tensor::randn(shape, gen, Device::CPU, std);
  return mean == 0.0f ? t : add_scalar(t, mean);
}

// A bf16 tensor and the same values in fp32 (exact: widening loses nothing).
struct Bf16Input {
  Tensor bf16, wide;
};
Bf16Input bf16_input(const Shape& shape, uint64_t seed, float std = 1.0f) {
  Tensor h = cast(randn(shape, seed, std), DType::BF16);
  return {h, cast(h, DType::F32)};
}

// The bits of a (CPU) bf16 tensor.
std::vector<uint16_t> bits_of(const Tensor& t) {
  REQUIRE(t.dtype() == DType::BF16);
  const Tensor host = t.to(Device::CPU);
  return std::vector<uint16_t>(host.data_bf16(), host.data_bf16() + host.numel());
}

// Each fp32 value of `reference` rounded once to bf16.
std::vector<uint16_t> rounded(const Tensor& reference) {
  std::vector<uint16_t> out;
  for (float v : reference.to_vector()) out.push_back(bf16_round(v));
  return out;
}

// How many elements differ, and by at most how many bf16 steps among those
// of magnitude `from` or more in b. Bits are put on one number line (negative
// values mirrored), so -0 and +0 are 0 apart and neighbours across zero 1 apart.
struct Bf16Diff {
  int64_t mismatches = 0, max_steps = 0;
};
Bf16Diff compare_bits(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b, float from = 0.0f) {
  REQUIRE(a.size() == b.size());
  auto line = [](uint16_t h) -> int64_t { return h & 0x8000u ? -(int64_t)(h & 0x7fffu) : (int64_t)h; };
  Bf16Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    const int64_t steps = std::llabs(line(a[i]) - line(b[i]));
    if (steps != 0) ++d.mismatches;
    if (steps > d.max_steps && !(std::fabs(bf16_widen(b[i])) < from)) d.max_steps = steps;
  }
  return d;
}

// CUDA and the CPU compute the same fp32 formulas in other orders (float vs
// double sums, rsqrtf, tanhf vs tanh_fast): their fp32 results differ by a few
// float ulps of the terms, up to ~4e-6 absolute here. Each rounds its own
// result once (checked exactly), so the bf16 results differ by at most one
// bf16 step (2^-8 relative) wherever that is larger than the fp32 difference:
// from 2^-6 on (a step >= 2^-13). Below, a value born of cancellation (gamma
// xhat ~ -beta, 1 + tanh(u) in GELU's left tail) may differ by more steps, though
// not by more absolute error.
constexpr float kOneStepFrom = 0x1p-6f;

bool same_values(const Tensor& a, const Tensor& b) { return a.to_vector() == b.to_vector(); }

// aha_test::relative_error over the elements where b is finite; where it is
// not, a must hold the same infinity, or NaN.
double finite_relative_error(const Tensor& a, const Tensor& b) {
  const std::vector<float> av = a.to_vector(), bv = b.to_vector();
  REQUIRE(av.size() == bv.size());
  std::vector<float> af, bf;
  for (size_t i = 0; i < bv.size(); ++i) {
    if (std::isfinite(bv[i])) {
      af.push_back(av[i]);
      bf.push_back(bv[i]);
    } else if (std::isnan(bv[i]) ? !std::isnan(av[i]) : av[i] != bv[i]) {
      return std::numeric_limits<double>::infinity();
    }
  }
  const Shape shape{(int64_t)bf.size()};
  return aha_test::relative_error(Tensor::from_vector(af, shape), Tensor::from_vector(bf, shape));
}

// Values where GELU and its derivative are awkward: zeros of both signs, tiny,
// the tanh form's polynomial switch, large of both signs (gelu -> x and -> 0),
// infinities and NaN (both backends keep the fp32 kernels' answers).
std::vector<float> special_values() {
  const float inf = std::numeric_limits<float>::infinity();
  return {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-3f, -1e-3f, 0.5f, -0.5f, 0.78f, -0.78f, 1.0f, -1.0f,
          3.0f, -3.0f, 10.0f, -10.0f, 1e4f, -1e4f, inf, -inf, std::nanf("")};
}

}  // namespace

// ---- CPU: exactly the fp32 kernels, rounded once ----

TEST_CASE("bf16 layernorm (CPU): y is the fp32 layernorm's y rounded once; mean and rstd unchanged") {
  for (int64_t C : kWidths)
    for (int64_t rows : kRows) {
      CAPTURE(C);
      CAPTURE(rows);
      // An offset mean and a spread: the two-pass variance matters, and y spans many exponents.
      const Tensor x = randn(Shape{rows, C}, 11 + C + rows, 2.0f, 3.0f);
      const Tensor gamma = randn(Shape{C}, 12), beta = randn(Shape{C}, 13);
      const LayerNormResult ref = layernorm(x, gamma, beta, 1e-5f);
      const LayerNormResult r = layernorm(x, gamma, beta, 1e-5f, DType::BF16);
      REQUIRE(r.y.dtype() == DType::BF16);
      CHECK(r.y.shape() == x.shape());
      CHECK(r.mean.dtype() == DType::F32);
      CHECK(r.rstd.dtype() == DType::F32);
      const Bf16Diff d = compare_bits(bits_of(r.y), rounded(ref.y));
      CHECK(d.mismatches == 0);
      CHECK(same_values(r.mean, ref.mean));
      CHECK(same_values(r.rstd, ref.rstd));
    }
}

TEST_CASE("bf16 layernorm (CPU): the fp32 overload is out = F32, and 3-D x keeps its shape") {
  const Tensor x = randn(Shape{2, 5, 12}, 21), gamma = randn(Shape{12}, 22), beta = randn(Shape{12}, 23);
  const LayerNormResult a = layernorm(x, gamma, beta, 1e-5f);
  const LayerNormResult b = layernorm(x, gamma, beta, 1e-5f, DType::F32);
  CHECK(b.y.dtype() == DType::F32);
  CHECK(same_values(a.y, b.y));
  const LayerNormResult h = layernorm(x, gamma, beta, 1e-5f, DType::BF16);
  CHECK(h.y.shape() == x.shape());
  CHECK(h.mean.shape() == Shape{2, 5});
  CHECK(compare_bits(bits_of(h.y), rounded(a.y)).mismatches == 0);
}

TEST_CASE("bf16 layernorm_backward (CPU): bf16 dy gives the fp32 backward of the widened dy, fp32 out") {
  for (int64_t C : kWidths)
    for (int64_t rows : kRows) {
      CAPTURE(C);
      CAPTURE(rows);
      const Tensor x = randn(Shape{rows, C}, 31 + C + rows, 2.0f, -1.0f);
      const Tensor gamma = randn(Shape{C}, 32), beta = randn(Shape{C}, 33);
      const LayerNormResult fwd = layernorm(x, gamma, beta, 1e-5f, DType::BF16);
      const Bf16Input dy = bf16_input(x.shape(), 34 + C * rows);
      const LayerNormGrads ref = layernorm_backward(dy.wide, x, gamma, fwd.mean, fwd.rstd);
      const LayerNormGrads g = layernorm_backward(dy.bf16, x, gamma, fwd.mean, fwd.rstd);
      CHECK(g.dx.dtype() == DType::F32);
      CHECK(g.dgamma.dtype() == DType::F32);
      CHECK(g.dbeta.dtype() == DType::F32);
      CHECK(same_values(g.dx, ref.dx));
      CHECK(same_values(g.dgamma, ref.dgamma));
      CHECK(same_values(g.dbeta, ref.dbeta));
    }
}

TEST_CASE("bf16 gelu and gelu_backward (CPU): the fp32 results on the widened inputs, rounded once") {
  SUBCASE("random values, several sizes (the threaded loop from 32768 on)") {
    for (int64_t n : {1, 7, 64, 1001, 384 * 300 + 1}) {
      CAPTURE(n);
      const Bf16Input x = bf16_input(Shape{n}, 41 + n, 2.0f);
      const Bf16Input dy = bf16_input(Shape{n}, 42 + n);
      const Tensor y = gelu(x.bf16);
      REQUIRE(y.dtype() == DType::BF16);
      CHECK(compare_bits(bits_of(y), rounded(gelu(x.wide))).mismatches == 0);
      const Tensor dx = gelu_backward(x.bf16, dy.bf16);
      REQUIRE(dx.dtype() == DType::BF16);
      CHECK(compare_bits(bits_of(dx), rounded(gelu_backward(x.wide, dy.wide))).mismatches == 0);
    }
  }
  SUBCASE("special values: signed zeros, tails, infinities, NaN") {
    const std::vector<float> v = special_values();
    const Shape shape{(int64_t)v.size()};
    const Tensor x = cast(Tensor::from_vector(v, shape), DType::BF16);
    const Tensor wide = cast(x, DType::F32);
    const Tensor dy = cast(Tensor::full(shape, 1.5f), DType::BF16);
    CHECK(compare_bits(bits_of(gelu(x)), rounded(gelu(wide))).mismatches == 0);
    CHECK(compare_bits(bits_of(gelu_backward(x, dy)), rounded(gelu_backward(wide, cast(dy, DType::F32))))
              .mismatches == 0);
    // And the values themselves: gelu(x) -> x far right, -> 0 far left; inf - inf is NaN.
    const std::vector<float> y = gelu(x).to_vector(), xs = wide.to_vector();
    CHECK(y[0] == 0.0f);
    CHECK(y[16] == xs[16]);  // 1e4 as bf16
    CHECK(y[17] == 0.0f);    // -1e4
    CHECK(y[18] == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(y[19]));  // -inf * 0
    CHECK(std::isnan(y[20]));
  }
}

TEST_CASE("bf16 layernorm and gelu: empty tensors give empty results") {
  const Tensor x = Tensor::empty(Shape{0, 8});
  const LayerNormResult r = layernorm(x, randn(Shape{8}, 1), randn(Shape{8}, 2), 1e-5f, DType::BF16);
  CHECK(r.y.dtype() == DType::BF16);
  CHECK(r.y.numel() == 0);
  const Tensor e = Tensor::empty(Shape{0}, Device::CPU, DType::BF16);
  CHECK(gelu(e).numel() == 0);
  CHECK(gelu_backward(e, e).numel() == 0);
}

TEST_CASE("bf16 layernorm and gelu: dtype mixes are refused with the op and the dtypes named") {
  const Tensor x = randn(Shape{3, 8}, 51), gamma = randn(Shape{8}, 52), beta = randn(Shape{8}, 53);
  const Tensor x_bf16 = cast(x, DType::BF16);
  SUBCASE("layernorm takes fp32 x, gamma, beta only") {
    CHECK_THROWS_WITH_AS(layernorm(x_bf16, gamma, beta, 1e-5f, DType::BF16),
                         doctest::Contains("layernorm: x, gamma and beta must be fp32 (y may be bf16), got bf16"),
                         ShapeError);
    CHECK_THROWS_WITH_AS(layernorm(x, cast(gamma, DType::BF16), beta, 1e-5f),
                         doctest::Contains("got fp32, bf16, fp32"), ShapeError);
  }
  SUBCASE("layernorm_backward takes fp32 x, gamma, mean, rstd (dy either)") {
    const LayerNormResult r = layernorm(x, gamma, beta, 1e-5f, DType::BF16);
    CHECK_THROWS_WITH_AS(layernorm_backward(r.y, x_bf16, gamma, r.mean, r.rstd),
                         doctest::Contains("layernorm_backward: x, gamma, mean and rstd must be fp32 (dy may be bf16)"),
                         ShapeError);
    CHECK_THROWS_WITH_AS(layernorm_backward(r.y, x, gamma, cast(r.mean, DType::BF16), r.rstd),
                         doctest::Contains("got fp32, fp32, bf16, fp32"), ShapeError);
  }
  SUBCASE("gelu_backward takes x and dy of one dtype") {
    CHECK_THROWS_WITH_AS(gelu_backward(x_bf16, x), doctest::Contains("gelu_backward: x is bf16 but dy is fp32"),
                         ShapeError);
    CHECK_THROWS_WITH_AS(gelu_backward(x, x_bf16), doctest::Contains("gelu_backward: x is fp32 but dy is bf16"),
                         ShapeError);
  }
  SUBCASE("the other unary ops still refuse bf16") {
    CHECK_THROWS_AS(tanh(x_bf16), std::runtime_error);
    CHECK_THROWS_AS(relu_backward(x_bf16, x_bf16), std::runtime_error);
  }
}

// ---- CUDA against the CPU, and against its own fp32 kernels ----

TEST_CASE("bf16 layernorm (CUDA): y within one bf16 step of the CPU's, and the CUDA fp32 y rounded once") {
  if (skip_without_gpu()) return;
  for (int64_t C : kWidths)
    for (int64_t rows : kRows) {
      CAPTURE(C);
      CAPTURE(rows);
      const Tensor x = randn(Shape{rows, C}, 61 + C + rows, 2.0f, 3.0f);
      const Tensor gamma = randn(Shape{C}, 62), beta = randn(Shape{C}, 63);
      const LayerNormResult cpu = layernorm(x, gamma, beta, 1e-5f, DType::BF16);
      const Tensor xg = x.to(Device::CUDA), gg = gamma.to(Device::CUDA), bg = beta.to(Device::CUDA);
      const LayerNormResult gpu = layernorm(xg, gg, bg, 1e-5f, DType::BF16);
      const LayerNormResult gpu_f32 = layernorm(xg, gg, bg, 1e-5f);
      REQUIRE(gpu.y.dtype() == DType::BF16);
      CHECK(compare_bits(bits_of(gpu.y), rounded(gpu_f32.y)).mismatches == 0);
      CHECK(aha_test::relative_error(gpu_f32.y, layernorm(x, gamma, beta, 1e-5f).y) <= kTolerance);
      const Bf16Diff d = compare_bits(bits_of(gpu.y), bits_of(cpu.y), kOneStepFrom);
      CHECK(d.max_steps <= 1);
      CHECK(d.mismatches * 100 <= x.numel());  // a boundary case, not a habit
      CHECK(aha_test::relative_error(gpu.mean, cpu.mean) <= kTolerance);
      CHECK(aha_test::relative_error(gpu.rstd, cpu.rstd) <= kTolerance);
    }
}

TEST_CASE("bf16 layernorm_backward (CUDA): bf16 dy matches the CPU and the CUDA fp32 backward of the widened dy") {
  if (skip_without_gpu()) return;
  for (int64_t C : kWidths)
    for (int64_t rows : kRows) {
      CAPTURE(C);
      CAPTURE(rows);
      const Tensor x = randn(Shape{rows, C}, 71 + C + rows, 2.0f, -1.0f);
      const Tensor gamma = randn(Shape{C}, 72), beta = randn(Shape{C}, 73);
      const LayerNormResult fwd = layernorm(x, gamma, beta, 1e-5f, DType::BF16);
      const Bf16Input dy = bf16_input(x.shape(), 74 + C * rows);
      const LayerNormGrads cpu = layernorm_backward(dy.bf16, x, gamma, fwd.mean, fwd.rstd);
      auto on_gpu = [](const Tensor& t) { return t.to(Device::CUDA); };
      const LayerNormGrads gpu =
          layernorm_backward(on_gpu(dy.bf16), on_gpu(x), on_gpu(gamma), on_gpu(fwd.mean), on_gpu(fwd.rstd));
      const LayerNormGrads gpu_f32 =
          layernorm_backward(on_gpu(dy.wide), on_gpu(x), on_gpu(gamma), on_gpu(fwd.mean), on_gpu(fwd.rstd));
      REQUIRE(gpu.dx.dtype() == DType::F32);
      CHECK(same_values(gpu.dx, gpu_f32.dx));
      CHECK(same_values(gpu.dgamma, gpu_f32.dgamma));
      CHECK(same_values(gpu.dbeta, gpu_f32.dbeta));
      // dx at C = 1 is exactly 0 on both (g - mean(g) = 0): relative_error_or_rms.
      CHECK(aha_test::relative_error_or_rms(gpu.dx, cpu.dx) <= kTolerance);
      CHECK(aha_test::relative_error(gpu.dgamma, cpu.dgamma) <= kTolerance);
      CHECK(aha_test::relative_error(gpu.dbeta, cpu.dbeta) <= kTolerance);
    }
}

TEST_CASE("bf16 gelu and gelu_backward (CUDA): within one bf16 step of the CPU's, and the CUDA fp32 results rounded once") {
  if (skip_without_gpu()) return;
  auto check = [](const Tensor& x, const Tensor& dy) {
    const Tensor xg = x.to(Device::CUDA), dyg = dy.to(Device::CUDA);
    const Tensor y = gelu(xg), dx = gelu_backward(xg, dyg);
    REQUIRE(y.dtype() == DType::BF16);
    REQUIRE(dx.dtype() == DType::BF16);
    const Tensor y_f32 = gelu(cast(xg, DType::F32));
    const Tensor dx_f32 = gelu_backward(cast(xg, DType::F32), cast(dyg, DType::F32));
    CHECK(compare_bits(bits_of(y), rounded(y_f32)).mismatches == 0);
    CHECK(compare_bits(bits_of(dx), rounded(dx_f32)).mismatches == 0);
    CHECK(finite_relative_error(y_f32, gelu(cast(x, DType::F32))) <= kTolerance);
    CHECK(finite_relative_error(dx_f32, gelu_backward(cast(x, DType::F32), cast(dy, DType::F32))) <= kTolerance);
    const Bf16Diff y_diff = compare_bits(bits_of(y), bits_of(gelu(x)), kOneStepFrom);
    const Bf16Diff dx_diff = compare_bits(bits_of(dx), bits_of(gelu_backward(x, dy)), kOneStepFrom);
    CHECK(y_diff.max_steps <= 1);
    CHECK(dx_diff.max_steps <= 1);
    CHECK(y_diff.mismatches * 100 <= x.numel());
    CHECK(dx_diff.mismatches * 100 <= x.numel());
  };
  SUBCASE("random values; odd sizes take the last value alone") {
    for (int64_t n : {1, 7, 64, 1001, 384 * 300 + 1}) {
      CAPTURE(n);
      check(bf16_input(Shape{n}, 81 + n, 2.0f).bf16, bf16_input(Shape{n}, 82 + n).bf16);
    }
  }
  SUBCASE("special values") {
    const std::vector<float> v = special_values();
    const Shape shape{(int64_t)v.size()};
    check(cast(Tensor::from_vector(v, shape), DType::BF16), cast(Tensor::full(shape, 1.5f), DType::BF16));
  }
}
