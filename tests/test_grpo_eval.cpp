// Held-out evaluation (grpo/eval.h): the pass@k estimator against hand
// computations, the aggregation of completions written by hand (so every
// number is known), and evaluate() end to end on a tiny random GPT.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/split.h"
#include "data/task.h"
#include "data/template.h"
#include "data/tokenizer.h"
#include "grpo/eval.h"

using namespace aha;

namespace {

// C(a, b) as a double, for the direct form of the estimator.
double choose(int a, int b) {
  if (b < 0 || b > a) return 0.0;
  return std::exp(std::lgamma(a + 1.0) - std::lgamma(b + 1.0) - std::lgamma(a - b + 1.0));
}

data::Problem add_problem(int difficulty, uint64_t seed) {
  Generator rng(seed);
  return data::sample_problem(data::TaskKind::Add, difficulty, data::Split::Test, rng);
}

std::string solution(const data::Problem& problem, data::Style style) {
  Generator rng(99);
  return data::write_solution(problem, style, rng);
}

// Well formed, but the answer is off by one digit appended.
std::string wrong(const data::Problem& problem) {
  return "<think></think><answer>" + problem.answer + "1</answer><eos>";
}

// m sampled completions of which the first `correct` are right.
std::vector<std::string> samples(const data::Problem& problem, int m, int correct) {
  std::vector<std::string> out;
  for (int j = 0; j < m; ++j) out.push_back(j < correct ? solution(problem, data::Style::Direct) : wrong(problem));
  return out;
}

GPT tiny_model(uint64_t seed) {
  GPTConfig config{data::Tokenizer().vocab_size(), 64, 16, 1, 2};
  GPT model(config, Device::CPU);
  Generator init(seed);
  model.init_weights(init);
  return model;
}

}  // namespace

TEST_CASE("pass_at_k: the unbiased estimator") {
  CHECK(pass_at_k(4, 1, 2) == doctest::Approx(0.5));  // 1 - C(3,2)/C(4,2) = 1 - 3/6
  CHECK(pass_at_k(5, 2, 3) == doctest::Approx(0.9));  // 1 - C(3,3)/C(5,3) = 1 - 1/10
  CHECK(pass_at_k(4, 2, 2) == doctest::Approx(5.0 / 6.0));
  CHECK(pass_at_k(10, 0, 5) == 0.0);
  CHECK(pass_at_k(10, 10, 5) == 1.0);
  CHECK(pass_at_k(4, 3, 2) == 1.0);  // fewer wrong samples than k
  for (int c = 0; c <= 8; ++c) CHECK(pass_at_k(8, c, 1) == doctest::Approx(c / 8.0));
  CHECK(pass_at_k(8, 3, 8) == 1.0);
  // Large m, where the binomials themselves are astronomically large.
  for (int c : {1, 3, 20}) {
    const double direct = 1.0 - choose(200 - c, 100) / choose(200, 100);
    CHECK(pass_at_k(200, c, 100) == doctest::Approx(direct).epsilon(1e-9));
  }
  CHECK_THROWS(pass_at_k(4, 5, 1));
  CHECK_THROWS(pass_at_k(4, -1, 1));
  CHECK_THROWS(pass_at_k(4, 1, 0));
  CHECK_THROWS(pass_at_k(4, 1, 5));
}

TEST_CASE("eval_problems: a fixed set of Test-split problems") {
  EvalConfig config;
  config.task = data::TaskKind::Mul;
  config.n = 40;
  const std::vector<data::Problem> a = eval_problems(config), b = eval_problems(config);
  REQUIRE(a.size() == 40);
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].text == b[i].text);
    CHECK(data::split_of(a[i]) == data::Split::Test);
    CHECK(a[i].difficulty >= 1);
    CHECK(a[i].difficulty <= 4);
  }
  config.n = 20;
  CHECK(eval_problems(config)[7].text == a[7].text);  // problem i does not depend on n
  config.seed += 1;
  CHECK(eval_problems(config)[7].text != a[7].text);
  config.ood = true;
  for (const data::Problem& p : eval_problems(config)) CHECK(p.difficulty == 5);

  // --difficulties: only those, each drawn (40 draws from two: both appear).
  config.ood = false;
  config.n = 40;
  config.difficulties = {2, 4};
  std::map<int, int> seen;
  for (const data::Problem& p : eval_problems(config)) {
    CHECK((p.difficulty == 2 || p.difficulty == 4));
    CHECK(data::split_of(p) == data::Split::Test);
    seen[p.difficulty] += 1;
  }
  CHECK(seen.size() == 2);
}

