// The tensor layer on the CPU: factories, views, every op's forward against a
// hand computation or a closed form, every backward kernel against central
// finite differences of its forward (tests/gradcheck.h), and the shape errors.
// CUDA and mixed-device cases live in tests/test_tensor_cuda.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "tests/gradcheck.h"

using aha::Generator;
using aha::Shape;
using aha::ShapeError;
using aha::Tensor;

namespace {

// ---- helpers ----

std::vector<float> values(const Tensor& t) { return t.to_vector(); }

Tensor tensor(const std::vector<float>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape);
}

Tensor randn(const Shape& shape, uint64_t seed, float std = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, aha::Device::CPU, std);
}

std::vector<double> as_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Elementwise |actual - expected| <= atol + rtol |expected|.
void check_close(const std::vector<float>& actual, const std::vector<double>& expected,
                 double rtol = 1e-5, double atol = 1e-6) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i << ": got " << actual[i] << ", expected " << expected[i]);
    CHECK(std::fabs((double)actual[i] - expected[i]) <= atol + rtol * std::fabs(expected[i]));
  }
}

void check_close(const std::vector<float>& actual, const std::vector<float>& expected,
                 double rtol = 1e-5, double atol = 1e-6) {
  check_close(actual, as_double(expected), rtol, atol);
}

// Backward kernels are checked with the shared finite-difference checker
// (tests/gradcheck.h) at its default step and tolerance.
using aha_test::Values;
const double kGradTolerance = aha_test::GradCheckOptions().tolerance;

// Naive C = op(A) @ op(B) for one batch, in double.
std::vector<double> naive_matmul(const std::vector<float>& a, const std::vector<float>& b,
                                 int64_t batch, int64_t M, int64_t N, int64_t K, bool trans_a,
                                 bool trans_b, bool b_shared) {
  std::vector<double> c((size_t)(batch * M * N), 0.0);
  for (int64_t p = 0; p < batch; ++p) {
    const float* A = a.data() + p * M * K;
    const float* B = b.data() + (b_shared ? 0 : p * K * N);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double sum = 0.0;
        for (int64_t k = 0; k < K; ++k) {
          double av = trans_a ? A[k * M + i] : A[i * K + k];
          double bv = trans_b ? B[j * K + k] : B[k * N + j];
          sum += av * bv;
        }
        c[(size_t)((p * M + i) * N + j)] = sum;
      }
  }
  return c;
}

// log sum_j exp(z_j) of one row, in double, the textbook way.
double log_sum_exp(const float* z, int64_t V) {
  double max = z[0];
  for (int64_t j = 1; j < V; ++j) max = std::max(max, (double)z[j]);
  double sum = 0.0;
  for (int64_t j = 0; j < V; ++j) sum += std::exp(z[j] - max);
  return max + std::log(sum);
}

}  // namespace

// ---- factories ----

