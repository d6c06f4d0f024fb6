// The plain references of tensor/reference/ and the fast kernels they stand
// beside. Each reference's backward is checked against finite differences of
// its own forward (tests/gradcheck.h); then the fast CPU kernels (lanes,
// OpenMP, Eigen: tensor/cpu/) and, when a GPU answers, the CUDA kernels
// (tensor/cuda/) are checked against the references, forward and backward, at
// awkward sizes, through the tensor ops (tensor/ops.h) a user calls.
// The references share no code with the kernels, so an error in either shows.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tensor/reference/reference.h"
#include "tensor/tensor.h"  // and tensor/ops.h
#include "tests/gpu_cases.h"
#include "tests/gradcheck.h"

using namespace aha;
using aha_test::Values;

namespace {

namespace ref = aha::reference;

aha_test::GpuCaseCounter g_gpu_cases("test_tensor_reference");

// Fast CPU kernel vs reference, ||fast - ref|| / ||ref||: both float32, sums
// in other orders and exp / tanh within 2 ulp of libm's (tensor/cpu/fast_math.h).
constexpr double kCpuTolerance = 2e-6;
// CUDA kernels (float32 FMAs, exp2f), TF32 off: as tests/test_tensor_attention.cpp.
constexpr double kGpuTolerance = 1e-4;
// A fast result 1% off must fail the comparison (the "can fail" test below).
constexpr double kWrongBy = 1e-2;

Values randn(int64_t n, uint64_t seed, float std = 1.0f, float mean = 0.0f) {
  Generator gen(seed);
  Values v = Tensor::randn(Shape{n}, gen, Device::CPU, std).to_vector();
  for (float& x : v) x += mean;
  return v;
}

Tensor on(const Values& v, const Shape& shape, Device device) { return Tensor::from_vector(v, shape).to(device); }

// ||got - want|| / ||want||, reported, checked against `tolerance`.
void check_close(const std::string& what, const Tensor& got, const Values& want, double tolerance) {
  const double error = aha_test::relative_error_or_rms(got, Tensor::from_vector(want, got.shape()));
  INFO(what << ": relative error " << error << " (tolerance " << tolerance << ")");
  CHECK(error <= tolerance);
}

// ---- softmax and log-softmax ----

void softmax_against_reference(Device device, double tolerance) {
  const int64_t shapes[][2] = {{1, 1}, {3, 7}, {4, 56}, {2, 300}, {3, 1001}};
  uint64_t seed = 10;
  for (const auto& rc : shapes) {
    const int64_t rows = rc[0], cols = rc[1];
    const Shape shape{rows, cols};
    CAPTURE(rows);
    CAPTURE(cols);
    const Values x = randn(rows * cols, seed++, 3.0f), dy = randn(rows * cols, seed++);
    Values y(x.size()), dx(x.size()), log_y(x.size()), log_dx(x.size());
    ref::softmax_forward(x.data(), y.data(), rows, cols);
    ref::softmax_backward(y.data(), dy.data(), dx.data(), rows, cols);
    ref::log_softmax_forward(x.data(), log_y.data(), rows, cols);
    ref::log_softmax_backward(log_y.data(), dy.data(), log_dx.data(), rows, cols);

    const Tensor fast_y = softmax(on(x, shape, device)), fast_log_y = log_softmax(on(x, shape, device));
    check_close("softmax", fast_y, y, tolerance);
    check_close("softmax_backward", softmax_backward(fast_y, on(dy, shape, device)), dx, tolerance);
    check_close("log_softmax", fast_log_y, log_y, tolerance);
    check_close("log_softmax_backward", log_softmax_backward(fast_log_y, on(dy, shape, device)), log_dx, tolerance);
  }
}

// ---- layernorm ----

void layernorm_against_reference(Device device, double tolerance) {
  const int64_t shapes[][2] = {{1, 2}, {3, 7}, {4, 128}, {2, 384}, {3, 769}};
  const float eps = 1e-5f;
  uint64_t seed = 20;
  for (const auto& rc : shapes) {
    const int64_t rows = rc[0], cols = rc[1];
    const Shape shape{rows, cols}, vec{cols};
    CAPTURE(rows);
    CAPTURE(cols);
    // A mean far from 0 next to a small spread: what a one-pass variance gets wrong.
    const Values x = randn(rows * cols, seed++, 0.5f, 4.0f), dy = randn(rows * cols, seed++);
    const Values gamma = randn(cols, seed++, 0.3f, 1.0f), beta = randn(cols, seed++, 0.3f);
    Values y(x.size()), mean((size_t)rows), rstd((size_t)rows), dx(x.size()), dgamma((size_t)cols),
        dbeta((size_t)cols);
    ref::layernorm_forward(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), rstd.data(), rows, cols, eps);
    ref::layernorm_backward(dy.data(), x.data(), gamma.data(), mean.data(), rstd.data(), dx.data(), dgamma.data(),
                            dbeta.data(), rows, cols);

    const Tensor xt = on(x, shape, device), gt = on(gamma, vec, device);
    const LayerNormResult fast = layernorm(xt, gt, on(beta, vec, device), eps);
    check_close("layernorm y", fast.y, y, tolerance);
    check_close("layernorm mean", fast.mean, mean, tolerance);
    check_close("layernorm rstd", fast.rstd, rstd, tolerance);
    const LayerNormGrads grads = layernorm_backward(on(dy, shape, device), xt, gt, fast.mean, fast.rstd);
    // dx is a difference of terms of size |dy * gamma * rstd| that cancel
    // (with 2 columns the normalised row is +-1 whatever x, so dx is ~0 up to
    // eps): measure its error against the size of those terms, not of dx.
    const Values got_dx = grads.dx.to_vector();
    double terms = 0, want = 0, diff = 0;
    for (int64_t i = 0; i < rows * cols; ++i) {
      const double t = (double)dy[i] * gamma[i % cols] * rstd[i / cols];
      terms += t * t;
      want += (double)dx[i] * dx[i];
      diff += ((double)got_dx[i] - dx[i]) * ((double)got_dx[i] - dx[i]);
    }
    const double dx_error = std::sqrt(diff) / std::max(std::sqrt(want), std::sqrt(terms));
    INFO("layernorm dx: error " << dx_error << " of the size of its terms (tolerance " << tolerance << ")");
    CHECK(dx_error <= tolerance);
    check_close("layernorm dgamma", grads.dgamma, dgamma, tolerance);
    check_close("layernorm dbeta", grads.dbeta, dbeta, tolerance);
  }
}

