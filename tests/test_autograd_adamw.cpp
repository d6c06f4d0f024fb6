// AdamW and gradient clipping against hand-computed numbers, and a small
// network that must actually learn with them.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/adamw.h"
#include "autograd/ops.h"

using namespace aha;

namespace {

void set_grad(Var& p, const std::vector<float>& g) {
  p.zero_grad();
  accumulate_grad(*p.node(), Tensor::from_vector(g, p.shape()));
}

}  // namespace

// Both tests use beta1 = 0.9, beta2 = 0.95, eps = 1e-8, lr = 0.1 and two steps
// with gradients 0.5 then 0.25 on p = 1 (and -0.1 then 0.3 on p = -2):
//   step 1: m = 0.05, v = 0.0125, m_hat = 0.5, v_hat = 0.25, m_hat/sqrt(v_hat) = 1
//   step 2: m = 0.9*0.05 + 0.1*0.25 = 0.07,      m_hat = 0.07/0.19 = 0.368421
//           v = 0.95*0.0125 + 0.05*0.0625 = 0.015, v_hat = 0.015/0.0975 = 0.153846
//           m_hat/sqrt(v_hat) = 0.939295
//   p = -2: step 1 ratio -1; step 2 m = 0.021, v = 0.004975, ratio 0.110526/0.225888 = 0.489295
TEST_CASE("AdamW: two steps without weight decay, with bias correction") {
  Var p(Tensor::from_vector({1.0f}, Shape{1}), true);
  AdamW opt({p}, AdamWConfig{0.9f, 0.95f, 1e-8f, 0.1f}, {false});
  set_grad(p, {0.5f});
  opt.step(0.1f);
  CHECK(opt.steps() == 1);
  CHECK(p.value().item() == doctest::Approx(0.9).epsilon(1e-6));          // 1 - 0.1 * 1
  CHECK(opt.first_moments()[0].item() == doctest::Approx(0.05).epsilon(1e-6));
  CHECK(opt.second_moments()[0].item() == doctest::Approx(0.0125).epsilon(1e-6));
  set_grad(p, {0.25f});
  opt.step(0.1f);
  CHECK(p.value().item() == doctest::Approx(0.806071).epsilon(1e-6));     // 0.9 - 0.1 * 0.939295
}

TEST_CASE("AdamW: decoupled weight decay, only where asked") {
  Var decayed(Tensor::from_vector({1.0f, -2.0f}, Shape{2}), true);
  Var not_decayed(Tensor::from_vector({1.0f}, Shape{1}), true);
  AdamW opt({decayed, not_decayed}, AdamWConfig{0.9f, 0.95f, 1e-8f, 0.1f}, {true, false});
  set_grad(decayed, {0.5f, -0.1f});
  set_grad(not_decayed, {0.5f});
  opt.step(0.1f);
  // p -= lr * (ratio + wd * p): 1 - 0.1 * (1 + 0.1) = 0.89;  -2 - 0.1 * (-1 - 0.2) = -1.88
  CHECK(decayed.value().at({0}) == doctest::Approx(0.89).epsilon(1e-6));
  CHECK(decayed.value().at({1}) == doctest::Approx(-1.88).epsilon(1e-6));
  CHECK(not_decayed.value().item() == doctest::Approx(0.9).epsilon(1e-6));
  set_grad(decayed, {0.25f, 0.3f});
  set_grad(not_decayed, {0.25f});
  opt.step(0.1f);
  // 0.89 - 0.1 * (0.939295 + 0.1 * 0.89);  -1.88 - 0.1 * (0.489295 - 0.1 * 1.88)
  CHECK(decayed.value().at({0}) == doctest::Approx(0.787171).epsilon(1e-6));
  CHECK(decayed.value().at({1}) == doctest::Approx(-1.910130).epsilon(1e-6));
  CHECK(not_decayed.value().item() == doctest::Approx(0.806071).epsilon(1e-6));
}

