// The autograd layer: the graph mechanics of autograd/var.cpp, and every op of
// autograd/ops.h checked against central finite differences with the shared
// checker (tests/gradcheck.h, tests/gradcheck_var.h): the analytic gradient of
// loss(x) = sum_i w_i * op(x)_i from backward(), the numeric one from the float
// forward with each input element moved by +-h.
// A test below feeds the checker deliberately wrong backwards (10% off, a
// wrong transpose) to show that this step and tolerance catch them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "tests/gradcheck_var.h"

using namespace aha;

namespace {

using OpFn = aha_test::VarFunction;
using aha_test::GradCheck;

// The shared checker's tolerance (tests/gradcheck.h): the worst element may
// differ by this fraction of the gradient's largest element.
const double kGradTolerance = aha_test::GradCheckOptions().tolerance;

Tensor random_tensor(const Shape& shape, uint64_t seed, float std = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, Device::CPU, std);
}

// Uniform in [lo, hi): inputs of log, sqrt, div's denominator.
Tensor uniform_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Generator gen(seed);
  Tensor u = Tensor::rand(shape, gen);
  return add_scalar(mul_scalar(u, hi - lo), lo);
}

// Random values kept at least `gap` away from each point in `kinks` (relu at 0,
// clamp at its bounds), so a +-h step never crosses a kink.
Tensor away_from(const Tensor& t, std::vector<float> kinks, float gap) {
  std::vector<float> v = t.to_vector();
  for (float& x : v)
    for (float k : kinks)
      if (std::fabs(x - k) < gap) x = k + (x >= k ? gap : -gap);
  return Tensor::from_vector(v, t.shape());
}

GradCheck grad_check(const OpFn& f, const std::vector<Tensor>& inputs, float h) {
  aha_test::GradCheckOptions options;
  options.step = h;
  return aha_test::var_grad_check(f, inputs, options);
}

void check_gradients(const OpFn& f, const std::vector<Tensor>& inputs, float h = 1e-2f) {
  aha_test::GradCheckOptions options;
  options.step = h;
  aha_test::check_var_gradients(f, inputs, options);
}

double max_abs_diff(const Tensor& a, const std::vector<float>& b) {
  std::vector<float> v = a.to_vector();
  REQUIRE(v.size() == b.size());
  double m = 0.0;
  for (size_t i = 0; i < v.size(); ++i) m = std::max(m, std::fabs((double)v[i] - (double)b[i]));
  return m;
}

}  // namespace

// ---- the checker itself ----

TEST_CASE("gradient checker: catches deliberately wrong backwards") {
  // gelu whose backward is 10% too large
  OpFn wrong_gelu = [](const std::vector<Var>& x) {
    return make_result(gelu(x[0].value()), "wrong_gelu", {x[0]}, [](Node& self) {
      Node& nx = *self.parents[0];
      accumulate_grad(nx, mul_scalar(gelu_backward(nx.value, self.grad), 1.1f));
    });
  };
  // matmul whose dA forgets to transpose B: dA = dY B instead of dY B^T
  OpFn wrong_matmul = [](const std::vector<Var>& x) {
    return make_result(matmul(x[0].value(), x[1].value()), "wrong_matmul", {x[0], x[1]}, [](Node& self) {
      Node& na = *self.parents[0];
      Node& nb = *self.parents[1];
      accumulate_grad(na, matmul(self.grad, nb.value));
      accumulate_grad(nb, matmul(na.value, self.grad, true, false));
    });
  };
  // softmax whose backward drops the sum term: da = y * dy
  OpFn wrong_softmax = [](const std::vector<Var>& x) {
    return make_result(softmax(x[0].value()), "wrong_softmax", {x[0]}, [](Node& self) {
      accumulate_grad(*self.parents[0], mul(self.value, self.grad));
    });
  };
  Tensor x = random_tensor(Shape{3, 5}, 1);
  Tensor a = random_tensor(Shape{4, 4}, 2), b = random_tensor(Shape{4, 4}, 3);

  GradCheck good = grad_check([](const std::vector<Var>& v) { return gelu(v[0]); }, {x}, 1e-2f);
  GradCheck bad = grad_check(wrong_gelu, {x}, 1e-2f);
  INFO(good.report, bad.report);
  CHECK(good.max_error < kGradTolerance);
  CHECK(bad.max_error > 3 * kGradTolerance);  // a 10% error is far outside the tolerance

  GradCheck good_mm = grad_check([](const std::vector<Var>& v) { return matmul(v[0], v[1]); }, {a, b}, 1e-2f);
  GradCheck bad_mm = grad_check(wrong_matmul, {a, b}, 1e-2f);
  INFO(good_mm.report, bad_mm.report);
  CHECK(good_mm.max_error < kGradTolerance);
  CHECK(bad_mm.max_error > 3 * kGradTolerance);

  CHECK(grad_check(wrong_softmax, {x}, 1e-2f).max_error > 3 * kGradTolerance);
}