// ---- cross-entropy ----

// Targets cycling through the vocabulary; mask 1, except 0 (a padding row,
// its target out of range: never read) and 0.5 every few rows.
void cross_entropy_batch(int64_t N, int64_t V, Values& targets, Values& mask) {
  targets.assign((size_t)N, 0.0f);
  mask.assign((size_t)N, 1.0f);
  for (int64_t i = 0; i < N; ++i) {
    targets[(size_t)i] = (float)((i * 7 + 3) % V);
    if (i % 5 == 1) mask[(size_t)i] = 0.5f;
    if (i % 4 == 2) {
      mask[(size_t)i] = 0.0f;
      targets[(size_t)i] = (float)V;
    }
  }
}

void cross_entropy_against_reference(Device device, double tolerance) {
  const int64_t shapes[][2] = {{1, 3}, {6, 56}, {33, 300}, {4, 1001}};
  const float dloss = 0.7f;
  uint64_t seed = 30;
  for (const auto& nv : shapes) {
    const int64_t N = nv[0], V = nv[1];
    CAPTURE(N);
    CAPTURE(V);
    const Values logits = randn(N * V, seed++, 3.0f);
    Values targets, mask;
    cross_entropy_batch(N, V, targets, mask);
    Values loss(1), dlogits(logits.size());
    ref::cross_entropy_forward(logits.data(), targets.data(), mask.data(), loss.data(), N, V);
    ref::cross_entropy_backward(logits.data(), targets.data(), mask.data(), dloss, dlogits.data(), N, V);

    const Tensor z = on(logits, Shape{N, V}, device), t = on(targets, Shape{N}, device), m = on(mask, Shape{N}, device);
    check_close("cross_entropy", cross_entropy(z, t, m), loss, tolerance);
    check_close("cross_entropy_backward", cross_entropy_backward(z, t, m, dloss), dlogits, tolerance);
  }
}

// ---- GELU ----

