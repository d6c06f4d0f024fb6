// The GRPO objective, advantages and token weights against hand computations.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "grpo/advantage.h"
#include "grpo/objective.h"
#include "tests/gradcheck.h"

using namespace aha;

namespace {

Var leaf(const std::vector<float>& values, const Shape& shape) {
  return Var(Tensor::from_vector(values, shape), true);
}
Tensor constant(const std::vector<float>& values, const Shape& shape) { return Tensor::from_vector(values, shape); }

// The per-token objective term, written out on its own in double precision as
// an independent reference for grpo_loss:
//   min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A) - beta (exp(ref - new) - (ref - new) - 1)
double term(double logp, double old, double ref, double adv, double eps_low, double eps_high, double beta) {
  const double rho = std::exp(logp - old);
  const double clipped = std::min(std::max(rho, 1 - eps_low), 1 + eps_high);
  const double d = ref - logp;
  return std::min(rho * adv, clipped * adv) - beta * (std::exp(d) - d - 1);
}

}  // namespace

TEST_CASE("group advantages: (r - mean) / (std + eps) within each group, by hand") {
  // group 1: rewards 1, 0 -> mean 0.5, std 0.5;  group 2: 1.1, 0.1, 0.1, 0.1 -> mean 0.35, std sqrt(0.1875)
  const std::vector<float> rewards = {1.0f, 0.0f, 1.1f, 0.1f};
  const std::vector<float> a = group_advantages(rewards, 2, true, 0.0f);
  CHECK(a[0] == doctest::Approx(1.0));
  CHECK(a[1] == doctest::Approx(-1.0));
  CHECK(a[2] == doctest::Approx(1.0));
  CHECK(a[3] == doctest::Approx(-1.0));
  const std::vector<float> b = group_advantages({1.1f, 0.1f, 0.1f, 0.1f}, 4, true, 0.0f);
  CHECK(b[0] == doctest::Approx(0.75 / std::sqrt(0.1875)));
  CHECK(b[1] == doctest::Approx(-0.25 / std::sqrt(0.1875)));
  SUBCASE("without std scaling (Dr. GRPO): just centred") {
    const std::vector<float> c = group_advantages({1.1f, 0.1f, 0.1f, 0.1f}, 4, false);
    CHECK(c[0] == doctest::Approx(0.75));
    CHECK(c[3] == doctest::Approx(-0.25));
  }
  SUBCASE("a group with equal rewards gets zero advantage") {
    const std::vector<float> d = group_advantages({0.1f, 0.1f, 1.0f, 0.0f}, 2, true);
    CHECK(d[0] == 0.0f);
    CHECK(d[1] == 0.0f);
    CHECK(group_is_uniform({0.1f, 0.1f, 1.0f, 0.0f}, 2, 0));
    CHECK_FALSE(group_is_uniform({0.1f, 0.1f, 1.0f, 0.0f}, 2, 1));
  }
  CHECK_THROWS_WITH(group_advantages({1, 2, 3}, 2, true), doctest::Contains("groups of 2"));
}

TEST_CASE("DAPO overlong penalty: 0, then a linear ramp over the buffer, then -1") {
  CHECK(overlong_penalty(10, 100, 20) == 0.0f);
  CHECK(overlong_penalty(80, 100, 20) == 0.0f);
  CHECK(overlong_penalty(90, 100, 20) == doctest::Approx(-0.5));
  CHECK(overlong_penalty(100, 100, 20) == doctest::Approx(-1.0));
  CHECK(overlong_penalty(101, 100, 20) == -1.0f);
  CHECK_THROWS(overlong_penalty(1, 100, 0));
}

TEST_CASE("token weights of each variant, by hand") {
  // 3 rows of T = 4: lengths 2, 4, 0 (an empty row counts for nothing)
  const std::vector<float> mask = {1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};
  SUBCASE("grpo: 1 / (|o_i| N), N = 2 live rows") {
    const std::vector<float> w = token_weights(LossVariant::Grpo, mask, 3, 8);
    CHECK(w[0] == doctest::Approx(0.25));
    CHECK(w[4] == doctest::Approx(0.125));
    CHECK(w[2] == 0.0f);
    CHECK(w[8] == 0.0f);
  }
  SUBCASE("dr_grpo: 1 / (max_length N)") {
    const std::vector<float> w = token_weights(LossVariant::DrGrpo, mask, 3, 8);
    CHECK(w[0] == doctest::Approx(1.0 / 16));
    CHECK(w[4] == doctest::Approx(1.0 / 16));
  }
  SUBCASE("dapo: 1 / total tokens") {
    const std::vector<float> w = token_weights(LossVariant::Dapo, mask, 3, 8);
    CHECK(w[0] == doctest::Approx(1.0 / 6));
    CHECK(w[7] == doctest::Approx(1.0 / 6));
    CHECK(w[3] == 0.0f);
  }
}