// ---- matrix products ----

TEST_CASE("matmul: gradients for every transpose flag, batched and shared b") {
  struct Layout {
    const char* name;
    std::vector<int64_t> batch_a;  // a's batch dims
    bool b_shared;                 // b is 2-D
    int64_t M, K, N;
  };
  std::vector<Layout> layouts = {
      {"2-D", {}, true, 3, 4, 5},
      {"2-D ones", {}, true, 1, 1, 1},
      {"3-D batched b", {2}, false, 3, 4, 2},
      {"4-D batched b", {2, 3}, false, 2, 3, 4},
      {"3-D shared b", {3}, true, 2, 5, 3},
      {"4-D shared b", {2, 2}, true, 3, 2, 4},
      {"3-D shared b, M=1", {4}, true, 1, 3, 2},
  };
  for (const Layout& L : layouts) {
    for (int flags = 0; flags < 4; ++flags) {
      bool ta = flags & 1, tb = flags & 2;
      std::vector<int64_t> sa = L.batch_a, sb = L.b_shared ? std::vector<int64_t>{} : L.batch_a;
      sa.push_back(ta ? L.K : L.M);
      sa.push_back(ta ? L.M : L.K);
      sb.push_back(tb ? L.N : L.K);
      sb.push_back(tb ? L.K : L.N);
      INFO(L.name, " trans_a=", ta, " trans_b=", tb);
      Tensor a = random_tensor(Shape(sa), 10 + flags), b = random_tensor(Shape(sb), 20 + flags);
      check_gradients([ta, tb](const std::vector<Var>& v) { return matmul(v[0], v[1], ta, tb); },
                      {a, b});
    }
  }
}

TEST_CASE("linear: gradients for x, w, b and the residual, 2-D and batched x") {
  for (const Shape& xs : {Shape{4, 3}, Shape{2, 5, 3}}) {
    check_gradients([](const std::vector<Var>& v) { return linear(v[0], v[1], v[2]); },
                    {random_tensor(xs, 131), random_tensor(Shape{3, 6}, 132), random_tensor(Shape{6}, 133)});
    check_gradients([](const std::vector<Var>& v) { return linear(v[0], v[1], v[2], v[3]); },
                    {random_tensor(xs, 134), random_tensor(Shape{3, 6}, 135), random_tensor(Shape{6}, 136),
                     random_tensor(xs.with_last(6), 137)});
  }
  // The residual may be the input itself (x + f(x) with a square W): both gradients add up.
  check_gradients([](const std::vector<Var>& v) { return linear(v[0], v[1], v[2], v[0]); },
                  {random_tensor(Shape{4, 3}, 138), random_tensor(Shape{3, 3}, 139), random_tensor(Shape{3}, 140)});
}

TEST_CASE("matmul: only the inputs that require grad get a gradient") {
  Var a(random_tensor(Shape{2, 3, 4}, 1), false);
  Var w(random_tensor(Shape{4, 5}, 2), true);
  Var loss = sum_all(matmul(a, w));
  loss.backward();
  CHECK_FALSE(a.grad().defined());
  REQUIRE(w.grad().defined());
  // d sum(a @ w) / dw[k, n] = sum over batch and rows of a[.., k]
  std::vector<float> expected(20);
  Tensor col_sums = sum_rows(a.value());  // [4]
  for (int k = 0; k < 4; ++k)
    for (int n = 0; n < 5; ++n) expected[k * 5 + n] = col_sums.at({k});
  CHECK(max_abs_diff(w.grad(), expected) < 1e-5);
}

// ---- elementwise ----