void gelu_against_reference(Device device, double tolerance) {
  for (int64_t n : {1, 17, 1000, 4099}) {
    CAPTURE(n);
    const Values x = randn(n, 40 + (uint64_t)n, 2.5f), dy = randn(n, 41 + (uint64_t)n);
    Values y(x.size()), dx(x.size());
    ref::gelu_forward(x.data(), y.data(), n);
    ref::gelu_backward(x.data(), dy.data(), dx.data(), n);
    const Tensor xt = on(x, Shape{n}, device);
    check_close("gelu", gelu(xt), y, tolerance);
    check_close("gelu_backward", gelu_backward(xt, on(dy, Shape{n}, device)), dx, tolerance);
  }
}

// ---- causal attention ----

void attention_against_reference(Device device, double tolerance) {
  struct Case {
    int64_t B, T, H, D;
  };
  const Case cases[] = {{1, 1, 1, 16}, {2, 7, 2, 16}, {1, 64, 2, 32}, {2, 65, 2, 32}, {1, 130, 2, 64}, {2, 9, 3, 8}};
  uint64_t seed = 50;
  for (const Case& c : cases) {
    CAPTURE(c.B);
    CAPTURE(c.T);
    CAPTURE(c.H);
    CAPTURE(c.D);
    const int64_t n = c.B * c.T * c.H * c.D;
    const Shape shape{c.B, c.T, c.H * c.D};
    const Values q = randn(n, seed++), k = randn(n, seed++), v = randn(n, seed++), dy = randn(n, seed++);
    Values y((size_t)n), att((size_t)(c.B * c.H * c.T * c.T)), dq((size_t)n), dk((size_t)n), dv((size_t)n);
    ref::causal_attention_forward(q.data(), k.data(), v.data(), y.data(), att.data(), c.B, c.T, c.H, c.D);
    ref::causal_attention_backward(q.data(), k.data(), v.data(), att.data(), dy.data(), dq.data(), dk.data(),
                                   dv.data(), c.B, c.T, c.H, c.D);

    const Tensor qt = on(q, shape, device), kt = on(k, shape, device), vt = on(v, shape, device);
    Tensor lse, fast_dq, fast_dk, fast_dv;
    const Tensor fast_y = causal_attention(qt, kt, vt, (int)c.H, lse);
    causal_attention_backward(qt, kt, vt, fast_y, lse, on(dy, shape, device), (int)c.H, fast_dq, fast_dk, fast_dv);
    check_close("attention y", fast_y, y, tolerance);
    check_close("attention dq", fast_dq, dq, tolerance);
    check_close("attention dk", fast_dk, dk, tolerance);
    check_close("attention dv", fast_dv, dv, tolerance);
  }
}

void all_against_reference(Device device, double tolerance) {
  SUBCASE("softmax") { softmax_against_reference(device, tolerance); }
  SUBCASE("layernorm") { layernorm_against_reference(device, tolerance); }
  SUBCASE("cross_entropy") { cross_entropy_against_reference(device, tolerance); }
  SUBCASE("gelu") { gelu_against_reference(device, tolerance); }
  SUBCASE("causal_attention") { attention_against_reference(device, tolerance); }
}

}  // namespace

// ---- the references' backward against finite differences of their forward ----

TEST_CASE("reference softmax and log_softmax: backward matches finite differences") {
  const int64_t rows = 3, cols = 7;
  for (bool log : {false, true}) {
    CAPTURE(log);
    auto forward = log ? ref::log_softmax_forward : ref::softmax_forward;
    auto backward = log ? ref::log_softmax_backward : ref::softmax_backward;
    aha_test::check_gradients(
        [&](const std::vector<Values>& in) {
          Values y(in[0].size());
          forward(in[0].data(), y.data(), rows, cols);
          return y;
        },
        [&](const std::vector<Values>& in, const Values& dy) {
          Values y(in[0].size()), dx(in[0].size());
          forward(in[0].data(), y.data(), rows, cols);
          backward(y.data(), dy.data(), dx.data(), rows, cols);
          return std::vector<Values>{dx};
        },
        {randn(rows * cols, 1, 2.0f)});
  }
}

