// `aha objective`'s evaluation of one JSON case (grpo/objective_case.h): the
// numbers of the hand-computed cases of test_grpo.cpp, read back from its JSON.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "grpo/objective_case.h"

using namespace aha;
using json = nlohmann::json;

namespace {
json evaluate(const std::string& case_json) { return json::parse(evaluate_objective_case(case_json)); }
}  // namespace

TEST_CASE("objective case: one token by hand, every intermediate") {
  // rho = e^0.5 = 1.6487 > 1.2 with A = 1: the surrogate is 1.2; KL = e^-0.3 + 0.3 - 1 = 0.0408182.
  const json out = evaluate(
      R"({"advantages": [1], "logprobs": [[-1]], "old_logprobs": [[-1.5]], "ref_logprobs": [[-1.3]], "beta": 0.1})");
  CHECK(out["loss_variant"] == "grpo");
  CHECK(out["weights"][0][0].get<double>() == doctest::Approx(1.0));
  CHECK(out["ratio"][0][0].get<double>() == doctest::Approx(std::exp(0.5)).epsilon(1e-6));
  CHECK(out["surrogate"][0][0].get<double>() == doctest::Approx(1.2).epsilon(1e-6));
  CHECK(out["kl"][0][0].get<double>() == doctest::Approx(0.0408182).epsilon(1e-5));
  CHECK(out["objective"][0][0].get<double>() == doctest::Approx(1.2 - 0.1 * 0.0408182).epsilon(1e-5));
  CHECK(out["loss"].get<double>() == doctest::Approx(-(1.2 - 0.1 * 0.0408182)).epsilon(1e-5));
  CHECK(out["grad"][0][0].get<double>() == doctest::Approx(0.1 * (1 - std::exp(-0.3))).epsilon(1e-5));
  CHECK(out["stats"]["clip_fraction"].get<double>() == 1.0);
}

TEST_CASE("objective case: advantages from rewards, and the variant's defaults") {
  SUBCASE("grpo: (r - mean) / std within each group") {
    const json out = evaluate(R"({"rewards": [1.1, 0.1, 0.1, 0.1], "group_size": 4, "eps": 0})");
    CHECK(out["advantages"][0].get<double>() == doctest::Approx(0.75 / std::sqrt(0.1875)));
    CHECK(out["advantages"][1].get<double>() == doctest::Approx(-0.25 / std::sqrt(0.1875)));
    CHECK_FALSE(out.contains("loss"));
  }
  SUBCASE("dr_grpo: centred only; dapo: clip-higher") {
    const json dr = evaluate(R"({"loss": "dr_grpo", "rewards": [1.1, 0.1, 0.1, 0.1], "group_size": 4})");
    CHECK(dr["scale_by_std"] == false);
    CHECK(dr["advantages"][0].get<double>() == doctest::Approx(0.75));
    const json dapo = evaluate(R"({"loss": "dapo", "rewards": [1, 0], "group_size": 2})");
    CHECK(dapo["clip_high"].get<double>() == doctest::Approx(0.28));
  }
}

TEST_CASE("objective case: ragged rows, the token weights and the loss as their weighted sum") {
  // lengths 2, 4, 0 (an empty row counts for nothing): grpo w = 1 / (|o_i| * 2 live rows)
  const json out = evaluate(R"({"advantages": [1, -1, 0.5], "beta": 0,
      "logprobs": [[-0.5, -1.0], [-0.2, -0.3, -0.4, -0.1], []]})");
  REQUIRE(out["weights"].size() == 3);
  CHECK(out["weights"][0][1].get<double>() == doctest::Approx(0.25));
  CHECK(out["weights"][1][3].get<double>() == doctest::Approx(0.125));
  CHECK(out["weights"][2].empty());
  CHECK_FALSE(out.contains("kl"));
  double sum = 0;
  for (size_t i = 0; i < 3; ++i)
    for (size_t t = 0; t < out["weights"][i].size(); ++t)
      sum += out["weights"][i][t].get<double>() * out["objective"][i][t].get<double>();
  CHECK(out["loss"].get<double>() == doctest::Approx(-sum));
  // mu = 1 (old = new by default): rho = 1, the surrogate is A, the gradient -w A.
  CHECK(out["ratio"][1][2].get<double>() == 1.0);
  CHECK(out["grad"][1][2].get<double>() == doctest::Approx(0.125));
}

TEST_CASE("objective case: a bad case is refused, the field named") {
  CHECK_THROWS_WITH(evaluate("{"), doctest::Contains("not JSON"));
  CHECK_THROWS_WITH(evaluate(R"({"advantages": [1], "betta": 1})"), doctest::Contains("unknown field 'betta'"));
  CHECK_THROWS_WITH(evaluate(R"({"group_size": 2})"), doctest::Contains("either rewards"));
  CHECK_THROWS_WITH(evaluate(R"({"rewards": [1, 0, 1], "group_size": 2})"), doctest::Contains("groups of 2"));
  CHECK_THROWS_WITH(evaluate(R"({"advantages": [1], "logprobs": [[0.5]], "beta": 0})"),
                    doctest::Contains("logprobs[0][0] = 0.5 is not a log-probability"));
  CHECK_THROWS_WITH(evaluate(R"({"advantages": [1], "logprobs": [[-1, -2]], "old_logprobs": [[-1]], "beta": 0})"),
                    doctest::Contains("old_logprobs[0] has 1 tokens, logprobs[0] 2"));
  CHECK_THROWS_WITH(evaluate(R"({"advantages": [1], "logprobs": [[-1]]})"), doctest::Contains("needs ref_logprobs"));
  CHECK_THROWS_WITH(evaluate(R"({"advantages": [1, 2], "logprobs": [[-1]], "beta": 0})"),
                    doctest::Contains("2 completions"));
  CHECK_THROWS_WITH(evaluate(R"({"loss": "ppo", "advantages": [1]})"), doctest::Contains("grpo, dr_grpo, dapo"));
}