namespace {

// A binary op's gradients for a and b, checked for every broadcast of b.
void check_binary_op(const char* name, Var (*fn)(const Var&, const Var&)) {
  struct Case {
    const char* name;
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {"same shape", Shape{3, 4}, Shape{3, 4}},
      {"same shape, one element", Shape{1}, Shape{1}},
      {"same 3-D", Shape{2, 3, 5}, Shape{2, 3, 5}},
      {"vector over last dim", Shape{3, 4}, Shape{4}},
      {"vector over last dim, 3-D", Shape{2, 3, 5}, Shape{5}},
      {"vector over a 1-D a", Shape{5}, Shape{5}},
      {"one value []", Shape{3, 4}, Shape{}},
      {"one value [1]", Shape{2, 3, 5}, Shape{1}},
      {"one value [1, 1]", Shape{3, 1}, Shape{1, 1}},
  };
  for (const Case& c : cases) {
    INFO(name, " ", c.name, " a ", c.a.str(), " b ", c.b.str());
    Tensor a = random_tensor(c.a, 31);
    // div's denominator stays away from 0, and its sign is mixed
    Tensor b = std::string(name) == "div"
                   ? mul(uniform_tensor(c.b, 32, 0.5f, 2.0f), away_from(random_tensor(c.b, 33), {0.0f}, 0.3f))
                   : random_tensor(c.b, 32);
    check_gradients([fn](const std::vector<Var>& v) { return fn(v[0], v[1]); }, {a, b});
  }
}

// The gradient a backward left in `x`, element by element against values
// computed by hand; a failure names the element, expected and got.
void check_grad_by_hand(const char* what, const Var& x, const std::vector<double>& expected) {
  REQUIRE_MESSAGE(x.grad().defined(), what, ": no gradient reached it");
  const std::vector<float> got = x.grad().to_vector();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(what, "[", i, "]");
    CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-6));
  }
}

Var leaf(const std::vector<float>& values, const Shape& shape) {
  return Var(Tensor::from_vector(values, shape), true);
}

}  // namespace

TEST_CASE("binary ops: add and sub gradients with every broadcast of b") {
  check_binary_op("add", add);
  check_binary_op("sub", sub);
}

// y = a * b: da = dy * b, db = dy * a summed to b's shape.
TEST_CASE("mul: gradients with every broadcast of b, and by hand") {
  check_binary_op("mul", mul);
  // L = sum(a * b): da = b, db = a
  Var a = leaf({1, 2, 3}, Shape{3}), b = leaf({4, 5, 6}, Shape{3});
  sum_all(mul(a, b)).backward();
  check_grad_by_hand("same shape: da", a, {4, 5, 6});
  check_grad_by_hand("same shape: db", b, {1, 2, 3});
  // b one value: da = b everywhere, db = sum of a
  Var m = leaf({1, 2, 3, 4, 5, 6}, Shape{2, 3}), s = leaf({2}, Shape{1});
  sum_all(mul(m, s)).backward();
  check_grad_by_hand("one value: da", m, {2, 2, 2, 2, 2, 2});
  check_grad_by_hand("one value: db", s, {21});
  // b a vector over the last dim: db[c] = sum over rows of a[., c]
  Var m2 = leaf({1, 2, 3, 4, 5, 6}, Shape{2, 3}), v = leaf({1, -1, 2}, Shape{3});
  sum_all(mul(m2, v)).backward();
  check_grad_by_hand("vector: da", m2, {1, -1, 2, 1, -1, 2});
  check_grad_by_hand("vector: db", v, {5, 7, 9});
}

// y = a / b: da = dy / b, db = -dy a / b^2 summed to b's shape.
TEST_CASE("div: gradients with every broadcast of b, and by hand") {
  check_binary_op("div", div);
  // L = sum(a / b): da = 1 / b, db = -a / b^2
  Var a = leaf({1, 2, 3}, Shape{3}), b = leaf({2, 4, -8}, Shape{3});
  sum_all(div(a, b)).backward();
  check_grad_by_hand("same shape: da", a, {0.5, 0.25, -0.125});
  check_grad_by_hand("same shape: db", b, {-0.25, -0.125, -3.0 / 64});
  // b one value 2: da = 1/2 everywhere, db = -(1 + 2 + 3) / 4
  Var a2 = leaf({1, 2, 3}, Shape{3}), s = leaf({2}, Shape{1});
  sum_all(div(a2, s)).backward();
  check_grad_by_hand("one value: da", a2, {0.5, 0.5, 0.5});
  check_grad_by_hand("one value: db", s, {-1.5});
}

