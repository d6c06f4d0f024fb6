// The bf16 linear Var op (autograd/ops_matmul.cpp): its gradients against the
// float32 linear's on the same bf16-rounded x and w. The two differ only by
// the bf16 roundings of the backward (dY for the products, dX itself), so they
// agree to bf16 precision; every gradient must have its value's dtype (dx
// bf16; dw, db, d residual fp32). On the CPU and, when a GPU answers, CUDA.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tests/gpu_cases.h"

using namespace aha;

namespace {

// A few bf16 roundings (2^-9 relative each) on the way, none accumulating.
constexpr double kBf16Tolerance = 1e-2;

aha_test::GpuCaseCounter g_gpu_cases("test_autograd_bf16_linear");

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, Device::CPU);
}

Tensor rounded(const Tensor& t) { return cast(cast(t, DType::BF16), DType::F32); }

struct Grads {
  Tensor y, dx, dw, db, dr;  // dr undefined without a residual
};

// y = linear(x, w, b (, r)) with x in `x_dtype`, then loss = sum(g * y) so that
// dY = g (a fixed random tensor, not all ones); the gradients of every input.
// A bf16 y (no residual) is widened by cast for the loss.
Grads run(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r, const Tensor& g, DType x_dtype,
          Device device) {
  Var vx(cast(x, x_dtype).to(device), true), vw(w.to(device), true), vb(b.to(device), true);
  Var vr = r.defined() ? Var(r.to(device), true) : Var();
  Var y = linear(vx, vw, vb, vr);
  sum_all(mul(cast(y, DType::F32), Var(g.to(device)))).backward();
  return {y.value(), vx.grad(), vw.grad(), vb.grad(), r.defined() ? vr.grad() : Tensor()};
}

void check_close(const char* what, const Tensor& got, const Tensor& want, double tolerance) {
  const double error = aha_test::relative_error(got, want);
  INFO(what << ": relative error " << error << " (tolerance " << tolerance << ")");
  CHECK(error <= tolerance);
}

// The bf16 linear's gradients (on `device`) against the float32 linear's on the
// rounded x, w and b (on the CPU), with and without a residual.
void check_against_fp32(Device device) {
  struct Dims {
    Shape x;
    int64_t N;
  };
  for (const Dims& d : {Dims{Shape{4, 16}, 24}, Dims{Shape{2, 5, 33}, 7}, Dims{Shape{2, 64, 128}, 384}}) {
    for (bool with_residual : {false, true}) {
      INFO("x " << d.x.str() << " N " << d.N << (with_residual ? " with a residual" : " without a residual"));
      const int64_t K = d.x[-1];
      const Tensor x = rounded(random_tensor(d.x, 1)), w = random_tensor(Shape{K, d.N}, 2);
      const Tensor b = random_tensor(Shape{d.N}, 3), g = random_tensor(d.x.with_last(d.N), 4);
      const Tensor r = with_residual ? random_tensor(d.x.with_last(d.N), 5) : Tensor();
      const Grads want = run(x, rounded(w), rounded(b), r, g, DType::F32, Device::CPU);
      const Grads got = run(x, w, b, r, g, DType::BF16, device);
      CHECK(got.y.dtype() == (with_residual ? DType::F32 : DType::BF16));
      CHECK(got.dx.dtype() == DType::BF16);  // x's dtype
      CHECK(got.dw.dtype() == DType::F32);
      CHECK(got.db.dtype() == DType::F32);
      check_close("y", got.y, want.y, kBf16Tolerance);
      check_close("dx", got.dx, want.dx, kBf16Tolerance);
      check_close("dw", got.dw, want.dw, kBf16Tolerance);
      check_close("db", got.db, want.db, kBf16Tolerance);
      if (with_residual) {
        CHECK(got.dr.dtype() == DType::F32);
        check_close("d residual", got.dr, want.dr, 0.0);  // dY itself: g, exactly
      }
    }
  }
}

}  // namespace

TEST_CASE("bf16 linear's dx, dw, db, d residual match the fp32 linear's on the rounded x and w (CPU)") {
  check_against_fp32(Device::CPU);
}

TEST_CASE("cuda: bf16 linear's gradients on the GPU match the fp32 linear's") {
  if (aha_test::skip_without_gpu(g_gpu_cases)) return;
  check_against_fp32(Device::CUDA);
}

TEST_CASE("bf16 linear: x used by two layers (q and k) gets the sum of both bf16 gradients") {
  const Tensor x = rounded(random_tensor(Shape{6, 16}, 1));
  const Tensor w1 = random_tensor(Shape{16, 8}, 2), w2 = random_tensor(Shape{16, 8}, 3);
  const Tensor b = random_tensor(Shape{8}, 4), g = random_tensor(Shape{6, 8}, 5);
  auto gradient = [&](DType dtype) {
    Var vx(cast(x, dtype), true);
    const Tensor bias = dtype == DType::F32 ? rounded(b) : b;
    Var a = cast(linear(vx, Var(dtype == DType::F32 ? rounded(w1) : w1), Var(bias)), DType::F32);
    Var c = cast(linear(vx, Var(dtype == DType::F32 ? rounded(w2) : w2), Var(bias)), DType::F32);
    sum_all(mul(add(a, c), Var(g))).backward();
    return vx.grad();
  };
  const Tensor got = gradient(DType::BF16);
  CHECK(got.dtype() == DType::BF16);
  check_close("dx", got, gradient(DType::F32), kBf16Tolerance);
}

TEST_CASE("bf16 linear and matmul name the dtype mistake") {
  const Tensor x = cast(random_tensor(Shape{4, 5}, 1), DType::BF16), w = random_tensor(Shape{5, 3}, 2);
  const Tensor b = random_tensor(Shape{3}, 3), r = random_tensor(Shape{4, 3}, 4);
  // The residual stream is fp32: a bf16 residual is refused.
  CHECK_THROWS_WITH_AS(linear(Var(x, true), Var(w, true), Var(b, true), Var(cast(r, DType::BF16), true)),
                       doctest::Contains("residual bf16"), ShapeError);
  // Weights stay fp32 (the op rounds them for the product).
  CHECK_THROWS_WITH_AS(linear(Var(x, true), Var(cast(w, DType::BF16), true), Var(b, true)),
                       doctest::Contains("w bf16"), ShapeError);
  // fp32 operands cannot ask for a bf16 product, nor can the dtypes mix.
  CHECK_THROWS_WITH_AS(matmul(w, w, true, false, DType::BF16), doctest::Contains("not bf16"), ShapeError);
  CHECK_THROWS_WITH_AS(matmul(x, w, false, false, DType::F32), doctest::Contains("different dtypes"), ShapeError);
  // An fp32 op handed a bf16 tensor says so too (the fp32 matmul reads floats).
  CHECK_THROWS_AS(matmul(x, cast(w, DType::BF16)), std::runtime_error);
}
