// DAPO's dynamic sampling (grpo/dynamic_sampling.h): which groups count as
// uniform, how a batch is refilled and what is counted, by hand. (The
// trainer's per-step keys on a real run: tests/test_grpo_trainer.cpp.)
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "grpo/dynamic_sampling.h"

using namespace aha;

namespace {

// A rollout of groups of G completions with these rewards (one vector per
// group); problem g's target is `tag * 100 + g` so a test can tell groups
// apart, and completion i of a group is i + 1 tokens long.
Rollout fake_rollout(const std::vector<std::vector<float>>& groups, int tag, double seconds) {
  Rollout r;
  r.seconds = seconds;
  for (size_t g = 0; g < groups.size(); ++g) {
    data::Problem p;
    p.target = tag * 100 + (int64_t)g;
    r.problems.push_back(p);
    for (size_t i = 0; i < groups[g].size(); ++i) {
      r.prompts.push_back({1, 2});
      Completion c;
      c.tokens.assign(i + 1, 7);
      r.generated_tokens += (int64_t)c.tokens.size();
      r.completions.push_back(c);
      r.texts.push_back("t");
      reward::Reward w;
      w.total = w.accuracy = groups[g][i];
      r.rewards.push_back(w);
      r.styles.emplace_back();
      r.traces.emplace_back();
    }
  }
  return r;
}

std::vector<float> totals(const Rollout& r) {
  std::vector<float> out;
  for (const reward::Reward& w : r.rewards) out.push_back(w.total);
  return out;
}

}  // namespace

TEST_CASE("frac_reward_zero_std: the share of groups whose rewards are all equal") {
  // groups of 3: {1,1,1} uniform, {0,1,0} not, {0,0,0} uniform, {1,0,0} not
  CHECK(frac_reward_zero_std({1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0}, 3) == doctest::Approx(0.5));
  CHECK(frac_reward_zero_std({0.5f, 0.5f, 1.5f, 1.5f}, 2) == doctest::Approx(1.0));
  CHECK(frac_reward_zero_std({0, 1, 1, 1}, 2) == doctest::Approx(0.5));
  CHECK_THROWS_WITH(frac_reward_zero_std({1, 1, 1}, 2), doctest::Contains("whole groups"));
}

TEST_CASE("refill_batch keeps differing groups and draws again until the batch is full") {
  // B = 3 groups of G = 2. Draw 1: {1,1} {0,1} {0,0} -> keeps its group 1.
  // Draw 2: {1,0} {1,1} {0,1} -> keeps its groups 0 and 2: the batch is full.
  std::vector<Rollout> draws = {fake_rollout({{1, 1}, {0, 1}, {0, 0}}, 1, 0.5),
                                fake_rollout({{1, 0}, {1, 1}, {0, 1}}, 2, 0.25),
                                fake_rollout({{0, 1}, {0, 1}, {0, 1}}, 3, 1.0)};
  size_t next = 0;
  auto draw = [&]() { return draws.at(next++); };
  RefillStats stats;
  const Rollout batch = refill_batch(draw, totals, 3, 2, 4, &stats);
  CHECK(next == 2);  // the third rollout was never needed
  CHECK(stats.rounds == 1);
  CHECK(stats.sampled_groups == 6);
  CHECK(stats.kept_groups == 3);
  CHECK(stats.generated_tokens == 6 * 3);  // each group's completions are 1 + 2 tokens
  CHECK(stats.seconds == doctest::Approx(0.75));
  REQUIRE(batch.problems.size() == 3);
  CHECK(batch.problems[0].target == 101);
  CHECK(batch.problems[1].target == 200);
  CHECK(batch.problems[2].target == 202);
  CHECK(totals(batch) == std::vector<float>{0, 1, 1, 0, 0, 1});
  CHECK(batch.completions.size() == 6);
  CHECK(batch.prompts.size() == 6);
  CHECK(batch.traces.size() == 6);
  CHECK(batch.generated_tokens == 9);  // only the kept groups' tokens
  CHECK(frac_reward_zero_std(totals(batch), 2) == 0.0);
}

TEST_CASE("refill_batch: the rounds run out, or no group differs at all") {
  SUBCASE("max_rounds 0: the first rollout's differing groups only (DAPO's drop, a smaller batch)") {
    auto draw = [] { return fake_rollout({{1, 1}, {0, 1}, {0, 0}}, 1, 0.5); };
    RefillStats stats;
    const Rollout batch = refill_batch(draw, totals, 3, 2, 0, &stats);
    CHECK(stats.rounds == 0);
    CHECK(stats.sampled_groups == 3);
    CHECK(stats.kept_groups == 1);
    REQUIRE(batch.problems.size() == 1);
    CHECK(batch.problems[0].target == 101);
  }
  SUBCASE("every group uniform in every round: the first rollout comes back whole, kept 0") {
    int calls = 0;
    auto draw = [&] { return fake_rollout({{1, 1}, {0, 0}}, ++calls, 0.5); };
    RefillStats stats;
    const Rollout batch = refill_batch(draw, totals, 2, 2, 2, &stats);
    CHECK(calls == 3);
    CHECK(stats.rounds == 2);
    CHECK(stats.sampled_groups == 6);
    CHECK(stats.kept_groups == 0);
    REQUIRE(batch.problems.size() == 2);
    CHECK(batch.problems[0].target == 100);  // the first draw's
    CHECK(batch.seconds == doctest::Approx(1.5));
  }
  CHECK_THROWS(refill_batch([] { return Rollout(); }, totals, 0, 2, 1, nullptr));
}