TEST_CASE("factories fill their shapes with the right values") {
  Tensor z = Tensor::zeros(Shape{2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.device() == aha::Device::CPU);
  check_close(values(z), std::vector<float>(6, 0.0f));
  check_close(values(Tensor::ones(Shape{4})), std::vector<float>(4, 1.0f));
  check_close(values(Tensor::full(Shape{2, 2, 2}, -2.5f)), std::vector<float>(8, -2.5f));
  check_close(values(Tensor::arange(5)), std::vector<float>{0, 1, 2, 3, 4});
  Tensor s = Tensor::scalar(3.25f);
  CHECK(s.ndim() == 0);
  CHECK(s.item() == 3.25f);
  Tensor v = tensor({1, 2, 3, 4, 5, 6}, Shape{3, 2});
  CHECK(v.at({2, 1}) == 6.0f);
  CHECK(v.at({1, 0}) == 3.0f);
  CHECK_THROWS_WITH_AS(tensor({1, 2, 3}, Shape{2, 2}),
                       "Tensor::from_vector: 3 values do not fill shape [2, 2]", ShapeError);
  CHECK(Tensor::zeros(Shape{0, 3}).numel() == 0);
}

TEST_CASE("randn and rand are deterministic by seed and follow the counter-based streams") {
  Generator g1(42), g2(42), g3(43);
  Tensor a = Tensor::randn(Shape{64}, g1);
  Tensor b = Tensor::randn(Shape{64}, g2);
  Tensor c = Tensor::randn(Shape{64}, g3);
  CHECK(values(a) == values(b));
  CHECK(values(a) != values(c));
  // The generator moved on: the next fill continues the stream, it does not repeat it.
  CHECK(g1.offset() == 64);
  Tensor a_next = Tensor::randn(Shape{64}, g1);
  CHECK(values(a_next) != values(a));
  // Element i of a fill is the stream's counter offset + i.
  std::vector<float> av = values(a), an = values(a_next);
  for (int i = 0; i < 64; ++i) {
    CHECK(av[(size_t)i] == aha::rng::normal(42, (uint64_t)i));
    CHECK(an[(size_t)i] == aha::rng::normal(42, (uint64_t)(64 + i)));
  }
  Generator g4(42);
  std::vector<float> scaled = values(Tensor::randn(Shape{64}, g4, aha::Device::CPU, 0.02f));
  for (size_t i = 0; i < 64; ++i) CHECK(scaled[i] == doctest::Approx(0.02f * av[i]).epsilon(1e-6));
}

TEST_CASE("randn has mean 0 and std 1; rand is uniform on [0, 1)") {
  const int n = 100000;
  Generator gen(7);
  std::vector<float> normal = values(Tensor::randn(Shape{n}, gen));
  double sum = 0.0, sq = 0.0;
  for (float x : normal) {
    sum += x;
    sq += (double)x * x;
  }
  double mean = sum / n, std = std::sqrt(sq / n - mean * mean);
  // The standard error of the mean is 1/sqrt(n) ~ 0.0032; 0.015 is ~5 sigma.
  CHECK(std::fabs(mean) < 0.015);
  CHECK(std::fabs(std - 1.0) < 0.015);

  std::vector<float> uniform = values(Tensor::rand(Shape{n}, gen));
  double usum = 0.0;
  float lo = 1.0f, hi = 0.0f;
  for (float u : uniform) {
    usum += u;
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  CHECK(lo >= 0.0f);
  CHECK(hi < 1.0f);
  CHECK(lo < 0.001f);  // the whole interval is covered
  CHECK(hi > 0.999f);
  CHECK(std::fabs(usum / n - 0.5) < 0.005);  // std of the mean: 0.29/sqrt(n) ~ 0.0009
}

// ---- views and copies ----

TEST_CASE("reshape is a view sharing storage; clone is a copy; to(CPU) is the tensor itself") {
  Tensor a = tensor({0, 1, 2, 3, 4, 5}, Shape{2, 3});
  Tensor r = a.reshape(Shape{3, 2});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.shares_storage(a));
  r.set({2, 1}, 50.0f);
  CHECK(a.at({1, 2}) == 50.0f);

  Tensor c = a.clone();
  CHECK_FALSE(c.shares_storage(a));
  CHECK(values(c) == values(a));
  c.set({0, 0}, -1.0f);
  CHECK(a.at({0, 0}) == 0.0f);

  Tensor same = a.to(aha::Device::CPU);
  CHECK(same.shares_storage(a));

  Tensor dst = Tensor::zeros(Shape{6});
  dst.copy_from(a);
  check_close(values(dst), std::vector<float>{0, 1, 2, 3, 4, 50});

  CHECK_THROWS_WITH_AS(a.reshape(Shape{4, 2}),
                       "reshape: cannot view [2, 3] as [4, 2] (different number of elements)",
                       ShapeError);
}

TEST_CASE("item, at and set check their indices") {
  Tensor a = Tensor::zeros(Shape{2, 3});
  a.set({1, 2}, 7.0f);
  CHECK(a.at({1, 2}) == 7.0f);
  CHECK(values(a)[5] == 7.0f);
  CHECK(a.reshape(Shape{6}).at({5}) == 7.0f);
  CHECK(Tensor::full(Shape{1, 1}, 2.0f).item() == 2.0f);
  CHECK_THROWS_WITH_AS(a.item(), "item: tensor of shape [2, 3] is not a single value", ShapeError);
  CHECK_THROWS_WITH_AS(a.at({2, 0}), "at: index 2 out of range for dim 0 of [2, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(a.at({0}), "at: 1 indices for shape [2, 3]", ShapeError);
  CHECK_THROWS_AS(Tensor().data(), std::runtime_error);
}

TEST_CASE("tensors and shapes print their shape, device and first values") {
  Tensor a = tensor({1, 2.5f, -3}, Shape{3});
  CHECK(a.str() == "Tensor[3] cpu [1, 2.5, -3]");
  std::ostringstream os;
  os << Tensor::arange(10).reshape(Shape{2, 5});
  CHECK(os.str() == "Tensor[2, 5] cpu [0, 1, 2, 3, 4, 5, 6, 7, ... (10 values)]");
  std::ostringstream shape_os;
  shape_os << Shape{4, 1, 2};
  CHECK(shape_os.str() == "[4, 1, 2]");
  CHECK(Shape{}.str() == "[]");
}

// ---- matrix products ----

TEST_CASE("matmul matches a naive triple loop for every transpose combination") {
  const int64_t sizes[] = {1, 7, 33};
  uint64_t seed = 100;
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : sizes)
        for (int flags = 0; flags < 4; ++flags) {
          bool ta = flags & 1, tb = flags & 2;
          Tensor a = randn(ta ? Shape{K, M} : Shape{M, K}, seed++);
          Tensor b = randn(tb ? Shape{N, K} : Shape{K, N}, seed++);
          Tensor c = aha::matmul(a, b, ta, tb);
          INFO("M=" << M << " N=" << N << " K=" << K << " trans_a=" << ta << " trans_b=" << tb);
          REQUIRE(c.shape() == Shape{M, N});
          check_close(values(c), naive_matmul(values(a), values(b), 1, M, N, K, ta, tb, false),
                      1e-4, 1e-5);
        }
}

TEST_CASE("linear is x @ w + b on every row, and names bad shapes") {
  Tensor x = randn(Shape{2, 7, 33}, 201), w = randn(Shape{33, 5}, 202), b = randn(Shape{5}, 203);
  Tensor y = aha::linear(x, w, b);
  REQUIRE(y.shape() == Shape{2, 7, 5});
  std::vector<double> want = naive_matmul(values(x), values(w), 1, 14, 5, 33, false, false, false);
  for (size_t i = 0; i < want.size(); ++i) want[i] += values(b)[i % 5];
  check_close(values(y), want, 1e-4, 1e-5);
  CHECK_THROWS_WITH_AS(aha::linear(x, w, randn(Shape{4}, 204)), doctest::Contains("linear"), ShapeError);
  CHECK_THROWS_AS(aha::linear(x, randn(Shape{32, 5}, 205), b), ShapeError);
  // With a residual r: r + x @ w + b.
  Tensor r = randn(Shape{2, 7, 5}, 206);
  std::vector<double> want_r = want;
  for (size_t i = 0; i < want_r.size(); ++i) want_r[i] += values(r)[i];
  check_close(values(aha::linear(x, w, b, r)), want_r, 1e-4, 1e-5);
  CHECK_THROWS_WITH_AS(aha::linear(x, w, b, randn(Shape{14, 5}, 207)), doctest::Contains("residual"), ShapeError);
}

TEST_CASE("matmul batches over leading dims, with a per-batch or a shared B") {
  SUBCASE("3-D, B per batch") {
    for (int flags = 0; flags < 4; ++flags) {
      bool ta = flags & 1, tb = flags & 2;
      const int64_t batch = 3, M = 7, N = 5, K = 33;
      Tensor a = randn(ta ? Shape{batch, K, M} : Shape{batch, M, K}, 1 + flags);
      Tensor b = randn(tb ? Shape{batch, N, K} : Shape{batch, K, N}, 11 + flags);
      Tensor c = aha::matmul(a, b, ta, tb);
      REQUIRE(c.shape() == Shape{batch, M, N});
      check_close(values(c), naive_matmul(values(a), values(b), batch, M, N, K, ta, tb, false),
                  1e-4, 1e-5);
    }
  }
  SUBCASE("4-D, B per batch (attention scores)") {
    Tensor q = randn(Shape{2, 3, 7, 4}, 21);
    Tensor k = randn(Shape{2, 3, 7, 4}, 22);
    Tensor s = aha::matmul(q, k, false, true);
    REQUIRE(s.shape() == Shape{2, 3, 7, 7});
    check_close(values(s), naive_matmul(values(q), values(k), 6, 7, 7, 4, false, true, false),
                1e-4, 1e-5);
  }
  SUBCASE("3-D activations times a shared 2-D weight") {
    for (int flags = 0; flags < 4; ++flags) {
      bool ta = flags & 1, tb = flags & 2;
      const int64_t batch = 4, M = 1, N = 33, K = 7;
      Tensor x = randn(ta ? Shape{batch, K, M} : Shape{batch, M, K}, 31 + flags);
      Tensor w = randn(tb ? Shape{N, K} : Shape{K, N}, 41 + flags);
      Tensor y = aha::matmul(x, w, ta, tb);
      REQUIRE(y.shape() == Shape{batch, M, N});
      check_close(values(y), naive_matmul(values(x), values(w), batch, M, N, K, ta, tb, true),
                  1e-4, 1e-5);
    }
  }
  SUBCASE("an empty inner dim gives zeros") {
    Tensor y = aha::matmul(Tensor::zeros(Shape{2, 0}), Tensor::zeros(Shape{0, 3}));
    check_close(values(y), std::vector<float>(6, 0.0f));
  }
}

// ---- elementwise ----

TEST_CASE("binary ops broadcast b as the same shape, a last-dim vector, or one value") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  SUBCASE("same shape") {
    Tensor b = tensor({6, 5, 4, 3, 2, 1}, Shape{2, 3});
    check_close(values(aha::add(a, b)), std::vector<float>{7, 7, 7, 7, 7, 7});
    check_close(values(aha::sub(a, b)), std::vector<float>{-5, -3, -1, 1, 3, 5});
    check_close(values(aha::mul(a, b)), std::vector<float>{6, 10, 12, 12, 10, 6});
    check_close(values(aha::div(a, b)), std::vector<double>{1 / 6.0, 0.4, 0.75, 4 / 3.0, 2.5, 6});
    check_close(values(aha::minimum(a, b)), std::vector<float>{1, 2, 3, 3, 2, 1});
    check_close(values(aha::maximum(a, b)), std::vector<float>{6, 5, 4, 4, 5, 6});
    Tensor c = tensor({1, 3, 3, 3, 5, 7}, Shape{2, 3});
    check_close(values(aha::greater_equal(a, c)), std::vector<float>{1, 0, 1, 1, 1, 0});
  }
  SUBCASE("a vector over the last dim") {
    Tensor bias = tensor({10, 20, 30}, Shape{3});
    check_close(values(aha::add(a, bias)), std::vector<float>{11, 22, 33, 14, 25, 36});
    check_close(values(aha::sub(a, bias)), std::vector<float>{-9, -18, -27, -6, -15, -24});
    check_close(values(aha::mul(a, bias)), std::vector<float>{10, 40, 90, 40, 100, 180});
    check_close(values(aha::div(a, bias)), std::vector<double>{0.1, 0.1, 0.1, 0.4, 0.25, 0.2});
  }
  SUBCASE("one value") {
    Tensor two = Tensor::scalar(2.0f);
    check_close(values(aha::add(a, two)), std::vector<float>{3, 4, 5, 6, 7, 8});
    check_close(values(aha::mul(a, two)), std::vector<float>{2, 4, 6, 8, 10, 12});
    check_close(values(aha::div(a, Tensor::full(Shape{1}, 4.0f))),
                std::vector<float>{0.25, 0.5, 0.75, 1, 1.25, 1.5});
  }
}