TEST_CASE("one token by hand: clip binds, then the k3 KL") {
  // rho = e^0.5 = 1.6487 > 1.2 with A = 1: the surrogate is clip(rho) A = 1.2.
  // KL = e^(-0.3) + 0.3 - 1 = 0.0408182; J = 1.2 - 0.1 * 0.0408182; loss = -J.
  ObjectiveInputs in;
  in.logprobs = leaf({-1.0f}, Shape{1, 1});
  in.old_logprobs = constant({-1.5f}, Shape{1, 1});
  in.ref_logprobs = constant({-1.3f}, Shape{1, 1});
  in.advantages = constant({1.0f}, Shape{1, 1});
  in.weights = constant({1.0f}, Shape{1, 1});
  in.mask = constant({1.0f}, Shape{1, 1});
  ObjectiveConfig config;
  config.beta = 0.1f;
  Var loss = grpo_loss(in, config);
  CHECK(loss.value().item() == doctest::Approx(-(1.2 - 0.1 * 0.0408182)).epsilon(1e-5));
  loss.backward();
  // The clipped branch has no gradient; only the KL's: d(-J)/dlogp = beta (1 - e^(ref - new)) = 0.1 (1 - e^-0.3)
  CHECK(in.logprobs.grad().item() == doctest::Approx(0.1 * (1 - std::exp(-0.3))).epsilon(1e-5));
  const ObjectiveStats stats = objective_stats(in, config);
  CHECK(stats.clip_fraction == 1.0);
  CHECK(stats.kl == doctest::Approx(0.0408182).epsilon(1e-5));
}

TEST_CASE("grpo_loss: per-token terms, loss and gradient by hand, with the weights and advantages given") {
  // Two completions on T = 3 (the first has 2 tokens). rho = e^(new - old):
  // row 0: 1.105 (inside the clip), 1 ; row 1 (A < 0): 1.350 (above 1.2: the
  // unclipped rho A is the smaller, it counts), 0.670 (below 0.8: the clipped
  // term counts, no gradient but the KL's), 1.051.
  const int N = 2, T = 3;
  const std::vector<float> mask = {1, 1, 0, 1, 1, 1};
  const std::vector<float> logp = {-0.5f, -1.0f, -7.0f, -0.2f, -2.0f, -0.3f};
  const std::vector<float> old = {-0.6f, -1.0f, 0.0f, -0.5f, -1.6f, -0.35f};
  const std::vector<float> ref = {-0.7f, -0.9f, 0.0f, -0.4f, -2.1f, -0.2f};
  const std::vector<float> adv = {0.8f, 0.8f, 0.0f, -1.2f, -1.2f, -1.2f};
  const std::vector<float> w = {0.5f, 0.5f, 0.0f, 0.2f, 0.3f, 0.5f};
  ObjectiveConfig config;
  config.beta = 0.05f;
  ObjectiveInputs in;
  in.logprobs = leaf(logp, Shape{N, T});
  in.old_logprobs = constant(old, Shape{N, T});
  in.ref_logprobs = constant(ref, Shape{N, T});
  in.advantages = constant(adv, Shape{N, T});
  in.weights = constant(w, Shape{N, T});
  in.mask = constant(mask, Shape{N, T});

  const ObjectiveTerms terms = grpo_terms(in, config);
  REQUIRE(terms.ratio.defined());
  REQUIRE(terms.kl.defined());
  const std::vector<float> ratio = terms.ratio.value().to_vector(), kl = terms.kl.value().to_vector();
  const std::vector<float> objective = terms.objective.value().to_vector();
  for (int k = 0; k < N * T; ++k) {
    CAPTURE(k);
    const double rho = mask[k] ? std::exp((double)logp[k] - old[k]) : 1.0;  // off the completion: rho = 1, KL = 0
    const double d = mask[k] ? (double)ref[k] - logp[k] : 0.0;
    CHECK(ratio[k] == doctest::Approx(rho).epsilon(1e-5));
    CHECK(kl[k] == doctest::Approx(std::exp(d) - d - 1).epsilon(1e-5));
    if (mask[k]) {
      const double want = term(logp[k], old[k], ref[k], adv[k], config.clip_low, config.clip_high, config.beta);
      CHECK(objective[k] == doctest::Approx(want).epsilon(1e-5));
    }
  }

  Var loss = grpo_loss(in, config);
  double expected = 0.0;
  for (int k = 0; k < N * T; ++k) {
    if (mask[k]) expected -= w[k] * term(logp[k], old[k], ref[k], adv[k], config.clip_low, config.clip_high, config.beta);
  }
  CHECK(loss.value().item() == doctest::Approx(expected).epsilon(1e-5));
  loss.backward();
  const std::vector<float> grad = in.logprobs.grad().to_vector();
  for (int k = 0; k < N * T; ++k) {
    CAPTURE(k);
    if (!mask[k]) {
      CHECK(grad[k] == 0.0f);  // padding: no gradient, whatever its log-prob
      continue;
    }
    auto term_at = [&](double lp) {
      return term(lp, old[k], ref[k], adv[k], config.clip_low, config.clip_high, config.beta);
    };
    const double fd = -w[k] * aha_test::central_difference(term_at, logp[k], 1e-4);
    CHECK(grad[k] == doctest::Approx(fd).epsilon(1e-3));
  }
}

