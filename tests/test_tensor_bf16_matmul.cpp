// The bf16 matrix products (tensor/ops.h "bf16"): matmul(.., out), linear with
// a bf16 x, and sum_rows of a bf16 tensor. Each is checked against the float32
// op on the bf16-rounded inputs: bf16 -> float is exact and the float32 sums
// are what both compute, so on the CPU (which widens and runs the float32
// kernel) they agree bit for bit. CUDA (cuBLAS, cuBLASLt on tensor cores) adds
// the same exact products in another order: its float32 results agree to
// float32 rounding, its bf16 results to one bf16 ulp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "tests/gpu_cases.h"

using aha::DType;
using aha::Device;
using aha::Generator;
using aha::Shape;
using aha::Tensor;

namespace {

constexpr Device kCPU = Device::CPU;
constexpr Device kGPU = Device::CUDA;

// Float32 sums of the same exact products in another order.
constexpr double kTolerance = 1e-5;

aha_test::GpuCaseCounter g_gpu_cases("test_tensor_bf16_matmul");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

Tensor randn(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, kCPU);
}

Tensor to_bf16(const Tensor& t) { return aha::cast(t, DType::BF16); }
// The float32 tensor of t's bf16-rounded values: what a bf16 op reads.
Tensor rounded(const Tensor& t) { return aha::cast(to_bf16(t), DType::F32); }

// bf16 values as integers that count ulps: consecutive bf16 values are
// consecutive integers, across zero too (sign-magnitude -> two's complement).
int32_t bf16_ordinal(float x) {
  const int32_t bits = aha::bf16_round(x);
  return bits & 0x8000 ? -(bits & 0x7fff) : bits;
}

// got is a bf16 tensor; want is float32 (the exact reference, before rounding).
// Every element of got is want rounded to bf16, or its neighbour (`ulps` = 1):
// CUDA's float32 sum may land on the other side of a rounding boundary. With
// `floor` > 0, an element may instead be within floor of want: a sum that
// cancels to near zero has ulps far below the float32 noise of its terms.
void check_bf16_near(const Tensor& got, const Tensor& want, int ulps, float floor = 0.0f) {
  REQUIRE(got.dtype() == DType::BF16);
  REQUIRE(got.shape() == want.shape());
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  int worst = 0, misses = 0;
  std::string first_miss;
  for (size_t i = 0; i < g.size(); ++i) {
    const int apart = std::abs(bf16_ordinal(g[i]) - bf16_ordinal(w[i]));
    if (apart <= ulps || std::fabs(g[i] - w[i]) <= floor) continue;
    worst = std::max(worst, apart);
    if (misses++ == 0) first_miss = std::to_string(i) + ": " + std::to_string(g[i]) + " vs " + std::to_string(w[i]);
  }
  INFO(misses << " of " << g.size() << " elements more than " << ulps << " bf16 ulps apart (worst " << worst
              << ", first at " << first_miss << ")");
  CHECK(misses == 0);
}

// Bit for bit (as floats: bf16 tensors are widened exactly), same dtype and shape.
void check_equal(const Tensor& got, const Tensor& want) {
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  CHECK(std::memcmp(g.data(), w.data(), g.size() * sizeof(float)) == 0);
}

// The largest |value|, for check_bf16_near's floor.
float max_abs(const Tensor& t) {
  float m = 0.0f;
  for (float x : t.to_vector()) m = std::max(m, std::fabs(x));
  return m;
}

// Every transpose flag; a plain, a batched and a shared-b product of each.
struct Product {
  std::string name;
  Tensor a, b;  // float32, to be rounded
  bool trans_a, trans_b;
};

std::vector<Product> products(int64_t M, int64_t N, int64_t K) {
  std::vector<Product> all;
  for (int transposes = 0; transposes < 4; ++transposes) {
    const bool ta = transposes & 1, tb = transposes & 2;
    const Shape a2 = ta ? Shape{K, M} : Shape{M, K};
    const Shape b2 = tb ? Shape{N, K} : Shape{K, N};
    const std::string flags = " trans_a " + std::to_string(ta) + " trans_b " + std::to_string(tb);
    all.push_back({"2-D" + flags, randn(a2, 1), randn(b2, 2), ta, tb});
    all.push_back({"batched" + flags, randn(Shape{3, a2[0], a2[1]}, 3), randn(Shape{3, b2[0], b2[1]}, 4), ta, tb});
    all.push_back({"shared b" + flags, randn(Shape{2, 3, a2[0], a2[1]}, 5), randn(b2, 6), ta, tb});
  }
  return all;
}

}  // namespace

// ---- CPU: the readable reference, against the float32 ops ----

