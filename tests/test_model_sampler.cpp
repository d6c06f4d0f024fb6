// The sampler (model/sampler.h): greedy, temperature, top-k, top-p, seeding,
// and the two log-probabilities, against distributions computed here by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "model/sampler.h"

using namespace aha;

namespace {

// `rows` copies of the same logits: [rows, V].
Tensor repeat_rows(const std::vector<float>& z, int64_t rows) {
  std::vector<float> all;
  for (int64_t r = 0; r < rows; ++r) all.insert(all.end(), z.begin(), z.end());
  return Tensor::from_vector(all, Shape{rows, (int64_t)z.size()});
}

std::vector<double> softmax_at_temperature(const std::vector<float>& z, double temperature) {
  double max = -INFINITY, sum = 0.0;
  for (float v : z) max = std::max(max, v / temperature);
  std::vector<double> p;
  for (float v : z) {
    p.push_back(std::exp(v / temperature - max));
    sum += p.back();
  }
  for (double& x : p) x /= sum;
  return p;
}

std::vector<double> frequencies(const Samples& s, size_t vocab) {
  std::vector<double> f(vocab, 0.0);
  for (int t : s.tokens) f[(size_t)t] += 1.0 / s.tokens.size();
  return f;
}

// |f - p| within `sigmas` binomial standard deviations for every token.
void check_frequencies(const std::vector<double>& f, const std::vector<double>& p, double n, double sigmas = 5.0) {
  for (size_t i = 0; i < p.size(); ++i) {
    CAPTURE(i);
    double sd = std::sqrt(std::max(p[i] * (1 - p[i]), 1e-12) / n);
    CHECK(std::fabs(f[i] - p[i]) <= sigmas * sd + 1e-12);
  }
}

const std::vector<float> kLogits = {1.0f, 2.5f, -0.5f, 0.3f, 2.0f, -2.0f};

}  // namespace

TEST_CASE("greedy is the argmax, ties to the lowest id, and draws nothing") {
  SamplingConfig greedy;
  greedy.greedy = true;
  Generator gen(1);
  Samples s = sample(Tensor::from_vector({0.1f, 3.0f, 3.0f, -1.0f, 0.0f, 9.0f, 9.0f, 1.0f}, Shape{2, 4}), greedy, gen);
  CHECK(s.tokens == std::vector<int>{1, 1});
  CHECK(s.logprobs == std::vector<float>{0.0f, 0.0f});
  CHECK(gen.offset() == 0);
  // Its policy log-prob is log softmax at temperature 1.
  std::vector<double> p = softmax_at_temperature({0.1f, 3.0f, 3.0f, -1.0f}, 1.0);
  CHECK(s.policy_logprobs[0] == doctest::Approx(std::log(p[1])).epsilon(1e-6));
  SamplingConfig zero_temperature;
  zero_temperature.temperature = 0.0f;
  CHECK(zero_temperature.is_greedy());
}

TEST_CASE("top-k = 1 equals greedy; temperature -> 0 approaches greedy") {
  Generator data(3);
  Tensor logits = Tensor::randn(Shape{200, 17}, data);
  SamplingConfig greedy;
  greedy.greedy = true;
  SamplingConfig top1;
  top1.top_k = 1;
  SamplingConfig cold;
  cold.temperature = 1e-3f;
  Generator g1(0), g2(0), g3(0);
  Samples a = sample(logits, greedy, g1), b = sample(logits, top1, g2), c = sample(logits, cold, g3);
  CHECK(a.tokens == b.tokens);
  CHECK(a.tokens == c.tokens);
  for (float lp : b.logprobs) CHECK(lp == 0.0f);  // one kept token: probability 1
}

TEST_CASE("sampling frequencies match softmax(logits / T), and log-probs are its logs") {
  const int64_t n = 20000;
  for (float temperature : {1.0f, 0.6f, 2.0f}) {
    CAPTURE(temperature);
    SamplingConfig config;
    config.temperature = temperature;
    Generator gen(17);
    Samples s = sample(repeat_rows(kLogits, n), config, gen);
    CHECK(gen.offset() == (uint64_t)n);  // one draw per row
    std::vector<double> p = softmax_at_temperature(kLogits, temperature);
    check_frequencies(frequencies(s, kLogits.size()), p, (double)n);
    for (size_t i = 0; i < 50; ++i) {
      CHECK(s.logprobs[i] == doctest::Approx(std::log(p[(size_t)s.tokens[i]])).epsilon(1e-5));
      CHECK(s.policy_logprobs[i] == s.logprobs[i]);
    }
  }
}