TEST_CASE("minimum: gradients, and ties send the gradient to a") {
  Tensor a = random_tensor(Shape{3, 5}, 41);
  // b is a shifted by at least 0.1 either way, so no +-h step changes which is smaller
  Tensor shift = away_from(random_tensor(Shape{3, 5}, 42), {0.0f}, 0.1f);
  Tensor b = add(a, shift);
  check_gradients([](const std::vector<Var>& v) { return minimum(v[0], v[1]); }, {a, b});

  Var x(Tensor::from_vector({1.0f, 2.0f, 3.0f}, Shape{3}), true);
  Var z(Tensor::from_vector({1.0f, 1.0f, 5.0f}, Shape{3}), true);
  Var m = minimum(x, z);
  CHECK(max_abs_diff(m.value(), {1.0f, 1.0f, 3.0f}) == 0.0);
  sum_all(m).backward();
  CHECK(max_abs_diff(x.grad(), {1.0f, 0.0f, 1.0f}) == 0.0);  // the tie at 0 goes to a
  CHECK(max_abs_diff(z.grad(), {0.0f, 1.0f, 0.0f}) == 0.0);
}

TEST_CASE("unary ops: gradients on several shapes") {
  std::vector<Shape> shapes = {Shape{1}, Shape{7}, Shape{3, 5}, Shape{2, 3, 4}};
  for (const Shape& s : shapes) {
    INFO("shape ", s.str());
    Tensor x = random_tensor(s, 51);
    Tensor positive = uniform_tensor(s, 52, 0.5f, 2.0f);
    check_gradients([](const std::vector<Var>& v) { return add_scalar(v[0], 0.7f); }, {x});
    check_gradients([](const std::vector<Var>& v) { return mul_scalar(v[0], -1.7f); }, {x});
    check_gradients([](const std::vector<Var>& v) { return neg(v[0]); }, {x});
    check_gradients([](const std::vector<Var>& v) { return tanh(v[0]); }, {x});
    check_gradients([](const std::vector<Var>& v) { return gelu(v[0]); }, {x});
    check_gradients([](const std::vector<Var>& v) { return log(v[0]); }, {positive});
    check_gradients([](const std::vector<Var>& v) { return sqrt(v[0]); }, {positive});
    // kinked ops: inputs kept 0.05 away from the kinks, step 1e-3
    Tensor x_relu = away_from(x, {0.0f}, 0.05f);
    check_gradients([](const std::vector<Var>& v) { return relu(v[0]); }, {x_relu}, 1e-3f);
    Tensor x_clamp = away_from(x, {-0.5f, 0.8f}, 0.05f);
    check_gradients([](const std::vector<Var>& v) { return clamp(v[0], -0.5f, 0.8f); }, {x_clamp}, 1e-3f);
  }
}

// y = e^a: da = dy * e^a.
TEST_CASE("exp: gradients on several shapes, and by hand") {
  for (const Shape& s : {Shape{1}, Shape{7}, Shape{3, 5}, Shape{2, 3, 4}}) {
    INFO("shape ", s.str());
    check_gradients([](const std::vector<Var>& v) { return exp(v[0]); }, {random_tensor(s, 51)});
  }
  // L = sum(e^a): da = e^a
  Var a = leaf({0, 1, -1, 2}, Shape{4});
  sum_all(exp(a)).backward();
  check_grad_by_hand("da", a, {1.0, std::exp(1.0), std::exp(-1.0), std::exp(2.0)});
}

TEST_CASE("clamp: the bounds themselves pass the gradient, outside gets none") {
  Var x(Tensor::from_vector({-2.0f, -0.5f, 0.0f, 0.8f, 3.0f}, Shape{5}), true);
  Var y = clamp(x, -0.5f, 0.8f);
  CHECK(max_abs_diff(y.value(), {-0.5f, -0.5f, 0.0f, 0.8f, 0.8f}) == 0.0);
  sum_all(y).backward();
  CHECK(max_abs_diff(x.grad(), {0.0f, 1.0f, 1.0f, 1.0f, 0.0f}) == 0.0);
}