TEST_CASE("AdamW: a parameter without a gradient is left alone; zero_grad clears all") {
  Var used(Tensor::from_vector({1.0f}, Shape{1}), true);
  Var unused(Tensor::from_vector({3.0f}, Shape{1}), true);
  AdamW opt({used, unused}, AdamWConfig{});  // default: every parameter decays
  set_grad(used, {1.0f});
  opt.step(0.01f);
  CHECK(unused.value().item() == 3.0f);
  CHECK(opt.second_moments()[1].item() == 0.0f);
  CHECK(used.value().item() < 1.0f);
  opt.zero_grad();
  CHECK_FALSE(used.grad().defined());
  CHECK_THROWS_WITH_AS(AdamW({used, unused}, AdamWConfig{}, {true}), doctest::Contains("2 parameters"),
                       std::runtime_error);
}

TEST_CASE("clip_grad_norm: the global norm, scaled down only above max_norm") {
  Var a(Tensor::zeros(Shape{2}), true), b(Tensor::zeros(Shape{1}), true), none(Tensor::zeros(Shape{3}), true);
  set_grad(a, {3.0f, 4.0f});
  set_grad(b, {12.0f});
  // norm = sqrt(9 + 16 + 144) = 13; a limit above it changes nothing
  CHECK(clip_grad_norm({a, b, none}, 20.0f) == doctest::Approx(13.0));
  CHECK(a.grad().at({1}) == 4.0f);
  // limit 6.5: every gradient times 6.5 / 13 = 0.5
  CHECK(clip_grad_norm({a, b, none}, 6.5f) == doctest::Approx(13.0));
  CHECK(a.grad().at({0}) == doctest::Approx(1.5));
  CHECK(a.grad().at({1}) == doctest::Approx(2.0));
  CHECK(b.grad().item() == doctest::Approx(6.0));
  CHECK_FALSE(none.grad().defined());
  CHECK(clip_grad_norm({a, b, none}, 100.0f) == doctest::Approx(6.5));
  CHECK(clip_grad_norm({none}, 1.0f) == 0.0f);
  CHECK_THROWS_AS(clip_grad_norm({a}, 0.0f), std::runtime_error);
}

TEST_CASE("learning: a two-layer tanh MLP solves XOR with AdamW") {
  // XOR is the classic problem no linear model solves: the hidden layer must.
  Tensor x = Tensor::from_vector({-1, -1, -1, 1, 1, -1, 1, 1}, Shape{4, 2});
  Tensor labels = Tensor::from_vector({0, 1, 1, 0}, Shape{4});
  Tensor mask = Tensor::ones(Shape{4});
  Generator gen(1234);
  const int64_t hidden = 8;
  Var w1(Tensor::randn(Shape{2, hidden}, gen, Device::CPU, 1.0f), true);
  Var b1(Tensor::zeros(Shape{hidden}), true);
  Var w2(Tensor::randn(Shape{hidden, 2}, gen, Device::CPU, 0.5f), true);
  Var b2(Tensor::zeros(Shape{2}), true);
  AdamW opt({w1, b1, w2, b2}, AdamWConfig{0.9f, 0.99f, 1e-8f, 0.0f});
  auto loss_fn = [&]() {
    Var h = tanh(add(matmul(Var(x), w1), b1));                    // [4, hidden]
    return cross_entropy(add(matmul(h, w2), b2), labels, mask);  // [4, 2] -> []
  };
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 200; ++step) {
    opt.zero_grad();
    Var loss = loss_fn();
    if (step == 0) first = loss.value().item();
    loss.backward();
    opt.step(0.05f);
  }
  {
    NoGradGuard no_grad;
    last = loss_fn().value().item();
  }
  INFO("loss ", first, " -> ", last);
  CHECK(first > 0.5f);   // about log 2 at the start: a coin flip
  CHECK(last < 0.02f);   // every point classified with > 98% confidence
}