TEST_CASE("aggregate: numbers from completions written by hand") {
  // Five add problems; what the greedy completion is, and how the m = 4
  // sampled completions score (c of 4 right):
  //   p0 d1: steps,   right;   c = 4
  //   p1 d1: verify,  right;   c = 1
  //   p2 d2: correct, right;   c = 0
  //   p3 d3: direct,  wrong;   c = 2
  //   p4 d4: no format (so direct), wrong, truncated; c = 0
  std::vector<ProblemCompletions> pcs(5);
  const int difficulty[5] = {1, 1, 2, 3, 4};
  for (int i = 0; i < 5; ++i) pcs[(size_t)i].problem = add_problem(difficulty[i], 100 + i);
  pcs[0].greedy = solution(pcs[0].problem, data::Style::Steps);
  pcs[1].greedy = solution(pcs[1].problem, data::Style::Verify);
  pcs[2].greedy = solution(pcs[2].problem, data::Style::Correct);
  pcs[3].greedy = wrong(pcs[3].problem);
  pcs[4].greedy = "<think>1+1=2 so the answer is " + pcs[4].problem.answer;
  const int lengths[5] = {40, 50, 60, 20, 30};
  const int correct[5] = {4, 1, 0, 2, 0};
  for (int i = 0; i < 5; ++i) {
    pcs[(size_t)i].greedy_tokens = lengths[i];
    pcs[(size_t)i].sampled = samples(pcs[(size_t)i].problem, 4, correct[i]);
  }
  pcs[4].greedy_truncated = true;

  EvalConfig config;
  config.task = data::TaskKind::Add;
  config.ks = {4, 1, 2, 2};  // unsorted, with a repeat
  config.keep_samples = 3;
  const EvalResult r = aggregate(config, pcs);

  CHECK(r.task == "add");
  CHECK(r.split == "test");
  CHECK(r.n == 5);
  CHECK(r.samples_per_problem == 4);
  CHECK(r.pass1_greedy == doctest::Approx(3.0 / 5));
  CHECK(r.format_rate == doctest::Approx(4.0 / 5));
  CHECK(r.mean_length == doctest::Approx(200.0 / 5));
  CHECK(r.truncated_share == doctest::Approx(1.0 / 5));
  CHECK(r.style_share[(int)data::Style::Direct] == doctest::Approx(2.0 / 5));
  CHECK(r.style_share[(int)data::Style::Steps] == doctest::Approx(1.0 / 5));
  CHECK(r.style_share[(int)data::Style::Verify] == doctest::Approx(1.0 / 5));
  CHECK(r.style_share[(int)data::Style::Correct] == doctest::Approx(1.0 / 5));
  CHECK(*r.accuracy_by_style[(int)data::Style::Direct] == 0.0);
  CHECK(*r.accuracy_by_style[(int)data::Style::Steps] == 1.0);
  CHECK(*r.accuracy_by_style[(int)data::Style::Verify] == 1.0);
  CHECK(*r.accuracy_by_style[(int)data::Style::Correct] == 1.0);
  CHECK(r.checks_per_completion == doctest::Approx(2.0 / 5));  // verify's check; correct's, which caught the slip
  CHECK(r.corrections_per_completion == doctest::Approx(1.0 / 5));
  // The trace checker over the greedy completions: only `correct` claims a
  // false thing (its slip, then caught); p4's "1+1=2" is a true claim.
  CHECK(r.trace.completions == 5);
  CHECK(r.trace.false_claims == 1);
  CHECK(r.trace.corrected_claims == 1);
  CHECK(r.trace.effective == 1);
  CHECK(r.trace.superficial == 0);
  CHECK(r.trace.false_yes == 0);
  CHECK(r.trace.with_conclusion == 3);
  CHECK(r.trace.faithful == 3);
  CHECK(r.trace.correct_with_correction == 1);
  CHECK(r.trace.correct_without_correction == 2);
  CHECK(r.trace.without_correction == 4);
  REQUIRE(r.trace_sampled.has_value());
  CHECK(r.trace_sampled->completions == 20);
  CHECK(r.samples[2].greedy_trace.effective_correction);
  REQUIRE(r.effective_example.has_value());  // the first greedy completion that caught its slip: p2's
  CHECK(r.effective_example->greedy == pcs[2].greedy);
  CHECK(r.effective_example->greedy_correct);
  REQUIRE(r.accuracy_by_difficulty.size() == 4);
  CHECK(*r.accuracy_by_difficulty.at(1) == 1.0);
  CHECK(*r.accuracy_by_difficulty.at(2) == 1.0);
  CHECK(*r.accuracy_by_difficulty.at(3) == 0.0);
  CHECK(*r.accuracy_by_difficulty.at(4) == 0.0);

  // Sampled: c/m = 1, 1/4, 0, 1/2, 0.
  REQUIRE(r.pass1_sampled.has_value());
  CHECK(*r.pass1_sampled == doctest::Approx(1.75 / 5));
  REQUIRE(r.pass_at_k.size() == 3);
  CHECK(r.pass_at_k.at(1) == doctest::Approx(1.75 / 5));
  // pass@2 = 1, 1/2, 0, 5/6, 0
  CHECK(r.pass_at_k.at(2) == doctest::Approx((1 + 0.5 + 5.0 / 6) / 5));
  CHECK(r.pass_at_k.at(4) == doctest::Approx(3.0 / 5));

  REQUIRE(r.samples.size() == 3);
  CHECK(r.samples[1].prompt == data::prompt_text(pcs[1].problem));
  CHECK(r.samples[1].greedy == pcs[1].greedy);
  CHECK(r.samples[1].greedy_correct);
  CHECK(r.samples[1].greedy_style == "verify");
  CHECK(*r.samples[1].sampled == pcs[1].sampled[0]);
  CHECK(*r.samples[1].sampled_correct);
  CHECK_FALSE(*r.samples[2].sampled_correct);

  SUBCASE("the JSON carries the notebooks' keys") {
    const nlohmann::json j = r.to_json();
    for (const char* key : {"task", "split", "n", "difficulties", "seed", "pass1_greedy", "pass1_sampled",
                            "samples_per_problem", "pass_at_k", "format_rate", "mean_length", "truncated_share",
                            "style_share", "accuracy_by_style", "checks_per_completion",
                            "corrections_per_completion", "accuracy_by_difficulty", "trace", "trace_sampled",
                            "seconds", "samples"})
      CHECK_MESSAGE(j.contains(key), key);
    // The trace object: the checker's keys, in reward/trace.h's order, and the count.
    for (const char* key : {"claims_per_completion", "false_claim_rate", "false_yes_share",
                            "effective_correction_share", "superficial_correction_share", "caught_rate",
                            "faithful_share", "accuracy_with_correction", "accuracy_without_correction",
                            "completions"})
      CHECK_MESSAGE(j["trace"].contains(key), key);
    CHECK(j["trace"]["effective_correction_share"].get<double>() == doctest::Approx(0.2));
    CHECK(j["trace"]["caught_rate"].get<double>() == doctest::Approx(1.0));
    CHECK(j["trace"]["accuracy_without_correction"].get<double>() == doctest::Approx(0.5));
    CHECK(j["trace"]["completions"] == 5);
    CHECK(j["samples"][2]["greedy_trace"]["corrections"][0]["effective"] == true);
    CHECK(j["split"] == "test");
    CHECK(j["difficulties"] == nlohmann::json({1, 2, 3, 4}));
    CHECK(j["pass_at_k"]["2"].get<double>() == doctest::Approx(r.pass_at_k.at(2)));
    CHECK(j["style_share"]["verify"].get<double>() == doctest::Approx(0.2));
    CHECK(j["accuracy_by_difficulty"]["3"].get<double>() == 0.0);
    CHECK(j["samples"][0]["greedy_style"] == "steps");
    CHECK(j["samples"][0]["sampled_correct"] == true);
    CHECK(r.table().find("pass@1 greedy") != std::string::npos);
  }

  SUBCASE("greedy-only: no sampled numbers, nulls in the JSON") {
    EvalConfig greedy = config;
    greedy.sampled = false;
    for (ProblemCompletions& pc : pcs) pc.sampled.clear();
    const EvalResult g = aggregate(greedy, pcs);
    CHECK(g.pass1_greedy == doctest::Approx(r.pass1_greedy));
    CHECK(g.samples_per_problem == 0);
    CHECK_FALSE(g.pass1_sampled.has_value());
    CHECK(g.pass_at_k.empty());
    const nlohmann::json j = g.to_json();
    CHECK(j["pass1_sampled"].is_null());
    CHECK(j["trace_sampled"].is_null());
    CHECK(j["pass_at_k"] == nlohmann::json::object());
    CHECK(j["samples"][0]["sampled"].is_null());
    CHECK(j["samples"][0]["sampled_correct"].is_null());
  }

  SUBCASE("a style no completion has is null") {
    std::vector<ProblemCompletions> two(pcs.begin(), pcs.begin() + 1);
    const EvalResult one = aggregate(config, two);
    CHECK_FALSE(one.accuracy_by_style[(int)data::Style::Verify].has_value());
    CHECK(one.to_json()["accuracy_by_style"]["verify"].is_null());
    CHECK(one.to_json()["accuracy_by_difficulty"]["2"].is_null());
  }

  SUBCASE("a wrong number of samples is an error") {
    pcs[3].sampled.pop_back();
    CHECK_THROWS_WITH(aggregate(config, pcs), doctest::Contains("problem 3"));
  }
}