TEST_CASE("elementwise forwards match their closed forms") {
  const double kPi = 3.14159265358979323846;
  Tensor x = Tensor::from_vector({-1.5f, 0.0f, 0.25f, 2.0f}, Shape{4});
  std::vector<float> v = x.to_vector();
  std::vector<float> neg_v, tanh_v, exp_v, gelu_v;
  for (float a : v) {
    neg_v.push_back(-a);
    tanh_v.push_back((float)std::tanh((double)a));
    exp_v.push_back((float)std::exp((double)a));
    double u = std::sqrt(2.0 / kPi) * (a + 0.044715 * a * a * a);
    gelu_v.push_back((float)(0.5 * a * (1.0 + std::tanh(u))));
  }
  Var xv(x, true);
  CHECK(max_abs_diff(neg(xv).value(), neg_v) == 0.0);
  CHECK(max_abs_diff(tanh(xv).value(), tanh_v) < 1e-6);
  CHECK(max_abs_diff(exp(xv).value(), exp_v) < 1e-5);
  CHECK(max_abs_diff(gelu(xv).value(), gelu_v) < 1e-6);
  CHECK(std::string(neg(xv).op()) == "neg");
}

// ---- reductions ----

TEST_CASE("reductions: gradients on several shapes") {
  std::vector<Shape> shapes = {Shape{1}, Shape{5}, Shape{3, 4}, Shape{2, 3, 5}, Shape{2, 1, 3, 2}};
  for (const Shape& s : shapes) {
    INFO("shape ", s.str());
    Tensor x = random_tensor(s, 61);
    check_gradients([](const std::vector<Var>& v) { return sum_last(v[0]); }, {x});
    check_gradients([](const std::vector<Var>& v) { return mean_last(v[0]); }, {x});
    check_gradients([](const std::vector<Var>& v) { return sum_all(v[0]); }, {x});
    check_gradients([](const std::vector<Var>& v) { return mean_all(v[0]); }, {x});
  }
}

// ---- neural-net ops ----

TEST_CASE("softmax and log_softmax: gradients") {
  for (const Shape& s : {Shape{1}, Shape{6}, Shape{3, 5}, Shape{2, 3, 4}}) {
    INFO("shape ", s.str());
    Tensor x = random_tensor(s, 71, 2.0f);
    check_gradients([](const std::vector<Var>& v) { return softmax(v[0]); }, {x});
    check_gradients([](const std::vector<Var>& v) { return log_softmax(v[0]); }, {x});
  }
}

TEST_CASE("layernorm: gradients for x, gamma and beta") {
  for (const Shape& s : {Shape{4}, Shape{3, 5}, Shape{2, 3, 6}}) {
    INFO("shape ", s.str());
    int64_t C = s.last();
    Tensor x = random_tensor(s, 81, 1.5f);
    Tensor gamma = add_scalar(random_tensor(Shape{C}, 82, 0.3f), 1.0f);
    Tensor beta = random_tensor(Shape{C}, 83, 0.3f);
    check_gradients([](const std::vector<Var>& v) { return layernorm(v[0], v[1], v[2], 1e-5f); },
                    {x, gamma, beta});
  }
}

TEST_CASE("embedding: gradient is a scatter-add over repeated ids") {
  Tensor weight = random_tensor(Shape{7, 3}, 91);
  Tensor ids = Tensor::from_vector({1, 4, 1, 6, 0, 4, 4, 2}, Shape{2, 4});
  check_gradients([ids](const std::vector<Var>& v) { return embedding(v[0], ids); }, {weight});
  Tensor ids_1d = Tensor::from_vector({3, 3, 5}, Shape{3});
  check_gradients([ids_1d](const std::vector<Var>& v) { return embedding(v[0], ids_1d); }, {weight});

  // by hand: ids 3, 3, 5 under a plain sum give row 3 a gradient of 2, row 5 of 1
  Var w(weight, true);
  sum_all(embedding(w, ids_1d)).backward();
  for (int64_t v = 0; v < 7; ++v)
    CHECK(w.grad().at({v, 1}) == doctest::Approx(v == 3 ? 2.0 : v == 5 ? 1.0 : 0.0));
}

TEST_CASE("cross_entropy and token_logprobs: gradients") {
  Tensor logits = random_tensor(Shape{6, 5}, 101, 2.0f);
  Tensor targets = Tensor::from_vector({0, 4, 2, 2, 1, 3}, Shape{6});
  Tensor mask = Tensor::from_vector({1, 1, 0, 1, 0, 1}, Shape{6});
  check_gradients([targets, mask](const std::vector<Var>& v) { return cross_entropy(v[0], targets, mask); },
                  {logits});
  Tensor no_rows = Tensor::zeros(Shape{6});
  check_gradients(
      [targets, no_rows](const std::vector<Var>& v) { return cross_entropy(v[0], targets, no_rows); },
      {logits});
  // the gradient is scaled by the upstream gradient: 3 * loss
  check_gradients(
      [targets, mask](const std::vector<Var>& v) { return mul_scalar(cross_entropy(v[0], targets, mask), 3.0f); },
      {logits});
  check_gradients([targets](const std::vector<Var>& v) { return token_logprobs(v[0], targets); }, {logits});
  Tensor one = random_tensor(Shape{1, 7}, 102);
  Tensor t1 = Tensor::from_vector({6}, Shape{1});
  check_gradients([t1](const std::vector<Var>& v) { return token_logprobs(v[0], t1); }, {one});
}