TEST_CASE("top-k keeps the k most likely tokens, renormalised") {
  const int64_t n = 20000;
  SamplingConfig config;
  config.top_k = 3;  // tokens 1 (2.5), 4 (2.0), 0 (1.0)
  Generator gen(19);
  Samples s = sample(repeat_rows(kLogits, n), config, gen);
  std::vector<double> p = softmax_at_temperature(kLogits, 1.0);
  const double kept = p[1] + p[4] + p[0];
  std::vector<double> q(p.size(), 0.0);
  for (int i : {0, 1, 4}) q[(size_t)i] = p[(size_t)i] / kept;
  check_frequencies(frequencies(s, kLogits.size()), q, (double)n);
  for (size_t i = 0; i < 50; ++i) {
    const size_t t = (size_t)s.tokens[i];
    CHECK(s.logprobs[i] == doctest::Approx(std::log(q[t])).epsilon(1e-5));
    CHECK(s.policy_logprobs[i] == doctest::Approx(std::log(p[t])).epsilon(1e-5));  // untruncated policy
  }
}

TEST_CASE("top-p keeps the smallest set of most likely tokens whose mass reaches p") {
  // probabilities 0.5, 0.3, 0.15, 0.05 (as logits: their logs)
  const std::vector<float> z = {std::log(0.3f), std::log(0.05f), std::log(0.5f), std::log(0.15f)};
  const int64_t n = 4000;
  auto drawn = [&](float top_p) {
    SamplingConfig config;
    config.top_p = top_p;
    Generator gen(23);
    Samples s = sample(repeat_rows(z, n), config, gen);
    std::vector<double> f = frequencies(s, z.size());
    return std::make_pair(f, s);
  };
  SUBCASE("p = 0.4: the most likely token alone") {
    auto [f, s] = drawn(0.4f);
    CHECK(f[2] == doctest::Approx(1.0));
    CHECK(s.logprobs[0] == doctest::Approx(0.0).epsilon(1e-6));
  }
  SUBCASE("p = 0.7: the top two (0.5 + 0.3 >= 0.7), renormalised") {
    auto [f, s] = drawn(0.7f);
    CHECK(f[1] == 0.0);
    CHECK(f[3] == 0.0);
    check_frequencies(f, {0.3 / 0.8, 0.0, 0.5 / 0.8, 0.0}, (double)n);
  }
  SUBCASE("p = 0.9: the top three") {
    auto [f, s] = drawn(0.9f);
    CHECK(f[1] == 0.0);
    CHECK(f[3] > 0.0);
    check_frequencies(f, {0.3 / 0.95, 0.0, 0.5 / 0.95, 0.15 / 0.95}, (double)n);
    for (size_t i = 0; i < 50; ++i)
      if (s.tokens[i] == 3) CHECK(s.logprobs[i] == doctest::Approx(std::log(0.15 / 0.95)).epsilon(1e-5));
  }
  SUBCASE("p = 1: everything") {
    auto [f, s] = drawn(1.0f);
    CHECK(f[1] > 0.0);
  }
}

TEST_CASE("sampling is seeded: the same generator state gives the same tokens") {
  Generator data(29);
  Tensor logits = Tensor::randn(Shape{64, 9}, data);
  SamplingConfig config;
  config.temperature = 1.3f;
  config.top_p = 0.9f;
  Generator a(5), b(5), c(6);
  Samples sa = sample(logits, config, a), sb = sample(logits, config, b), sc = sample(logits, config, c);
  CHECK(sa.tokens == sb.tokens);
  CHECK(sa.logprobs == sb.logprobs);
  CHECK(sa.tokens != sc.tokens);
}

TEST_CASE("sampler errors name the bad setting") {
  Tensor logits = Tensor::zeros(Shape{1, 4});
  Generator gen(0);
  SamplingConfig c;
  c.temperature = -1.0f;
  CHECK_THROWS_WITH_AS(sample(logits, c, gen), doctest::Contains("temperature"), std::runtime_error);
  c = SamplingConfig();
  c.top_p = 0.0f;
  CHECK_THROWS_WITH_AS(sample(logits, c, gen), doctest::Contains("top_p"), std::runtime_error);
  c = SamplingConfig();
  c.top_k = -2;
  CHECK_THROWS_WITH_AS(sample(logits, c, gen), doctest::Contains("top_k"), std::runtime_error);
  CHECK_THROWS_WITH_AS(sample(Tensor::from_vector({0.0f, NAN}, Shape{1, 2}), SamplingConfig(), gen),
                       doctest::Contains("NaN"), std::runtime_error);
  CHECK_THROWS_WITH_AS(sample(Tensor::zeros(Shape{4}), SamplingConfig(), gen), doctest::Contains("[B, V]"),
                       std::runtime_error);
}