TEST_CASE("bf16 matmul on the CPU is the float32 matmul of the rounded inputs, rounded once for bf16 out") {
  for (const Product& p : products(7, 33, 50)) {
    INFO(p.name);
    const Tensor a = to_bf16(p.a), b = to_bf16(p.b);
    const Tensor want = aha::matmul(rounded(p.a), rounded(p.b), p.trans_a, p.trans_b);
    const Tensor f32 = aha::matmul(a, b, p.trans_a, p.trans_b, DType::F32);
    CHECK(f32.dtype() == DType::F32);
    check_equal(f32, want);
    const Tensor bf16 = aha::matmul(a, b, p.trans_a, p.trans_b, DType::BF16);
    CHECK(bf16.dtype() == DType::BF16);
    check_equal(bf16, to_bf16(want));
    check_bf16_near(bf16, want, 0);  // the same claim, as the rounding rule: nearest
  }
}

TEST_CASE("bf16 matmul: an empty inner dim gives zeros; fp32 operands with out fp32 are the fp32 matmul") {
  const Tensor zeros = aha::matmul(to_bf16(randn(Shape{4, 0}, 1)), to_bf16(randn(Shape{0, 3}, 2)), false, false,
                                   DType::BF16);
  CHECK(zeros.dtype() == DType::BF16);
  CHECK(zeros.shape() == Shape{4, 3});
  for (float x : zeros.to_vector()) CHECK(x == 0.0f);
  const Tensor a = randn(Shape{5, 6}, 3), b = randn(Shape{6, 7}, 4);
  check_equal(aha::matmul(a, b, false, false, DType::F32), aha::matmul(a, b));
}

TEST_CASE("bf16 matmul refuses mixed operand dtypes, fp32 operands with a bf16 out, and bad shapes") {
  const Tensor a = randn(Shape{4, 5}, 1), b = randn(Shape{5, 3}, 2);
  CHECK_THROWS_WITH_AS(aha::matmul(to_bf16(a), b, false, false, DType::F32),
                       doctest::Contains("different dtypes (bf16 and fp32)"), aha::ShapeError);
  CHECK_THROWS_WITH_AS(aha::matmul(a, b, false, false, DType::BF16),
                       doctest::Contains("fp32 operands give an fp32 result, not bf16"), aha::ShapeError);
  CHECK_THROWS_WITH_AS(aha::matmul(to_bf16(a), to_bf16(a), false, false, DType::BF16),
                       doctest::Contains("inner dims differ"), aha::ShapeError);
}

TEST_CASE("bf16 linear on the CPU is the float32 linear of the rounded x, w and b; y bf16, or fp32 with a residual") {
  struct Dims {
    Shape x;
    int64_t N;
  };
  for (const Dims& d : {Dims{Shape{1, 1}, 1}, Dims{Shape{7, 33}, 5}, Dims{Shape{3, 11, 13}, 100},
                        Dims{Shape{2, 65, 64}, 96}}) {
    INFO("x " << d.x.str() << " N " << d.N);
    const int64_t K = d.x[-1];
    const Tensor x = randn(d.x, 11), w = randn(Shape{K, d.N}, 12), b = randn(Shape{d.N}, 13);
    const Tensor r = randn(d.x.with_last(d.N), 14);
    const Tensor want = aha::linear(rounded(x), rounded(w), rounded(b));
    const Tensor y = aha::linear(to_bf16(x), w, b);
    check_equal(y, to_bf16(want));
    const Tensor y_residual = aha::linear(to_bf16(x), w, b, r);
    check_equal(y_residual, aha::linear(rounded(x), rounded(w), rounded(b), r));
  }
}

TEST_CASE("bf16 linear refuses a bf16 w, b or residual (they stay fp32)") {
  const Tensor x = to_bf16(randn(Shape{4, 5}, 1)), w = randn(Shape{5, 3}, 2), b = randn(Shape{3}, 3);
  const Tensor r = randn(Shape{4, 3}, 4);
  CHECK_THROWS_WITH_AS(aha::linear(x, to_bf16(w), b), doctest::Contains("bf16 x takes fp32 w, b and residual"),
                       aha::ShapeError);
  CHECK_THROWS_WITH_AS(aha::linear(x, w, to_bf16(b)), doctest::Contains("b bf16"), aha::ShapeError);
  CHECK_THROWS_WITH_AS(aha::linear(x, w, b, to_bf16(r)), doctest::Contains("residual bf16"), aha::ShapeError);
  CHECK_THROWS_AS(aha::linear(x, w, b, randn(Shape{4, 4}, 5)), aha::ShapeError);  // shape still checked
}

TEST_CASE("sum_rows of a bf16 tensor is the fp32 sum_rows of its values, fp32 out") {
  for (const Shape& shape : {Shape{1, 1}, Shape{7, 33}, Shape{3, 100, 65}, Shape{5000, 3}}) {
    INFO(shape.str());
    const Tensor a = randn(shape, 21);
    const Tensor got = aha::sum_rows(to_bf16(a));
    CHECK(got.dtype() == DType::F32);
    check_equal(got, aha::sum_rows(rounded(a)));
  }
}