TEST_CASE("two groups by hand: loss and gradient of each variant") {
  // Two prompts, G = 2; completions of 2, 1, 3 and 2 tokens on T = 3.
  const int N = 4, T = 3;
  const std::vector<float> mask = {1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0};
  const std::vector<float> logp = {-0.5f, -1.0f, -7.0f, -0.2f, -9.0f, -9.0f, -2.0f, -0.1f, -0.3f, -1.2f, -0.8f, -3.0f};
  // old differs from new (as after an earlier minibatch); rho spans inside and outside the clip.
  const std::vector<float> old = {-0.6f, -1.0f, 0.0f, -0.5f, 0.0f, 0.0f, -1.9f, -0.1f, -0.6f, -1.0f, -0.8f, 0.0f};
  const std::vector<float> ref = {-0.7f, -0.9f, 0.0f, -0.4f, 0.0f, 0.0f, -2.1f, -0.2f, -0.2f, -1.1f, -1.0f, 0.0f};
  const std::vector<float> rewards = {1.1f, 0.1f, 0.0f, 1.0f};  // group 1: right+format vs format only
  const float beta = 0.05f;

  for (LossVariant variant : {LossVariant::Grpo, LossVariant::DrGrpo, LossVariant::Dapo}) {
    CAPTURE(loss_variant_name(variant));
    const bool scale = variant != LossVariant::DrGrpo;
    const std::vector<float> adv_rows = group_advantages(rewards, 2, scale);
    ObjectiveConfig config;
    config.beta = beta;
    config.clip_high = variant == LossVariant::Dapo ? 0.28f : 0.2f;
    std::vector<float> adv(N * T, 0.0f);
    for (int i = 0; i < N; ++i)
      for (int t = 0; t < T; ++t) adv[i * T + t] = mask[i * T + t] * adv_rows[i];
    const std::vector<float> w = token_weights(variant, mask, N, 5);

    ObjectiveInputs in;
    in.logprobs = leaf(logp, Shape{N, T});
    in.old_logprobs = constant(old, Shape{N, T});
    in.ref_logprobs = constant(ref, Shape{N, T});
    in.advantages = constant(adv, Shape{N, T});
    in.weights = constant(w, Shape{N, T});
    in.mask = constant(mask, Shape{N, T});
    Var loss = grpo_loss(in, config);
    loss.backward();
    const std::vector<float> grad = in.logprobs.grad().to_vector();

    double expected = 0.0;
    for (int k = 0; k < N * T; ++k) {
      if (mask[k] == 0) {
        CHECK(grad[k] == 0.0f);  // padding: no gradient, whatever its log-prob
        continue;
      }
      expected -= w[k] * term(logp[k], old[k], ref[k], adv[k], config.clip_low, config.clip_high, beta);
      // central difference of the independent reference (tests/gradcheck.h)
      const double fd = -w[k] * aha_test::central_difference(
                                    [&](double lp) {
                                      return term(lp, old[k], ref[k], adv[k], config.clip_low, config.clip_high, beta);
                                    },
                                    logp[k], 1e-4);
      CHECK(grad[k] == doctest::Approx(fd).epsilon(1e-3));
    }
    CHECK(loss.value().item() == doctest::Approx(expected).epsilon(1e-5));
  }
}