// ---- layout ----

TEST_CASE("layout ops: gradients") {
  Tensor x = random_tensor(Shape{2, 3, 4}, 111);
  check_gradients([](const std::vector<Var>& v) { return reshape(v[0], Shape{6, 4}); }, {x});
  check_gradients([](const std::vector<Var>& v) { return reshape(v[0], Shape{24}); }, {x});
  check_gradients([](const std::vector<Var>& v) { return transpose_last2(v[0]); }, {x});
  check_gradients([](const std::vector<Var>& v) { return transpose_last2(v[0]); },
                  {random_tensor(Shape{1, 5}, 112)});
  check_gradients([](const std::vector<Var>& v) { return permute_0213(v[0]); },
                  {random_tensor(Shape{2, 3, 4, 2}, 113)});

  Tensor p0 = random_tensor(Shape{2, 3}, 114), p1 = random_tensor(Shape{1, 3}, 115),
         p2 = random_tensor(Shape{4, 3}, 116);
  check_gradients([](const std::vector<Var>& v) { return concat0(v); }, {p0, p1, p2});
  check_gradients([](const std::vector<Var>& v) { return concat0(v); }, {p1});

  Tensor rows = random_tensor(Shape{5, 2, 3}, 117);
  for (auto range : std::vector<std::pair<int64_t, int64_t>>{{1, 4}, {0, 5}, {4, 5}, {2, 2}}) {
    INFO("slice0 [", range.first, ", ", range.second, ")");
    check_gradients([range](const std::vector<Var>& v) { return slice0(v[0], range.first, range.second); },
                    {rows});
  }
}

TEST_CASE("concat0: an input without requires_grad gets no gradient") {
  Var a(random_tensor(Shape{2, 3}, 121), true);
  Var b(random_tensor(Shape{1, 3}, 122), false);
  Var y = concat0({a, b});
  CHECK(y.shape() == Shape{3, 3});
  sum_all(y).backward();
  CHECK_FALSE(b.grad().defined());
  CHECK(max_abs_diff(a.grad(), std::vector<float>(6, 1.0f)) == 0.0);
}

TEST_CASE("causal_mask: -inf above the diagonal, gradient through softmax") {
  // forward: square, and fewer queries than keys (the KV-cache case)
  Var s(random_tensor(Shape{2, 3, 3}, 131), true);
  Var masked = causal_mask(s);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        if (j > i) CHECK(masked.value().at({b, i, j}) == -INFINITY);
        else CHECK(masked.value().at({b, i, j}) == s.value().at({b, i, j}));
      }
  Var wide = causal_mask(Var(random_tensor(Shape{2, 4}, 132)));
  CHECK(wide.value().at({0, 2}) != -INFINITY);  // query 0 is position 2 of 4
  CHECK(wide.value().at({0, 3}) == -INFINITY);
  CHECK(wide.value().at({1, 3}) != -INFINITY);

  // The masked scores are -inf, so the loss is taken after a softmax, as in attention.
  for (const Shape& shape : {Shape{4, 4}, Shape{2, 3, 3}, Shape{2, 2, 3, 5}, Shape{1, 1}}) {
    INFO("scores ", shape.str());
    check_gradients([](const std::vector<Var>& v) { return softmax(causal_mask(v[0])); },
                    {random_tensor(shape, 133)});
  }
}

// ---- composition: the chain rule across ops ----