// ---- CUDA against the CPU ----

TEST_CASE("cuda: bf16 matmul matches the CPU: fp32 out to float32 rounding, bf16 out within one ulp") {
  if (skip_without_gpu()) return;
  struct Dims {
    int64_t M, N, K;
  };
  for (const Dims& d : {Dims{1, 1, 1}, Dims{7, 33, 50}, Dims{33, 7, 1000}, Dims{64, 384, 256}}) {
    for (const Product& p : products(d.M, d.N, d.K)) {
      INFO(p.name << " M " << d.M << " N " << d.N << " K " << d.K);
      const Tensor a = to_bf16(p.a), b = to_bf16(p.b);
      const Tensor want = aha::matmul(a, b, p.trans_a, p.trans_b, DType::F32);  // CPU, exact sums of products
      const Tensor ga = a.to(kGPU), gb = b.to(kGPU);
      const Tensor f32 = aha::matmul(ga, gb, p.trans_a, p.trans_b, DType::F32);
      REQUIRE(f32.device() == kGPU);
      REQUIRE(f32.dtype() == DType::F32);
      const double error = aha_test::relative_error(f32, want);
      INFO("relative error " << error);
      CHECK(error <= kTolerance);
      const Tensor bf16 = aha::matmul(ga, gb, p.trans_a, p.trans_b, DType::BF16);
      check_bf16_near(bf16, want, 1, 1e-5f * max_abs(want));
    }
  }
}

TEST_CASE("cuda: bf16 linear (cuBLASLt, bf16 A/B, the bias in y's type) matches the CPU, with and without a residual") {
  if (skip_without_gpu()) return;
  struct Dims {
    Shape x;
    int64_t N;
  };
  // Odd sizes (rows bf16 rows not 16-byte aligned: cuBLASLt may refuse, the
  // fallback then runs), a [B, T, C] input, the gpu-small MLP both ways.
  for (const Dims& d : {Dims{Shape{1, 1}, 1}, Dims{Shape{7, 33}, 5}, Dims{Shape{3, 11, 13}, 1000},
                        Dims{Shape{2, 129, 384}, 1536}, Dims{Shape{1000, 1536}, 384}}) {
    INFO("x " << d.x.str() << " N " << d.N);
    const int64_t K = d.x[-1];
    const Tensor x = to_bf16(randn(d.x, 11)), w = randn(Shape{K, d.N}, 12), b = randn(Shape{d.N}, 13);
    const Tensor r = randn(d.x.with_last(d.N), 14);
    // The CPU's float32 y before rounding: the reference for the bf16 y.
    const Tensor want = aha::linear(aha::cast(x, DType::F32), rounded(w), rounded(b));
    const Tensor y = aha::linear(x.to(kGPU), w.to(kGPU), b.to(kGPU));
    REQUIRE(y.device() == kGPU);
    check_bf16_near(y, want, 1, 1e-5f * max_abs(want));
    const Tensor want_residual = aha::linear(x, w, b, r);
    const Tensor y_residual = aha::linear(x.to(kGPU), w.to(kGPU), b.to(kGPU), r.to(kGPU));
    REQUIRE(y_residual.dtype() == DType::F32);
    const double error = aha_test::relative_error(y_residual, want_residual);
    INFO("relative error with a residual " << error);
    CHECK(error <= kTolerance);
  }
  // The bias really is added (rounded to bf16 as the weight is): with w = 0, y = bf16(b) on every row.
  const Tensor b = randn(Shape{5}, 15);
  const Tensor y = aha::linear(to_bf16(randn(Shape{4, 3}, 16)).to(kGPU), Tensor::zeros(Shape{3, 5}, kGPU), b.to(kGPU));
  for (int64_t row = 0; row < 4; ++row)
    for (int64_t n = 0; n < 5; ++n) CHECK(y.at({row, n}) == aha::bf16_widen(aha::bf16_round(b.at({n}))));
}

TEST_CASE("cuda: sum_rows of a bf16 tensor matches the CPU") {
  if (skip_without_gpu()) return;
  for (const Shape& shape : {Shape{1, 1}, Shape{7, 33}, Shape{3, 100, 65}, Shape{200000, 3}, Shape{8192, 1536}}) {
    INFO(shape.str());
    const Tensor a = to_bf16(randn(shape, 21));
    const Tensor got = aha::sum_rows(a.to(kGPU));
    REQUIRE(got.dtype() == DType::F32);
    const double error = aha_test::relative_error(got, aha::sum_rows(a));
    INFO("relative error " << error);
    CHECK(error <= kTolerance);
  }
}