TEST_CASE("evaluate: a tiny random GPT, deterministic and consistent") {
  const GPT model = tiny_model(1);
  EvalConfig config;
  config.task = data::TaskKind::Add;
  config.n = 6;
  config.ks = {1, 3};
  config.max_new_tokens = 12;
  config.batch_size = 4;  // more than one generate() call per phase
  config.keep_samples = 2;
  config.seed = 77;

  const EvalResult a = evaluate(model, config, false);
  const EvalResult b = evaluate(model, config, false);
  nlohmann::json ja = a.to_json(), jb = b.to_json();
  ja.erase("seconds");
  jb.erase("seconds");
  CHECK(ja == jb);

  CHECK(a.n == 6);
  CHECK(a.samples_per_problem == 3);
  CHECK(a.samples.size() == 2);
  double styles = 0;
  for (double s : a.style_share) styles += s;
  CHECK(styles == doctest::Approx(1.0));
  CHECK(a.mean_length > 0);
  CHECK(a.mean_length <= 12);
  CHECK(a.truncated_share >= 0);
  CHECK(a.truncated_share <= 1);
  REQUIRE(a.pass1_sampled.has_value());
  CHECK(a.pass_at_k.at(1) == doctest::Approx(*a.pass1_sampled));
  CHECK(a.pass_at_k.at(3) >= a.pass_at_k.at(1));
  REQUIRE(a.samples[0].sampled.has_value());
  CHECK(a.samples[0].prompt.rfind("<bos>what is ", 0) == 0);

  // Greedy-only mode runs the same greedy completions and no samples.
  EvalConfig fast = config;
  fast.ks = {1};
  const EvalResult f = evaluate(model, fast, false);
  CHECK(f.samples_per_problem == 0);
  CHECK_FALSE(f.pass1_sampled.has_value());
  CHECK(f.pass1_greedy == a.pass1_greedy);
  CHECK(f.mean_length == a.mean_length);
  CHECK(f.samples[1].greedy == a.samples[1].greedy);
  CHECK_FALSE(f.samples[1].sampled.has_value());

  // Another seed, other problems.
  EvalConfig other = config;
  other.seed = 78;
  CHECK(evaluate(model, other, false).samples[0].prompt != a.samples[0].prompt);
}