TEST_CASE("a composite function: reused inputs and a small network") {
  check_gradients([](const std::vector<Var>& v) { return mul(v[0], v[0]); }, {random_tensor(Shape{3, 2}, 141)});
  // tanh(x W1 + b1) W2, cross-entropy: a classifier's whole forward
  Tensor x = random_tensor(Shape{4, 3}, 142);
  Tensor targets = Tensor::from_vector({0, 1, 1, 0}, Shape{4});
  Tensor mask = Tensor::ones(Shape{4});
  check_gradients(
      [targets, mask](const std::vector<Var>& v) {
        Var h = tanh(add(matmul(v[0], v[1]), v[2]));
        return cross_entropy(matmul(h, v[3]), targets, mask);
      },
      {x, random_tensor(Shape{3, 5}, 143), random_tensor(Shape{5}, 144), random_tensor(Shape{5, 2}, 145)});
}

// ---- graph mechanics ----

// accumulate_grad keeps a gradient nothing else holds instead of copying it,
// and add/sub/reshape hand their dy on. These graphs route one dy to several
// places (both inputs of an add, an add of a value with itself, a reshape of a
// tensor used elsewhere): a gradient kept where it should have been copied
// would be written twice and the sums below would come out wrong.
TEST_CASE("backward: a gradient handed on is never shared between two nodes") {
  Tensor x0 = Tensor::from_vector({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Var a(x0, true), b(Tensor::from_vector({10, 20, 30, 40, 50, 60}, Shape{2, 3}), true);
  Var w(Tensor::from_vector({1, -1, 2, -2, 3, -3}, Shape{3, 2}), true);
  // s = a + b; r = reshape(a) [3, 2]; u = s + s;  loss = sum(u * 1) + sum(r * w) + sum(a - b)
  Var s = add(a, b);
  Var u = add(s, s);
  Var r = reshape(a, Shape{3, 2});
  Var loss = add(add(sum_all(u), sum_all(mul(r, w))), sum_all(sub(a, b)));
  loss.backward();
  // d/da: 2 (from u = 2a + 2b) + w viewed [2, 3] + 1;  d/db: 2 - 1;  d/dw = reshape(a)
  const std::vector<float> w_flat = {1, -1, 2, -2, 3, -3};
  for (int i = 0; i < 6; ++i) {
    CHECK(a.grad().to_vector()[(size_t)i] == doctest::Approx(3.0f + w_flat[(size_t)i]));
    CHECK(b.grad().to_vector()[(size_t)i] == doctest::Approx(1.0f));
    CHECK(w.grad().to_vector()[(size_t)i] == doctest::Approx(x0.to_vector()[(size_t)i]));
  }
  CHECK_FALSE(a.grad().shares_storage(b.grad()));
  // The values themselves are untouched by the backward.
  CHECK(a.value().to_vector() == x0.to_vector());
}

TEST_CASE("backward: a non-scalar output is an error naming the op and shape") {
  Var x(random_tensor(Shape{2, 3}, 151), true);
  Var y = tanh(x);
  try {
    y.backward();
    FAIL("backward on a [2, 3] value did not throw");
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    CHECK(msg.find("single value") != std::string::npos);
    CHECK(msg.find("tanh") != std::string::npos);
    CHECK(msg.find("[2, 3]") != std::string::npos);
  }
}

TEST_CASE("backward: twice through the same graph is an error") {
  Var x(random_tensor(Shape{3}, 161), true);
  Var h = exp(x);
  Var loss = sum_all(h);
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("already freed"), std::runtime_error);
  // a new graph that reuses a node of the freed one cannot backpropagate through it
  Var loss2 = sum_all(mul_scalar(h, 2.0f));
  CHECK_THROWS_WITH_AS(loss2.backward(), doctest::Contains("op 'exp'"), std::runtime_error);
}

TEST_CASE("backward: frees the graph and its saved activations") {
  Var x(random_tensor(Shape{4}, 171), true);
  Var loss = sum_all(tanh(mul(x, x)));
  std::weak_ptr<Node> tanh_node = loss.node()->parents[0];
  std::weak_ptr<Node> mul_node = loss.node()->parents[0]->parents[0];
  loss.backward();
  CHECK(tanh_node.expired());  // nothing holds the intermediates any more
  CHECK(mul_node.expired());
  CHECK(loss.node()->parents.empty());
  CHECK_FALSE(loss.node()->backward);
  CHECK(loss.node()->freed);
  CHECK(x.grad().defined());  // the leaf keeps its gradient and stays usable
  CHECK_FALSE(x.node()->freed);
}

TEST_CASE("backward: gradients accumulate across calls until zero_grad") {
  Var x(Tensor::from_vector({1.0f, -2.0f}, Shape{2}), true);
  sum_all(mul_scalar(x, 3.0f)).backward();
  CHECK(max_abs_diff(x.grad(), {3.0f, 3.0f}) == 0.0);
  sum_all(mul(x, x)).backward();  // + 2x
  CHECK(max_abs_diff(x.grad(), {5.0f, -1.0f}) == 0.0);
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  sum_all(x).backward();  // a leaf as the sum's only input
  CHECK(max_abs_diff(x.grad(), {1.0f, 1.0f}) == 0.0);
}

TEST_CASE("backward: nothing that requires grad is an error") {
  Var x(random_tensor(Shape{3}, 181), false);
  CHECK_THROWS_WITH_AS(sum_all(x).backward(), doctest::Contains("requires_grad"), std::runtime_error);
}

TEST_CASE("no-grad scope: no graph is recorded, and the flag is restored") {
  Var x(random_tensor(Shape{3}, 191), true);
  CHECK(grad_enabled());
  {
    NoGradGuard outer;
    CHECK_FALSE(grad_enabled());
    {
      NoGradGuard inner;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());  // the inner guard restores "off", not "on"
    Var y = sum_all(exp(x));
    CHECK_FALSE(y.requires_grad());
    CHECK(y.node()->parents.empty());
    CHECK_FALSE(y.node()->backward);
    CHECK(y.value().item() == doctest::Approx(sum_all(exp(x.value())).item()));
  }
  CHECK(grad_enabled());
  Var z = sum_all(exp(x));
  CHECK(z.requires_grad());
}

TEST_CASE("detach: same values, cut from the graph") {
  Var x(Tensor::from_vector({2.0f, 3.0f}, Shape{2}), true);
  Var d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.value().shares_storage(x.value()));
  // y = detach(x) * x: only the second factor carries a gradient, so dy/dx = x (not 2x)
  sum_all(mul(d, x)).backward();
  CHECK(max_abs_diff(x.grad(), {2.0f, 3.0f}) == 0.0);
}