TEST_CASE("scalar ops and clamps") {
  Tensor a = tensor({-2, -0.5f, 0, 0.5f, 2}, Shape{5});
  check_close(values(aha::add_scalar(a, 1.5f)), std::vector<float>{-0.5f, 1, 1.5f, 2, 3.5f});
  check_close(values(aha::mul_scalar(a, -2.0f)), std::vector<float>{4, 1, 0, -1, -4});
  check_close(values(aha::clamp(a, -1.0f, 0.5f)), std::vector<float>{-1, -0.5f, 0, 0.5f, 0.5f});
  // The clamp mask is inclusive at both ends: the gradient passes where clamp is the identity.
  check_close(values(aha::clamp_mask(a, -0.5f, 0.5f)), std::vector<float>{0, 1, 1, 1, 0});
  CHECK_THROWS_AS(aha::clamp(a, 1.0f, 0.0f), ShapeError);
}

TEST_CASE("unary math matches the standard library and the GELU closed form") {
  Tensor x = tensor({-3, -1, -0.25f, 0, 0.25f, 1, 3}, Shape{7});
  std::vector<float> xv = values(x);
  std::vector<double> e, t, r, g;
  for (float v : xv) {
    e.push_back(std::exp((double)v));
    t.push_back(std::tanh((double)v));
    r.push_back(v > 0 ? v : 0.0);
    double u = std::sqrt(2.0 / std::acos(-1.0)) * (v + 0.044715 * v * v * v);
    g.push_back(0.5 * v * (1.0 + std::tanh(u)));
  }
  check_close(values(aha::exp(x)), e);
  check_close(values(aha::tanh(x)), t);
  check_close(values(aha::relu(x)), r);
  check_close(values(aha::gelu(x)), g, 1e-5, 1e-6);
  // Known values of the tanh-form GELU (PyTorch approximate='tanh').
  CHECK(aha::gelu(Tensor::scalar(1.0f)).item() == doctest::Approx(0.8411920).epsilon(1e-6));
  CHECK(aha::gelu(Tensor::scalar(-1.0f)).item() == doctest::Approx(-0.1588080).epsilon(1e-5));

  Tensor p = tensor({0.25f, 1, 4, 9}, Shape{4});
  check_close(values(aha::sqrt(p)), std::vector<float>{0.5f, 1, 2, 3});
  check_close(values(aha::log(p)), std::vector<double>{std::log(0.25), 0, std::log(4.0), std::log(9.0)});
}