TEST_CASE("beta = 0, a huge clip and mu = 1 (old = new): the gradient is REINFORCE with the group-mean baseline") {
  const int N = 4, T = 2;
  const std::vector<float> mask = {1, 1, 1, 0, 1, 1, 1, 1};
  const std::vector<float> logp = {-0.3f, -1.1f, -0.7f, 0.0f, -2.0f, -0.4f, -0.9f, -1.6f};
  const std::vector<float> rewards = {1.0f, 0.0f, 0.3f, 1.0f};
  const std::vector<float> adv_rows = group_advantages(rewards, 2, false);  // r - mean of its group
  std::vector<float> adv(N * T);
  for (int k = 0; k < N * T; ++k) adv[k] = mask[k] * adv_rows[k / T];
  const std::vector<float> w = token_weights(LossVariant::Grpo, mask, N, T);

  ObjectiveInputs in;
  in.logprobs = leaf(logp, Shape{N, T});
  in.old_logprobs = constant(logp, Shape{N, T});  // mu = 1: pi_old is the policy itself
  in.advantages = constant(adv, Shape{N, T});
  in.weights = constant(w, Shape{N, T});
  in.mask = constant(mask, Shape{N, T});
  ObjectiveConfig config;
  config.beta = 0.0f;
  config.clip_low = 0.999f;
  config.clip_high = 1e6f;
  grpo_loss(in, config).backward();

  // REINFORCE: loss = -sum_{i,t} w_it (r_i - mean_g r) log pi(o_it)  ->  gradient -w A
  const std::vector<float> grad = in.logprobs.grad().to_vector();
  for (int k = 0; k < N * T; ++k) CHECK(grad[k] == doctest::Approx(-w[k] * adv[k]).epsilon(1e-6));
}

TEST_CASE("a group whose rewards are all equal contributes zero gradient") {
  const int N = 4, T = 2;
  const std::vector<float> mask(N * T, 1.0f);
  const std::vector<float> logp = {-0.3f, -1.1f, -0.7f, -0.2f, -2.0f, -0.4f, -0.9f, -1.6f};
  const std::vector<float> old = {-0.4f, -1.0f, -0.6f, -0.3f, -1.8f, -0.5f, -1.0f, -1.5f};
  const std::vector<float> rewards = {0.1f, 0.1f, 1.1f, 0.0f};  // group 1 uniform
  const std::vector<float> adv_rows = group_advantages(rewards, 2, true);
  std::vector<float> adv(N * T);
  for (int k = 0; k < N * T; ++k) adv[k] = adv_rows[k / T];

  SUBCASE("grpo, beta = 0: A = 0 for the group") {
    ObjectiveInputs in;
    in.logprobs = leaf(logp, Shape{N, T});
    in.old_logprobs = constant(old, Shape{N, T});
    in.advantages = constant(adv, Shape{N, T});
    in.weights = constant(token_weights(LossVariant::Grpo, mask, N, T), Shape{N, T});
    in.mask = constant(mask, Shape{N, T});
    ObjectiveConfig config;
    config.beta = 0.0f;
    grpo_loss(in, config).backward();
    const std::vector<float> grad = in.logprobs.grad().to_vector();
    for (int k = 0; k < 2 * T; ++k) CHECK(grad[k] == 0.0f);
    CHECK(std::abs(grad[2 * T]) > 1e-3f);  // the other group does learn
  }
  SUBCASE("dapo drops the group: no gradient even from the KL term") {
    std::vector<float> kept = mask;
    for (int k = 0; k < 2 * T; ++k) kept[k] = 0.0f;  // what the trainer does with a dropped group
    ObjectiveInputs in;
    in.logprobs = leaf(logp, Shape{N, T});
    in.old_logprobs = constant(old, Shape{N, T});
    in.ref_logprobs = constant(old, Shape{N, T});
    in.advantages = constant(adv, Shape{N, T});
    in.weights = constant(token_weights(LossVariant::Dapo, kept, N, T), Shape{N, T});
    in.mask = constant(kept, Shape{N, T});
    ObjectiveConfig config;
    config.beta = 0.1f;
    grpo_loss(in, config).backward();
    const std::vector<float> grad = in.logprobs.grad().to_vector();
    for (int k = 0; k < 2 * T; ++k) CHECK(grad[k] == 0.0f);
    CHECK(std::abs(grad[3 * T]) > 1e-3f);
  }
}

TEST_CASE("grpo_loss names a missing or misshapen input") {
  ObjectiveInputs in;
  in.logprobs = leaf({-1, -1}, Shape{1, 2});
  in.old_logprobs = constant({-1, -1}, Shape{2, 1});
  in.advantages = constant({1, 1}, Shape{1, 2});
  in.weights = constant({1, 1}, Shape{1, 2});
  in.mask = constant({1, 1}, Shape{1, 2});
  CHECK_THROWS_WITH(grpo_loss(in, ObjectiveConfig()), doctest::Contains("old_logprobs"));
  in.old_logprobs = constant({-1, -1}, Shape{1, 2});
  CHECK_THROWS_WITH(grpo_loss(in, ObjectiveConfig()), doctest::Contains("ref_logprobs"));
  CHECK_THROWS_WITH(parse_loss_variant("ppo"), doctest::Contains("grpo, dr_grpo, dapo"));
}