TEST_CASE("backward: a very long chain needs no deep recursion") {
  // 20000 ops deep: a recursive topological sort (or graph teardown) would
  // overflow the call stack long before this.
  const int depth = 20000;
  Var x(Tensor::from_vector({0.5f}, Shape{1}), true);
  Var y = x;
  for (int i = 0; i < depth; ++i) y = add_scalar(y, 1e-3f);
  sum_all(y).backward();
  CHECK(x.grad().item() == 1.0f);
  CHECK(y.value().item() == doctest::Approx(0.5 + depth * 1e-3).epsilon(1e-3));
}

TEST_CASE("undefined Vars and mismatched gradients are clear errors") {
  Var empty;
  CHECK_THROWS_WITH_AS(empty.value(), doctest::Contains("undefined Var"), std::runtime_error);
  CHECK_THROWS_WITH_AS(add(empty, Var(Tensor::ones(Shape{2}))), doctest::Contains("undefined"), std::runtime_error);
  Var x(Tensor::ones(Shape{2, 3}), true);
  CHECK_THROWS_WITH_AS(accumulate_grad(*x.node(), Tensor::ones(Shape{3, 2})),
                       doctest::Contains("does not match"), std::runtime_error);
}

TEST_CASE("OpProfile: charges each op's forward and backward, and nothing when off") {
  Var x(random_tensor(Shape{8, 16}, 901), true), w(random_tensor(Shape{16, 4}, 902), true);
  std::vector<OpTime> times;
  {
    OpProfile profile(Device::CPU);
    Var loss = sum_all(tanh(matmul(x, w)));
    loss.backward();
    times = profile.times();
    CHECK_THROWS_WITH_AS(OpProfile(Device::CPU), doctest::Contains("already recording"), std::runtime_error);
  }
  auto calls = [&](const std::string& name) {
    for (const OpTime& t : times)
      if (t.name == name) return t.calls;
    return (int64_t)0;
  };
  CHECK(calls("matmul") == 1);
  CHECK(calls("tanh") == 1);
  CHECK(calls("sum_all") == 1);
  CHECK(calls("matmul backward") == 1);
  CHECK(calls("tanh backward") == 1);
  for (size_t i = 1; i < times.size(); ++i) CHECK(times[i - 1].ms >= times[i].ms);  // largest first
  // Off again: marks are ignored, and a new profile starts empty.
  profile_mark("ignored");
  OpProfile again(Device::CPU);
  CHECK(again.times().empty());
}