// ---- reductions ----

TEST_CASE("reductions over the last dim, over everything, and over rows") {
  Tensor a = tensor({1, -2, 3, 4, 5, -6}, Shape{2, 3});
  CHECK(aha::sum_last(a).shape() == Shape{2});
  check_close(values(aha::sum_last(a)), std::vector<float>{2, 3});
  check_close(values(aha::mean_last(a)), std::vector<double>{2 / 3.0, 1.0});
  check_close(values(aha::max_last(a)), std::vector<float>{3, 5});
  CHECK(aha::sum_all(a).shape() == Shape{});
  CHECK(aha::sum_all(a).item() == 5.0f);
  CHECK(aha::mean_all(a).item() == doctest::Approx(5.0 / 6.0));
  CHECK(aha::max_all(a).item() == 5.0f);
  CHECK(aha::max_all(tensor({-7, -3, -9}, Shape{3})).item() == -3.0f);
  check_close(values(aha::sum_rows(a)), std::vector<float>{5, 3, -3});
  check_close(values(aha::sum_rows(a.reshape(Shape{1, 2, 3}))), std::vector<float>{5, 3, -3});
  CHECK(aha::sum_squares(a).item() == 91.0f);

  Tensor e = aha::expand_last(tensor({1, 2}, Shape{2}), 3);
  CHECK(e.shape() == Shape{2, 3});
  check_close(values(e), std::vector<float>{1, 1, 1, 2, 2, 2});
}

TEST_CASE("long sums keep their accuracy") {
  // 0.1f summed 200k times in float drifts by ~1e-3 relative; the kernels sum in double.
  const int n = 200000;
  Tensor a = Tensor::full(Shape{2, n}, 0.1f);
  double exact = (double)n * (double)0.1f;
  std::vector<float> sums = values(aha::sum_last(a));
  CHECK(sums[0] == doctest::Approx(exact).epsilon(1e-7));
  CHECK(aha::mean_all(a).item() == doctest::Approx((double)0.1f).epsilon(1e-7));
  CHECK(aha::sum_squares(a).item() == doctest::Approx(2.0 * n * (double)0.1f * (double)0.1f).epsilon(1e-7));
}

// ---- softmax family ----

TEST_CASE("softmax rows sum to 1 and match exp(x)/sum exp(x); log_softmax is its log") {
  Tensor x = randn(Shape{4, 33}, 5, 3.0f);
  std::vector<float> xv = values(x);
  std::vector<float> y = values(aha::softmax(x));
  std::vector<float> ly = values(aha::log_softmax(x));
  std::vector<double> expected, expected_log;
  for (int64_t r = 0; r < 4; ++r) {
    double lse = log_sum_exp(xv.data() + r * 33, 33);
    double row_sum = 0.0;
    for (int64_t c = 0; c < 33; ++c) {
      double v = xv[(size_t)(r * 33 + c)];
      expected.push_back(std::exp(v - lse));
      expected_log.push_back(v - lse);
      row_sum += y[(size_t)(r * 33 + c)];
    }
    CHECK(row_sum == doctest::Approx(1.0).epsilon(1e-6));
  }
  check_close(y, expected, 1e-5, 1e-7);
  check_close(ly, expected_log, 1e-5, 1e-5);

  // Large logits: subtracting the max keeps exp() finite.
  std::vector<float> big = values(aha::softmax(tensor({1000, 1001, 1002}, Shape{1, 3})));
  double z = 1 + std::exp(-1.0) + std::exp(-2.0);
  check_close(big, std::vector<double>{std::exp(-2.0) / z, std::exp(-1.0) / z, 1 / z});
  CHECK(aha::log_softmax(tensor({-1000, 0}, Shape{2})).to_vector()[0] == doctest::Approx(-1000.0));
}

// ---- layernorm ----

TEST_CASE("layernorm normalises each row to mean 0, variance 1, then scales and shifts") {
  const int64_t rows = 5, C = 33;
  Tensor x = aha::add_scalar(randn(Shape{rows, C}, 9, 2.0f), 3.0f);
  float eps = 1e-5f;
  SUBCASE("gamma = 1, beta = 0") {
    aha::LayerNormResult r = aha::layernorm(x, Tensor::ones(Shape{C}), Tensor::zeros(Shape{C}), eps);
    CHECK(r.mean.shape() == Shape{rows});
    CHECK(r.rstd.shape() == Shape{rows});
    std::vector<float> y = values(r.y), xv = values(x);
    for (int64_t i = 0; i < rows; ++i) {
      double sum = 0.0, sq = 0.0, xsum = 0.0, xsq = 0.0;
      for (int64_t c = 0; c < C; ++c) xsum += xv[(size_t)(i * C + c)];
      double mu = xsum / C;
      for (int64_t c = 0; c < C; ++c) {
        double v = y[(size_t)(i * C + c)];
        sum += v;
        sq += v * v;
        xsq += (xv[(size_t)(i * C + c)] - mu) * (xv[(size_t)(i * C + c)] - mu);
      }
      CHECK(sum / C == doctest::Approx(0.0).epsilon(1e-6).scale(1.0));
      CHECK(sq / C == doctest::Approx(1.0).epsilon(1e-3));  // eps shrinks it by ~var/(var+eps)
      CHECK(r.mean.at({i}) == doctest::Approx(mu).epsilon(1e-6));
      CHECK(r.rstd.at({i}) == doctest::Approx(1.0 / std::sqrt(xsq / C + eps)).epsilon(1e-5));
    }
  }
  SUBCASE("gamma and beta applied per column") {
    Tensor gamma = randn(Shape{C}, 10);
    Tensor beta = randn(Shape{C}, 11);
    aha::LayerNormResult r = aha::layernorm(x, gamma, beta, eps);
    std::vector<float> xv = values(x), gv = values(gamma), bv = values(beta);
    std::vector<double> expected;
    for (int64_t i = 0; i < rows; ++i) {
      double mu = 0.0, var = 0.0;
      for (int64_t c = 0; c < C; ++c) mu += xv[(size_t)(i * C + c)];
      mu /= C;
      for (int64_t c = 0; c < C; ++c) var += std::pow(xv[(size_t)(i * C + c)] - mu, 2);
      var /= C;
      for (int64_t c = 0; c < C; ++c)
        expected.push_back((xv[(size_t)(i * C + c)] - mu) / std::sqrt(var + eps) * gv[(size_t)c] +
                           bv[(size_t)c]);
    }
    check_close(values(r.y), expected, 1e-4, 1e-5);
  }
}