TEST_CASE("evaluate: bad configs and models are refused") {
  const GPT model = tiny_model(2);
  EvalConfig config;
  config.n = 2;
  config.max_new_tokens = 2;
  EvalConfig bad = config;
  bad.n = 0;
  CHECK_THROWS_WITH(evaluate(model, bad, false), doctest::Contains("n must be > 0"));
  bad = config;
  bad.ks = {1, 0};
  CHECK_THROWS_WITH(evaluate(model, bad, false), doctest::Contains("k >= 1"));
  bad = config;
  bad.batch_size = 0;
  CHECK_THROWS_WITH(evaluate(model, bad, false), doctest::Contains("batch_size"));
  bad = config;
  bad.difficulties = {5};  // the OOD difficulty is --split ood's, not a test-split difficulty
  CHECK_THROWS_WITH(evaluate(model, bad, false), doctest::Contains("difficulty 5 (--difficulties) is not one of"));
  bad.difficulties = {0};
  CHECK_THROWS_WITH(evaluate(model, bad, false), doctest::Contains("difficulty 0"));

  GPT other_vocab(GPTConfig{10, 64, 16, 1, 2}, Device::CPU);
  CHECK_THROWS_WITH(evaluate(other_vocab, config, false), doctest::Contains("vocab_size"));
}