TEST_CASE("reference layernorm: backward matches finite differences for x, gamma and beta") {
  const int64_t rows = 3, cols = 7;
  const float eps = 1e-5f;
  aha_test::check_gradients(
      [&](const std::vector<Values>& in) {
        Values y(in[0].size()), mean((size_t)rows), rstd((size_t)rows);
        ref::layernorm_forward(in[0].data(), in[1].data(), in[2].data(), y.data(), mean.data(), rstd.data(), rows,
                               cols, eps);
        return y;
      },
      [&](const std::vector<Values>& in, const Values& dy) {
        Values y(in[0].size()), mean((size_t)rows), rstd((size_t)rows);
        ref::layernorm_forward(in[0].data(), in[1].data(), in[2].data(), y.data(), mean.data(), rstd.data(), rows,
                               cols, eps);
        Values dx(in[0].size()), dgamma((size_t)cols), dbeta((size_t)cols);
        ref::layernorm_backward(dy.data(), in[0].data(), in[1].data(), mean.data(), rstd.data(), dx.data(),
                                dgamma.data(), dbeta.data(), rows, cols);
        return std::vector<Values>{dx, dgamma, dbeta};
      },
      {randn(rows * cols, 2, 1.5f, 0.5f), randn(cols, 3, 0.3f, 1.0f), randn(cols, 4)});
}

TEST_CASE("reference cross_entropy: backward matches finite differences, masked rows included") {
  const int64_t N = 6, V = 7;
  Values targets, mask;
  cross_entropy_batch(N, V, targets, mask);
  aha_test::check_gradients(
      [&](const std::vector<Values>& in) {
        Values loss(1);
        ref::cross_entropy_forward(in[0].data(), targets.data(), mask.data(), loss.data(), N, V);
        return loss;
      },
      [&](const std::vector<Values>& in, const Values& dy) {
        Values dlogits(in[0].size());
        ref::cross_entropy_backward(in[0].data(), targets.data(), mask.data(), dy[0], dlogits.data(), N, V);
        return std::vector<Values>{dlogits};
      },
      {randn(N * V, 5, 2.0f)});
}

TEST_CASE("reference gelu: backward matches finite differences") {
  const int64_t n = 40;
  aha_test::check_gradients(
      [&](const std::vector<Values>& in) {
        Values y((size_t)n);
        ref::gelu_forward(in[0].data(), y.data(), n);
        return y;
      },
      [&](const std::vector<Values>& in, const Values& dy) {
        Values dx((size_t)n);
        ref::gelu_backward(in[0].data(), dy.data(), dx.data(), n);
        return std::vector<Values>{dx};
      },
      {randn(n, 6, 2.0f)});
}

TEST_CASE("reference causal attention: backward matches finite differences for q, k and v") {
  const int64_t B = 2, T = 5, H = 2, D = 4, n = B * T * H * D;
  auto forward = [&](const std::vector<Values>& in, Values& att) {
    Values y((size_t)n);
    att.assign((size_t)(B * H * T * T), 0.0f);
    ref::causal_attention_forward(in[0].data(), in[1].data(), in[2].data(), y.data(), att.data(), B, T, H, D);
    return y;
  };
  aha_test::check_gradients(
      [&](const std::vector<Values>& in) {
        Values att;
        return forward(in, att);
      },
      [&](const std::vector<Values>& in, const Values& dy) {
        Values att, dq((size_t)n), dk((size_t)n), dv((size_t)n);
        forward(in, att);
        ref::causal_attention_backward(in[0].data(), in[1].data(), in[2].data(), att.data(), dy.data(), dq.data(),
                                       dk.data(), dv.data(), B, T, H, D);
        return std::vector<Values>{dq, dk, dv};
      },
      {randn(n, 7), randn(n, 8), randn(n, 9)});
}

// ---- the fast kernels against the references ----

TEST_CASE("the comparison with a reference fails a fast result 1% off") {
  const int64_t rows = 4, cols = 56;
  const Values x = randn(rows * cols, 60, 3.0f);
  Values y(x.size());
  ref::softmax_forward(x.data(), y.data(), rows, cols);
  const Tensor off = mul_scalar(softmax(Tensor::from_vector(x, Shape{rows, cols})), 1.0f + (float)kWrongBy);
  const double error = aha_test::relative_error(off, Tensor::from_vector(y, Shape{rows, cols}));
  CHECK(error > 1000 * kCpuTolerance);
  CHECK(error > 50 * kGpuTolerance);
}

TEST_CASE("fast CPU kernels equal the plain references, forward and backward") {
  all_against_reference(Device::CPU, kCpuTolerance);
}

TEST_CASE("CUDA kernels equal the plain references, forward and backward (when a GPU answers)") {
  if (aha_test::skip_without_gpu(g_gpu_cases)) return;
  aha_test::Tf32Scope exact(false);
  all_against_reference(Device::CUDA, kGpuTolerance);
}