// ---- embedding ----

TEST_CASE("embedding gathers rows by id and scatter-adds the gradient of repeated ids") {
  Tensor weight = tensor({0, 1, 10, 11, 20, 21, 30, 31}, Shape{4, 2});
  Tensor ids = tensor({2, 0, 2, 3, 1, 2}, Shape{2, 3});
  Tensor out = aha::embedding(weight, ids);
  CHECK(out.shape() == Shape{2, 3, 2});
  check_close(values(out), std::vector<float>{20, 21, 0, 1, 20, 21, 30, 31, 10, 11, 20, 21});

  Tensor dout = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Shape{2, 3, 2});
  Tensor dweight = aha::embedding_backward(dout, ids, 5);
  CHECK(dweight.shape() == Shape{5, 2});
  // id 2 appears at positions 0, 2, 5: (1+5+11, 2+6+12); id 4 never appears.
  check_close(values(dweight), std::vector<float>{3, 4, 9, 10, 17, 20, 7, 8, 0, 0});
}

TEST_CASE("embedding rejects ids that are out of range or not integers") {
  Tensor weight = Tensor::zeros(Shape{4, 2});
  CHECK_THROWS_WITH_AS(aha::embedding(weight, tensor({1, 4}, Shape{2})),
                       "embedding: id 4 at position 1 is not an integer in [0, 4) (V = 4)",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(aha::embedding(weight, tensor({-1}, Shape{1})),
                       "embedding: id -1 at position 0 is not an integer in [0, 4) (V = 4)",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(aha::embedding(weight, tensor({0, 0, 1.5f}, Shape{3})),
                       "embedding: id 1.5 at position 2 is not an integer in [0, 4) (V = 4)",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(
      aha::embedding(weight, tensor({std::numeric_limits<float>::quiet_NaN()}, Shape{1})),
      "embedding: id nan at position 0 is not an integer in [0, 4) (V = 4)", std::runtime_error);
  CHECK_THROWS_WITH_AS(aha::embedding_backward(Tensor::zeros(Shape{1, 2}), tensor({9}, Shape{1}), 4),
                       "embedding_backward: id 9 at position 0 is not an integer in [0, 4) (V = 4)",
                       std::runtime_error);
}

// ---- losses ----

TEST_CASE("cross_entropy is the masked mean of log-sum-exp minus the target logit") {
  const int64_t N = 5, V = 7;
  Tensor logits = randn(Shape{N, V}, 50, 2.0f);
  std::vector<float> z = values(logits);
  Tensor targets = tensor({3, 0, 6, 2, 2}, Shape{N});
  std::vector<float> t = values(targets);
  auto nll = [&](int64_t i) { return log_sum_exp(z.data() + i * V, V) - z[(size_t)(i * V + (int64_t)t[(size_t)i])]; };

  SUBCASE("every row counted") {
    double expected = 0.0;
    for (int64_t i = 0; i < N; ++i) expected += nll(i);
    float loss = aha::cross_entropy(logits, targets, Tensor::ones(Shape{N})).item();
    CHECK(loss == doctest::Approx(expected / N).epsilon(1e-6));
  }
  SUBCASE("masked rows are left out of the sum and the count") {
    Tensor mask = tensor({1, 0, 1, 0, 1}, Shape{N});
    double expected = (nll(0) + nll(2) + nll(4)) / 3.0;
    CHECK(aha::cross_entropy(logits, targets, mask).item() == doctest::Approx(expected).epsilon(1e-6));
    // A masked row's target is never read, so padding may hold any value.
    Tensor padded = tensor({3, -1, 6, 1e9f, 2}, Shape{N});
    CHECK(aha::cross_entropy(logits, padded, mask).item() == doctest::Approx(expected).epsilon(1e-6));
  }
  SUBCASE("mask values weight their rows") {
    Tensor mask = tensor({0.5f, 1, 0, 2, 1}, Shape{N});
    double expected = (0.5 * nll(0) + nll(1) + 2 * nll(3) + nll(4)) / 4.5;
    CHECK(aha::cross_entropy(logits, targets, mask).item() == doctest::Approx(expected).epsilon(1e-6));
  }
  SUBCASE("an all-masked batch has loss 0, not NaN") {
    CHECK(aha::cross_entropy(logits, targets, Tensor::zeros(Shape{N})).item() == 0.0f);
  }
  SUBCASE("uniform logits give log V") {
    CHECK(aha::cross_entropy(Tensor::zeros(Shape{N, V}), targets, Tensor::ones(Shape{N})).item() ==
          doctest::Approx(std::log((double)V)).epsilon(1e-6));
  }
  SUBCASE("a counted row with a bad target is an error") {
    CHECK_THROWS_WITH_AS(aha::cross_entropy(logits, tensor({3, 0, 7, 2, 2}, Shape{N}),
                                            Tensor::ones(Shape{N})),
                         "cross_entropy: id 7 at position 2 is not an integer in [0, 7) (V = 7)",
                         std::runtime_error);
  }
}

TEST_CASE("token_logprobs is the log-softmax at the given tokens") {
  const int64_t N = 4, V = 33;
  Tensor logits = randn(Shape{N, V}, 60, 3.0f);
  std::vector<float> z = values(logits);
  std::vector<float> t = {0, 32, 5, 5};
  std::vector<double> expected;
  for (int64_t i = 0; i < N; ++i)
    expected.push_back(z[(size_t)(i * V + (int64_t)t[(size_t)i])] - log_sum_exp(z.data() + i * V, V));
  Tensor out = aha::token_logprobs(logits, tensor(t, Shape{N}));
  CHECK(out.shape() == Shape{N});
  check_close(values(out), expected, 1e-5, 1e-5);
  CHECK_THROWS_WITH_AS(aha::token_logprobs(logits, tensor({0, 33, 0, 0}, Shape{N})),
                       "token_logprobs: id 33 at position 1 is not an integer in [0, 33) (V = 33)",
                       std::runtime_error);
}

TEST_CASE("softmax_entropy: log V for a uniform row, 0 for a certain one, -sum p log p otherwise") {
  const int64_t V = 33;
  Tensor rows = Tensor::zeros(Shape{3, V});
  rows.set({1, 4}, 200.0f);  // all the mass on one token
  Tensor random_row = randn(Shape{1, V}, 70, 2.0f);
  std::vector<float> r = values(random_row);
  for (int64_t j = 0; j < V; ++j) rows.set({2, j}, r[(size_t)j]);
  double lse = log_sum_exp(r.data(), V), h = 0.0;
  for (float v : r) h -= std::exp(v - lse) * (v - lse);

  std::vector<float> entropy = values(aha::softmax_entropy(rows));
  CHECK(entropy[0] == doctest::Approx(std::log((double)V)).epsilon(1e-6));
  CHECK(entropy[1] == doctest::Approx(0.0).scale(1.0).epsilon(1e-6));
  CHECK(entropy[2] == doctest::Approx(h).epsilon(1e-5));
  // A -inf logit (a banned token) has p = 0 and adds nothing.
  Tensor banned = tensor({0, 0, -std::numeric_limits<float>::infinity()}, Shape{1, 3});
  CHECK(aha::softmax_entropy(banned).item() == doctest::Approx(std::log(2.0)));
}

// ---- layout ----

TEST_CASE("transpose_last2 and permute_0213 move every element where it belongs") {
  Tensor a = Tensor::arange(2 * 3 * 4).reshape(Shape{2, 3, 4});
  Tensor t = aha::transpose_last2(a);
  CHECK(t.shape() == Shape{2, 4, 3});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t m = 0; m < 3; ++m)
      for (int64_t n = 0; n < 4; ++n) CHECK(t.at({b, n, m}) == a.at({b, m, n}));
  CHECK(values(aha::transpose_last2(t)) == values(a));

  Tensor x = Tensor::arange(2 * 3 * 4 * 5).reshape(Shape{2, 3, 4, 5});
  Tensor p = aha::permute_0213(x);
  CHECK(p.shape() == Shape{2, 4, 3, 5});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k)
        for (int64_t l = 0; l < 5; ++l) CHECK(p.at({i, k, j, l}) == x.at({i, j, k, l}));
  Tensor back = aha::permute_0213(p);
  CHECK(back.shape() == x.shape());
  CHECK(values(back) == values(x));
}

TEST_CASE("concat0 and slice0 join and cut along the first dim") {
  Tensor a = tensor({1, 2, 3, 4}, Shape{2, 2});
  Tensor b = tensor({5, 6}, Shape{1, 2});
  Tensor c = aha::concat0({a, b, Tensor::zeros(Shape{0, 2})});
  CHECK(c.shape() == Shape{3, 2});
  check_close(values(c), std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor s = aha::slice0(c, 1, 3);
  CHECK(s.shape() == Shape{2, 2});
  check_close(values(s), std::vector<float>{3, 4, 5, 6});
  CHECK_FALSE(s.shares_storage(c));
  CHECK(aha::slice0(c, 2, 2).numel() == 0);
  CHECK_THROWS_WITH_AS(aha::slice0(c, 1, 4), "slice0: rows [1, 4) out of range for [3, 2]", ShapeError);
  CHECK_THROWS_WITH_AS(aha::concat0({a, tensor({1, 2, 3}, Shape{1, 3})}),
                       "concat0: shapes [2, 2] and [1, 3] differ beyond dim 0", ShapeError);
}

TEST_CASE("causal_mask hides future keys, with queries as the last Tq of Tk positions") {
  const float fill = -1e9f;
  SUBCASE("Tq == Tk: the lower triangle is kept") {
    Tensor scores = aha::add_scalar(Tensor::arange(2 * 3 * 3), 1.0f).reshape(Shape{2, 3, 3});
    Tensor m = aha::causal_mask(scores, fill);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j)
          CHECK(m.at({b, i, j}) == (j <= i ? scores.at({b, i, j}) : fill));
  }
  SUBCASE("Tq < Tk: the KV-cache case") {
    // 2 new queries at positions 3 and 4 of 5 keys.
    Tensor scores = Tensor::ones(Shape{1, 1, 2, 5});
    check_close(values(aha::causal_mask(scores, fill)),
                std::vector<float>{1, 1, 1, 1, fill, 1, 1, 1, 1, 1});
    // One query (decoding a token) sees every key.
    check_close(values(aha::causal_mask(Tensor::ones(Shape{1, 4}), fill)), std::vector<float>(4, 1.0f));
  }
  CHECK_THROWS_WITH_AS(aha::causal_mask(Tensor::zeros(Shape{3, 2}), fill),
                       "causal_mask: more queries than keys in [3, 2]", ShapeError);
}

// ---- in place and optimiser ----

TEST_CASE("in-place ops: fill_, add_, mul_scalar_, axpy_") {
  Tensor a = tensor({1, 2, 3}, Shape{3});
  Tensor view = a.reshape(Shape{1, 3});
  aha::axpy_(a, 0.5f, tensor({2, 4, -6}, Shape{3}));
  check_close(values(view), std::vector<float>{2, 4, 0});  // in place: the view sees it
  aha::add_(a, tensor({1, 1, 1}, Shape{1, 3}));
  check_close(values(a), std::vector<float>{3, 5, 1});
  aha::mul_scalar_(a, -2.0f);
  check_close(values(a), std::vector<float>{-6, -10, -2});
  aha::fill_(a, 0.25f);
  check_close(values(a), std::vector<float>{0.25f, 0.25f, 0.25f});
  CHECK_THROWS_WITH_AS(aha::axpy_(a, 1.0f, Tensor::zeros(Shape{2})),
                       "axpy_: sizes differ: [3] and [2]", ShapeError);
}

TEST_CASE("adamw_step_ matches a hand computation") {
  aha::AdamWParams hp{0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
  SUBCASE("step 1 from zero moments: the update is lr * (sign(g) + wd p)") {
    Tensor p = tensor({1.0f, -2.0f}, Shape{2});
    Tensor g = tensor({0.5f, -4.0f}, Shape{2});
    Tensor m = Tensor::zeros(Shape{2}), v = Tensor::zeros(Shape{2});
    aha::adamw_step_(p, g, m, v, hp);
    // m = 0.1 g, v = 0.001 g^2; m_hat = g, v_hat = g^2, so m_hat / sqrt(v_hat) = sign(g).
    check_close(values(m), std::vector<double>{0.05, -0.4});
    check_close(values(v), std::vector<double>{0.00025, 0.016});
    check_close(values(p), std::vector<double>{1 - 0.1 * (1 + 0.01 * 1), -2 - 0.1 * (-1 + 0.01 * -2)});
  }
  SUBCASE("step 3 with moments already there") {
    hp.step = 3;
    double p0 = 0.7, g0 = -0.3, m0 = 0.02, v0 = 0.004;
    Tensor p = tensor({(float)p0}, Shape{1}), g = tensor({(float)g0}, Shape{1});
    Tensor m = tensor({(float)m0}, Shape{1}), v = tensor({(float)v0}, Shape{1});
    aha::adamw_step_(p, g, m, v, hp);
    double m1 = 0.9 * m0 + 0.1 * g0, v1 = 0.999 * v0 + 0.001 * g0 * g0;
    double m_hat = m1 / (1 - std::pow(0.9, 3)), v_hat = v1 / (1 - std::pow(0.999, 3));
    double p1 = p0 - 0.1 * (m_hat / (std::sqrt(v_hat) + 1e-8) + 0.01 * p0);
    CHECK(m.item() == doctest::Approx(m1).epsilon(1e-6));
    CHECK(v.item() == doctest::Approx(v1).epsilon(1e-6));
    CHECK(p.item() == doctest::Approx(p1).epsilon(1e-6));
  }
  SUBCASE("step 0 is refused (bias correction divides by 1 - b^0 = 0)") {
    hp.step = 0;
    Tensor p = Tensor::zeros(Shape{1});
    Tensor m = Tensor::zeros(Shape{1}), v = Tensor::zeros(Shape{1});
    CHECK_THROWS_WITH_AS(aha::adamw_step_(p, Tensor::zeros(Shape{1}), m, v, hp),
                         "adamw_step_: step must be >= 1 (bias correction), got 0", ShapeError);
  }
}

// ---- backward kernels against finite differences (tests/gradcheck.h) ----

TEST_CASE("the finite-difference check can tell a wrong gradient from a right one") {
  const Shape shape{3, 7};
  aha_test::Forward f = [&](const std::vector<Values>& in) { return values(aha::softmax(tensor(in[0], shape))); };
  aha_test::Backward right = [&](const std::vector<Values>& in, const Values& dy) {
    return std::vector<Values>{values(aha::softmax_backward(aha::softmax(tensor(in[0], shape)), tensor(dy, shape)))};
  };
  // softmax backward without its "- sum(dy y)" term: a plausible bug.
  aha_test::Backward wrong = [&](const std::vector<Values>& in, const Values& dy) {
    return std::vector<Values>{values(aha::mul(aha::softmax(tensor(in[0], shape)), tensor(dy, shape)))};
  };
  const std::vector<Values> x = {values(randn(shape, 80))};
  const aha_test::GradCheck good = aha_test::grad_check(f, right, x), bad = aha_test::grad_check(f, wrong, x);
  INFO(good.report, bad.report);
  CHECK(good.max_error < kGradTolerance);
  CHECK(bad.max_error > 10 * kGradTolerance);
}

TEST_CASE("softmax_backward and log_softmax_backward match finite differences") {
  const Shape shape{3, 7};
  const std::vector<Values> x = {values(randn(shape, 90, 2.0f))};
  SUBCASE("softmax") {
    aha_test::check_gradients(
        [&](const std::vector<Values>& in) { return values(aha::softmax(tensor(in[0], shape))); },
        [&](const std::vector<Values>& in, const Values& dy) {
          return std::vector<Values>{values(aha::softmax_backward(aha::softmax(tensor(in[0], shape)), tensor(dy, shape)))};
        },
        x);
  }
  SUBCASE("log_softmax") {
    aha_test::check_gradients(
        [&](const std::vector<Values>& in) { return values(aha::log_softmax(tensor(in[0], shape))); },
        [&](const std::vector<Values>& in, const Values& dy) {
          return std::vector<Values>{
              values(aha::log_softmax_backward(aha::log_softmax(tensor(in[0], shape)), tensor(dy, shape)))};
        },
        x);
  }
}

TEST_CASE("relu_backward and gelu_backward match finite differences") {
  // Values at least 0.1 away from relu's kink at 0, so the step never crosses it.
  std::vector<float> xv = values(randn(Shape{40}, 100, 2.0f));
  for (float& v : xv)
    if (std::fabs(v) < 0.1f) v = v < 0 ? v - 0.1f : v + 0.1f;
  const Shape shape{40};
  SUBCASE("relu") {
    aha_test::check_gradients(
        [&](const std::vector<Values>& in) { return values(aha::relu(tensor(in[0], shape))); },
        [&](const std::vector<Values>& in, const Values& dy) {
          return std::vector<Values>{values(aha::relu_backward(tensor(in[0], shape), tensor(dy, shape)))};
        },
        {xv});
  }
  SUBCASE("gelu") {
    aha_test::check_gradients(
        [&](const std::vector<Values>& in) { return values(aha::gelu(tensor(in[0], shape))); },
        [&](const std::vector<Values>& in, const Values& dy) {
          return std::vector<Values>{values(aha::gelu_backward(tensor(in[0], shape), tensor(dy, shape)))};
        },
        {xv});
  }
}

TEST_CASE("layernorm_backward matches finite differences for x, gamma and beta") {
  const int64_t rows = 3, C = 7;
  const float eps = 1e-5f;
  const Shape shape{rows, C}, vec{C};
  Tensor x = aha::add_scalar(randn(shape, 110, 1.5f), 0.5f);
  Tensor gamma = aha::add_scalar(randn(vec, 111, 0.3f), 1.0f);
  Tensor beta = randn(vec, 112);
  aha_test::check_gradients(
      [&](const std::vector<Values>& in) {
        return values(aha::layernorm(tensor(in[0], shape), tensor(in[1], vec), tensor(in[2], vec), eps).y);
      },
      [&](const std::vector<Values>& in, const Values& dy) {
        const Tensor xt = tensor(in[0], shape), g = tensor(in[1], vec);
        aha::LayerNormResult fwd = aha::layernorm(xt, g, tensor(in[2], vec), eps);
        aha::LayerNormGrads grads = aha::layernorm_backward(tensor(dy, shape), xt, g, fwd.mean, fwd.rstd);
        CHECK(grads.dgamma.shape() == vec);
        CHECK(grads.dbeta.shape() == vec);
        return std::vector<Values>{values(grads.dx), values(grads.dgamma), values(grads.dbeta)};
      },
      {values(x), values(gamma), values(beta)});
}

TEST_CASE("embedding_backward matches finite differences of embedding in the weight") {
  const int64_t V = 5, C = 3;
  Tensor ids = tensor({4, 1, 4, 0, 4, 1}, Shape{2, 3});
  aha_test::check_gradients(
      [&](const std::vector<Values>& in) { return values(aha::embedding(tensor(in[0], Shape{V, C}), ids)); },
      [&](const std::vector<Values>&, const Values& dy) {
        return std::vector<Values>{values(aha::embedding_backward(tensor(dy, Shape{2, 3, C}), ids, V))};
      },
      {values(randn(Shape{V, C}, 120))});
}

TEST_CASE("cross_entropy_backward matches finite differences, masked rows included") {
  const int64_t N = 4, V = 7;
  const Shape shape{N, V};
  Tensor targets = tensor({6, 0, 3, 3}, Shape{N});
  Tensor mask = tensor({1, 0, 0.5f, 1}, Shape{N});  // a fractional weight, too
  Tensor masked_row;
  aha_test::check_gradients(
      [&](const std::vector<Values>& in) { return values(aha::cross_entropy(tensor(in[0], shape), targets, mask)); },
      [&](const std::vector<Values>& in, const Values& dy) {
        masked_row = aha::cross_entropy_backward(tensor(in[0], shape), targets, mask, dy[0]);
        return std::vector<Values>{values(masked_row)};
      },
      {values(randn(shape, 130, 2.0f))});
  for (int64_t j = 0; j < V; ++j) CHECK(masked_row.at({1, j}) == 0.0f);  // the masked row
}

TEST_CASE("token_logprobs_backward matches finite differences") {
  const int64_t N = 4, V = 7;
  const Shape shape{N, V};
  Tensor tokens = tensor({2, 2, 6, 0}, Shape{N});
  aha_test::check_gradients(
      [&](const std::vector<Values>& in) { return values(aha::token_logprobs(tensor(in[0], shape), tokens)); },
      [&](const std::vector<Values>& in, const Values& dy) {
        return std::vector<Values>{values(aha::token_logprobs_backward(tensor(in[0], shape), tokens, tensor(dy, Shape{N})))};
      },
      {values(randn(shape, 140, 2.0f))});
}

// ---- shape errors ----

TEST_CASE("shape errors name the op and the shapes involved") {
  CHECK_THROWS_WITH_AS(aha::matmul(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{4, 5})),
                       "matmul: inner dims differ: [2, 3] and [4, 5] (trans_a=0, trans_b=0)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(aha::matmul(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{2, 5}), true, true),
                       "matmul: inner dims differ: [2, 3] and [2, 5] (trans_a=1, trans_b=1)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(aha::matmul(Tensor::zeros(Shape{2, 2, 3}), Tensor::zeros(Shape{3, 3, 4})),
                       "matmul: batch dims differ: [2, 2, 3] and [3, 3, 4] (b must share a's batch "
                       "dims or be 2-D)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(aha::matmul(Tensor::zeros(Shape{3}), Tensor::zeros(Shape{3, 1})),
                       "matmul: needs at least 2 dims, got [3]", ShapeError);
  CHECK_THROWS_WITH_AS(aha::add(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{2})),
                       "add: cannot broadcast [2] over [2, 3] (b must match a, be a vector over a's "
                       "last dim, or be one value)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(aha::maximum(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{3})),
                       "maximum: shapes differ: [2, 3] and [3]", ShapeError);
  CHECK_THROWS_WITH_AS(aha::layernorm(Tensor::zeros(Shape{2, 3}), Tensor::ones(Shape{4}),
                                      Tensor::zeros(Shape{3}), 1e-5f),
                       "layernorm: gamma [4] and beta [3] must be [3] for x [2, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(aha::cross_entropy(Tensor::zeros(Shape{4, 5}), Tensor::zeros(Shape{3}),
                                          Tensor::ones(Shape{4})),
                       "cross_entropy: targets [3] does not match logits [4, 5] (one per row)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(aha::softmax_backward(Tensor::zeros(Shape{2, 3}), Tensor::zeros(Shape{3, 2})),
                       "softmax_backward: shapes differ: [2, 3] and [3, 2]", ShapeError);
  CHECK_THROWS_WITH_AS(aha::permute_0213(Tensor::zeros(Shape{2, 3})),
                       "permute_0213: needs a 4-D tensor, got [2, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(aha::embedding(Tensor::zeros(Shape{4}), Tensor::zeros(Shape{2})),
                       "embedding: weight must be [V, C], got [4]", ShapeError);
}
