// The GPT (model/gpt.h), its cached inference path (model/inference.h) and
// generation (model/generate.h). The references here are independent of the
// code under test: log-softmax and argmax computed on the host from the
// training forward's logits, and the training forward itself for the cache.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "model/decoder.h"
#include "model/generate.h"
#include "model/gpt.h"
#include "model/inference.h"

using namespace aha;

namespace {

GPTConfig small_config() { return GPTConfig{11, 16, 16, 2, 2}; }

// A model whose logits are far from uniform: GPT-2's 0.02 makes every token
// nearly equally likely, which would make argmax and sampling tests weak.
GPT random_model(const GPTConfig& config, uint64_t seed, float std = 0.3f) {
  GPT model(config);
  Generator gen(seed);
  for (const NamedParam& p : model.named_params()) {
    Var v = p.var;
    v.value().copy_from(Tensor::randn(v.shape(), gen, Device::CPU, std));
  }
  return model;
}

Tensor tokens_tensor(const std::vector<std::vector<int>>& rows) {
  std::vector<float> ids;
  for (const auto& r : rows)
    for (int t : r) ids.push_back((float)t);
  return Tensor::from_vector(ids, Shape{(int64_t)rows.size(), (int64_t)rows[0].size()});
}

// The training forward's logits of one sequence: [T, V] as rows.
std::vector<std::vector<float>> forward_rows(const GPT& model, const std::vector<int>& seq) {
  NoGradGuard no_grad;
  Tensor logits = model.forward(tokens_tensor({seq}).to(model.device())).value();
  const int64_t V = logits.size(1);
  std::vector<float> flat = logits.to_vector();
  std::vector<std::vector<float>> rows;
  for (size_t t = 0; t < seq.size(); ++t) rows.emplace_back(flat.begin() + t * V, flat.begin() + (t + 1) * V);
  return rows;
}

double log_softmax_at(const std::vector<float>& z, int index) {
  double max = *std::max_element(z.begin(), z.end()), sum = 0.0;
  for (float v : z) sum += std::exp((double)v - max);
  return (double)z[(size_t)index] - max - std::log(sum);
}

int argmax(const std::vector<float>& z) { return (int)(std::max_element(z.begin(), z.end()) - z.begin()); }

float max_abs_diff(const float* a, const std::vector<float>& b) {
  float worst = 0.0f;
  for (size_t i = 0; i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

std::vector<int> random_sequence(Generator& gen, size_t length, int vocab) {
  std::vector<int> seq;
  for (size_t i = 0; i < length; ++i) seq.push_back((int)gen.below((uint64_t)vocab));
  return seq;
}

}  // namespace

TEST_CASE("GPT parameters: names, shapes, count and weight-decay flags") {
  GPTConfig c = small_config();
  GPT model(c);
  const int64_t C = c.d_model, V = c.vocab_size;
  const int64_t per_block = 4 * (C * C + C) + 2 * 2 * C + (C * 4 * C + 4 * C) + (4 * C * C + C);
  CHECK(model.num_params() == V * C + c.context * C + c.n_layers * per_block + 2 * C);
  std::set<std::string> names;
  for (const NamedParam& p : model.named_params()) names.insert(p.name);
  CHECK(names.size() == model.named_params().size());
  CHECK(names.count("h.1.attn.c_proj.weight") == 1);
  CHECK(model.named_params().front().name == "wte.weight");
  std::vector<bool> decay = model.decay_mask();
  for (size_t i = 0; i < decay.size(); ++i)
    CHECK(decay[i] == (model.named_params()[i].var.value().ndim() == 2));
  GPTConfig bad = c;
  bad.n_heads = 3;
  CHECK_THROWS_WITH_AS(GPT{bad}, doctest::Contains("not divisible"), std::runtime_error);
}

TEST_CASE("GPT init follows GPT-2: std 0.02, residual projections 0.02/sqrt(2L), biases 0, gains 1") {
  GPTConfig c{50, 32, 64, 2, 2};
  GPT model(c);
  Generator gen(7);
  model.init_weights(gen);
  auto stats = [](const Tensor& t) {
    std::vector<float> v = t.to_vector();
    double mean = 0, sq = 0;
    for (float x : v) mean += x;
    mean /= v.size();
    for (float x : v) sq += (x - mean) * (x - mean);
    return std::make_pair(mean, std::sqrt(sq / v.size()));
  };
  for (const NamedParam& p : model.named_params()) {
    CAPTURE(p.name);
    const Tensor& t = p.var.value();
    if (t.ndim() == 2) {
      double expected = p.name.find("c_proj.weight") != std::string::npos ? 0.02 / std::sqrt(4.0) : 0.02;
      auto [mean, std] = stats(t);
      CHECK(std::fabs(mean) < 0.1 * expected);
      CHECK(std == doctest::Approx(expected).epsilon(0.05));
    } else {
      bool gain = p.name.find("ln") != std::string::npos && p.name.find(".weight") != std::string::npos;
      std::vector<float> v = t.to_vector();
      for (float x : v) CHECK(x == (gain ? 1.0f : 0.0f));
    }
  }
}

TEST_CASE("GPT forward: shapes, causality, and the loss of a fresh model is about ln V") {
  GPTConfig c = small_config();
  GPT model = random_model(c, 1);
  Tensor tokens = tokens_tensor({{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}});
  NoGradGuard no_grad;
  Tensor logits = model.forward(tokens).value();
  CHECK(logits.shape() == Shape{10, c.vocab_size});

  SUBCASE("a later token never changes an earlier position's logits") {
    Tensor changed = tokens_tensor({{1, 2, 3, 0, 0}, {6, 7, 8, 1, 1}});
    Tensor other = model.forward(changed).value();
    for (int64_t row : {0, 1, 2, 5, 6, 7})
      for (int64_t v = 0; v < c.vocab_size; ++v) CHECK(other.at({row, v}) == logits.at({row, v}));
    CHECK(other.at({3, 0}) != logits.at({3, 0}));
  }
  SUBCASE("errors name the problem") {
    CHECK_THROWS_WITH_AS(model.forward(Tensor::zeros(Shape{1, c.context + 1})), doctest::Contains("context"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(model.forward(Tensor::zeros(Shape{4})), doctest::Contains("[B, T]"), std::runtime_error);
    CHECK_THROWS(model.forward(tokens_tensor({{1, 99}})));  // id outside the vocabulary
  }
  SUBCASE("GPT-2 initialisation starts near the uniform distribution") {
    GPT fresh(c);
    Generator gen(3);
    fresh.init_weights(gen);
    // Targets other than the inputs: LayerNorm scales a token's own tiny
    // embedding up, so a fresh model slightly favours repeating its input.
    Tensor targets = tokens_tensor({{2, 3, 4, 5, 6}, {7, 8, 9, 10, 0}});
    float loss = fresh.loss(tokens, targets, Tensor::ones(tokens.shape())).value().item();
    CHECK(loss == doctest::Approx(std::log((double)c.vocab_size)).epsilon(0.02));
  }
}

TEST_CASE("GPT loss: masked mean of -log softmax at the targets") {
  GPTConfig c = small_config();
  GPT model = random_model(c, 2);
  std::vector<int> seq = {3, 1, 4, 1, 5, 9, 2, 6};
  std::vector<int> targets = {1, 4, 1, 5, 9, 2, 6, 5};
  std::vector<float> mask = {0, 0, 1, 1, 0, 1, 1, 1};
  auto rows = forward_rows(model, seq);
  double expected = 0.0, count = 0.0;
  for (size_t t = 0; t < seq.size(); ++t) {
    expected += mask[t] * -log_softmax_at(rows[t], targets[t]);
    count += mask[t];
  }
  expected /= count;
  Var loss = model.loss(tokens_tensor({seq}), tokens_tensor({targets}), Tensor::from_vector(mask, Shape{1, 8}));
  CHECK(loss.value().item() == doctest::Approx(expected).epsilon(1e-5));
  // The masked positions' targets get no gradient signal: changing one leaves the loss as it was.
  std::vector<int> other_targets = targets;
  other_targets[0] = 7;
  Var same = model.loss(tokens_tensor({seq}), tokens_tensor({other_targets}), Tensor::from_vector(mask, Shape{1, 8}));
  CHECK(same.value().item() == loss.value().item());
}

TEST_CASE("GPT clone is deep; copy_params_from checks the config") {
  GPT a = random_model(small_config(), 4);
  GPT b = a.clone();
  Var first = b.named_params()[0].var;
  first.value().set({0, 0}, 123.0f);
  CHECK(a.wte.value().at({0, 0}) != 123.0f);
  GPT other(GPTConfig{11, 16, 32, 2, 2});
  CHECK_THROWS_WITH_AS(other.copy_params_from(a), doctest::Contains("config mismatch"), std::runtime_error);
}

namespace {

// The cache's equality test: prompts of different lengths prefilled as one
// left-padded batch, then decoded one token at a time with rows leaving the
// batch as their sequences end; every position's logits must equal the
// training forward's on that row's whole sequence.
struct CacheRow {
  std::vector<int> seq;
  size_t prompt;
};

void check_cache_equals_forward(const GPT& model, const std::vector<CacheRow>& rows, float tolerance) {
  const int64_t V = model.config().vocab_size;
  std::vector<std::vector<int>> prompts;
  for (const CacheRow& r : rows) prompts.emplace_back(r.seq.begin(), r.seq.begin() + (int64_t)r.prompt);
  std::vector<std::vector<std::vector<float>>> expected;
  for (const CacheRow& r : rows) expected.push_back(forward_rows(model, r.seq));

  PrefillResult start = prefill(model, prompts, /*all_positions=*/true);
  KVCache& cache = start.cache;
  const int64_t Tp = start.logits.size(1);
  std::vector<float> prefill_logits = start.logits.to_vector();
  for (size_t b = 0; b < rows.size(); ++b) {
    CHECK(cache.pad((int64_t)b) == Tp - (int64_t)rows[b].prompt);
    for (size_t t = 0; t < rows[b].prompt; ++t) {
      CAPTURE(b);
      CAPTURE(t);
      const float* got = prefill_logits.data() + ((int64_t)b * Tp + cache.pad((int64_t)b) + (int64_t)t) * V;
      CHECK(max_abs_diff(got, expected[b][t]) < tolerance);
    }
  }
  // Decode: feed each row's next token; a row leaves when its sequence is done.
  std::vector<size_t> live(rows.size()), fed(rows.size());
  for (size_t b = 0; b < rows.size(); ++b) {
    live[b] = b;
    fed[b] = rows[b].prompt;
  }
  int steps = 0;
  while (true) {
    std::vector<int64_t> keep;
    for (size_t i = 0; i < live.size(); ++i)
      if (fed[live[i]] < rows[live[i]].seq.size()) keep.push_back((int64_t)i);
    if (keep.empty()) break;
    if (keep.size() < live.size()) {
      cache.keep_rows(keep);
      std::vector<size_t> still;
      for (int64_t i : keep) still.push_back(live[(size_t)i]);
      live = still;
    }
    std::vector<int> next;
    for (size_t b : live) next.push_back(rows[b].seq[fed[b]]);
    Tensor logits = decode_step(model, cache, next);
    REQUIRE(logits.shape() == Shape{(int64_t)live.size(), V});
    std::vector<float> flat = logits.to_vector();
    for (size_t i = 0; i < live.size(); ++i) {
      const size_t b = live[i], t = fed[b];
      CAPTURE(b);
      CAPTURE(t);
      CHECK(max_abs_diff(flat.data() + i * V, expected[b][t]) < tolerance);
      ++fed[b];
    }
    ++steps;
  }
  CHECK(steps > 0);
}

std::vector<CacheRow> ragged_rows(int vocab) {
  Generator gen(11);
  return {{random_sequence(gen, 12, vocab), 3},
          {random_sequence(gen, 9, vocab), 7},
          {random_sequence(gen, 16, vocab), 1},
          {random_sequence(gen, 10, vocab), 10}};
}

}  // namespace

TEST_CASE("cached inference equals the training forward at every position (CPU, within 1e-5)") {
  GPTConfig c = small_config();
  GPT model = random_model(c, 5);
  SUBCASE("prompts of different lengths (left padding), rows finishing at different steps") {
    check_cache_equals_forward(model, ragged_rows(c.vocab_size), 1e-5f);
  }
  SUBCASE("equal prompt lengths (no padding: the causal-mask path)") {
    Generator gen(12);
    check_cache_equals_forward(
        model, {{random_sequence(gen, 11, c.vocab_size), 4}, {random_sequence(gen, 11, c.vocab_size), 4}}, 1e-5f);
  }
}

TEST_CASE("cached inference equals the training forward on CUDA (when a GPU answers)") {
  if (!cuda_available()) {
    MESSAGE("no CUDA GPU here: skipped");
    return;
  }
  const bool tf32 = tf32_enabled();
  set_tf32(false);  // exact float32 products; different kernels still sum in other orders
  GPTConfig c = small_config();
  GPT cpu_model = random_model(c, 5);
  GPT model(c, Device::CUDA);
  model.copy_params_from(cpu_model);
  check_cache_equals_forward(model, ragged_rows(c.vocab_size), 1e-4f);
  set_tf32(tf32);
}

TEST_CASE("KVCache keeps rows in order and drops positions that are padding in every kept row") {
  GPTConfig c = small_config();
  GPT model = random_model(c, 6);
  PrefillResult start = prefill(model, {{1, 2, 3, 4, 5}, {6}, {7, 8}});
  KVCache& cache = start.cache;
  CHECK(cache.length() == 5);
  CHECK(cache.pads() == std::vector<int64_t>{0, 4, 3});
  cache.keep_rows({1, 2});
  CHECK(cache.batch() == 2);
  CHECK(cache.length() == 2);  // the 3 positions that were padding in both rows are gone
  CHECK(cache.pads() == std::vector<int64_t>{1, 0});
  CHECK_THROWS_WITH_AS(cache.keep_rows({1, 0}), doctest::Contains("increasing"), std::runtime_error);
  CHECK_THROWS_WITH_AS(cache.keep_rows({}), doctest::Contains("no rows"), std::runtime_error);
  CHECK_THROWS_WITH_AS(decode_step(model, cache, {1}), doctest::Contains("1 tokens for a batch of 2"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(prefill(model, {{1}, {}}), doctest::Contains("prompt 1 is empty"), std::runtime_error);
  CHECK_THROWS_WITH_AS(prefill(model, {std::vector<int>((size_t)c.context + 1, 1)}),
                       doctest::Contains("more than the context"), std::runtime_error);
  CHECK_THROWS_WITH_AS(prefill(model, {{1, 11}}), doctest::Contains("outside the vocabulary"), std::runtime_error);
}

TEST_CASE("generate, greedy: each token is the argmax of the training forward on the sequence so far") {
  GPTConfig c = small_config();
  GPT model = random_model(c, 8);
  std::vector<std::vector<int>> prompts = {{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10}};
  GenerateConfig config;
  config.max_new_tokens = 6;
  config.sampling.greedy = true;
  Generator gen(0);
  std::vector<Completion> out = generate(model, prompts, config, gen);
  REQUIRE(out.size() == prompts.size());
  CHECK(gen.offset() == 0);  // greedy draws no random numbers
  for (size_t b = 0; b < prompts.size(); ++b) {
    CAPTURE(b);
    const Completion& comp = out[b];
    CHECK(comp.stop == StopReason::MaxTokens);
    REQUIRE(comp.tokens.size() == 6);
    std::vector<int> seq = prompts[b];
    for (size_t i = 0; i < comp.tokens.size(); ++i) {
      std::vector<float> last = forward_rows(model, seq).back();
      CHECK(comp.tokens[i] == argmax(last));
      CHECK(comp.logprobs[i] == 0.0f);
      CHECK(comp.policy_logprobs[i] == doctest::Approx(log_softmax_at(last, comp.tokens[i])).epsilon(1e-4));
      seq.push_back(comp.tokens[i]);
    }
  }
  // The same prompt alone gives the same greedy completion as inside the batch.
  std::vector<Completion> alone = generate(model, {prompts[1]}, config, gen);
  CHECK(alone[0].tokens == out[1].tokens);
}

TEST_CASE("generate, sampled: seeded, with policy log-probs of the sampled tokens, and stopping rules") {
  GPTConfig c = small_config();
  GPT model = random_model(c, 9, 0.15f);  // flatter: samples differ between seeds
  std::vector<std::vector<int>> prompts = {{1, 2}, {3, 4, 5}, {6}};
  GenerateConfig config;
  config.max_new_tokens = 8;
  config.sampling.temperature = 0.8f;

  SUBCASE("the same seed gives the same completions; another seed other ones") {
    Generator g1(42), g2(42), g3(43);
    auto a = generate(model, prompts, config, g1);
    auto b = generate(model, prompts, config, g2);
    auto d = generate(model, prompts, config, g3);
    bool any_different = false;
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].tokens == b[i].tokens);
      CHECK(a[i].logprobs == b[i].logprobs);
      any_different = any_different || a[i].tokens != d[i].tokens;
    }
    CHECK(any_different);
  }
  SUBCASE("policy_logprobs are log softmax(logits / T) of the training forward; logprobs equal them without cuts") {
    Generator gen(5);
    auto out = generate(model, prompts, config, gen);
    for (size_t b = 0; b < prompts.size(); ++b) {
      std::vector<int> seq = prompts[b];
      for (size_t i = 0; i < out[b].tokens.size(); ++i) {
        std::vector<float> scaled = forward_rows(model, seq).back();
        for (float& z : scaled) z /= config.sampling.temperature;
        CHECK(out[b].policy_logprobs[i] == doctest::Approx(log_softmax_at(scaled, out[b].tokens[i])).epsilon(1e-4));
        CHECK(out[b].logprobs[i] == doctest::Approx(out[b].policy_logprobs[i]).epsilon(1e-5));
        seq.push_back(out[b].tokens[i]);
      }
    }
  }
  SUBCASE("a stop token or eos ends a row, and is kept as its last token") {
    Generator gen(7);
    auto free_run = generate(model, prompts, config, gen);
    const int stop = free_run[0].tokens[2];  // a token row 0 draws at its third step
    GenerateConfig stopping = config;
    stopping.stop_tokens = {stop};
    Generator again(7);
    auto out = generate(model, prompts, stopping, again);
    REQUIRE(out[0].tokens.size() <= 3);
    CHECK(out[0].tokens.back() == stop);
    CHECK(out[0].stop == StopReason::StopToken);
    for (const Completion& comp : out) {
      auto first_stop = std::find(comp.tokens.begin(), comp.tokens.end(), stop);
      if (first_stop != comp.tokens.end()) CHECK(first_stop + 1 == comp.tokens.end());
      else CHECK(comp.tokens.size() == 8);
    }
    GenerateConfig eos = config;
    eos.eos_token = stop;
    Generator third(7);
    auto with_eos = generate(model, prompts, eos, third);
    CHECK(with_eos[0].stop == StopReason::Eos);
    CHECK(with_eos[0].tokens == out[0].tokens);
  }
  SUBCASE("a row stops when its sequence fills the context") {
    GenerateConfig long_run = config;
    long_run.max_new_tokens = 100;
    Generator gen(1);
    auto out = generate(model, {{1, 2, 3}, std::vector<int>(14, 4)}, long_run, gen);
    CHECK(out[0].stop == StopReason::Context);
    CHECK(out[0].tokens.size() == (size_t)c.context - 3 + 1);  // the last one needs no position
    CHECK(out[1].tokens.size() == 3);
  }
  CHECK_THROWS_WITH_AS(
      [&] {
        GenerateConfig bad = config;
        bad.max_new_tokens = 0;
        Generator gen(0);
        generate(model, prompts, bad, gen);
      }(),
      doctest::Contains("max_new_tokens"), std::runtime_error);
}

namespace {

// generate_batched against generate_stepwise, greedy (no random draws, so the
// two must pick the same tokens): prompts of different lengths, rows stopping
// at different steps so the batch shrinks at several stop checks.
void check_batched_equals_stepwise(const GPT& model, float tolerance) {
  Generator prompts_gen(21);
  const int V = model.config().vocab_size;
  std::vector<std::vector<int>> prompts;
  for (int length : {1, 5, 2, 9, 3, 3, 7})
    prompts.push_back(random_sequence(prompts_gen, (size_t)length, V));
  GenerateConfig config;
  config.max_new_tokens = 30;
  config.sampling.greedy = true;
  Generator unused(0);
  const std::vector<Completion> free_run = generate_stepwise(model, prompts, config, unused);
  config.stop_tokens = {free_run[1].tokens[2], free_run[4].tokens[10]};  // rows end at various steps
  config.eos_token = free_run[6].tokens[17];
  const std::vector<Completion> want = generate_stepwise(model, prompts, config, unused);
  const std::vector<Completion> got = generate_batched(model, prompts, config, unused);
  REQUIRE(got.size() == want.size());
  std::set<size_t> lengths;
  for (size_t b = 0; b < want.size(); ++b) {
    CAPTURE(b);
    CHECK(got[b].tokens == want[b].tokens);
    CHECK(got[b].stop == want[b].stop);
    REQUIRE(got[b].policy_logprobs.size() == want[b].policy_logprobs.size());
    for (size_t i = 0; i < want[b].policy_logprobs.size(); ++i)
      CHECK(std::fabs(got[b].policy_logprobs[i] - want[b].policy_logprobs[i]) < tolerance);
    lengths.insert(want[b].tokens.size());
  }
  CHECK(lengths.size() >= 3);  // the rows did stop at different steps
}

}  // namespace

TEST_CASE("generate_batched equals generate_stepwise, greedy, as rows stop and leave the batch (CPU)") {
  GPTConfig c{11, 40, 16, 2, 2};
  check_batched_equals_stepwise(random_model(c, 31), 1e-4f);
}

TEST_CASE("generate_batched on CUDA equals generate_stepwise on the CPU, greedy (when a GPU answers)") {
  if (!cuda_available()) {
    MESSAGE("no CUDA GPU here: skipped");
    return;
  }
  const bool tf32 = tf32_enabled();
  set_tf32(false);
  GPTConfig c{11, 40, 16, 2, 2};
  GPT cpu_model = random_model(c, 31);
  GPT model(c, Device::CUDA);
  model.copy_params_from(cpu_model);
  // The CPU result is the reference: the CUDA model runs batched, then stepwise for the check's `want`.
  check_batched_equals_stepwise(model, 1e-4f);
  GenerateConfig config;
  config.max_new_tokens = 12;
  config.sampling.greedy = true;
  Generator unused(0);
  const std::vector<std::vector<int>> prompts = {{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10}};
  const std::vector<Completion> on_cpu = generate_stepwise(cpu_model, prompts, config, unused);
  const std::vector<Completion> on_gpu = generate_batched(model, prompts, config, unused);
  for (size_t b = 0; b < prompts.size(); ++b) CHECK(on_gpu[b].tokens == on_cpu[b].tokens);
  set_tf32(tf32);
}

TEST_CASE("generate_batched: plain sampling only, and clear errors") {
  GPTConfig c = small_config();
  GPT model = random_model(c, 8);
  GenerateConfig config;
  Generator gen(1);
  config.sampling.top_k = 3;
  CHECK_THROWS_WITH_AS(generate_batched(model, {{1, 2}}, config, gen), doctest::Contains("top-k / top-p"),
                       std::runtime_error);
  config.sampling.top_k = 0;
  CHECK_THROWS_WITH_AS(generate_batched(model, {{1, 2}, {}}, config, gen), doctest::Contains("prompt 1 is empty"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(generate_batched(model, {{1, 11}}, config, gen), doctest::Contains("outside the vocabulary"),
                       std::runtime_error);
  config.stop_tokens = std::vector<int>(9, 1);
  CHECK_THROWS_WITH_AS(generate_batched(model, {{1}}, config, gen), doctest::Contains("at most 8 stop tokens"),
                       std::runtime_error);
}

namespace {

// Greedy generation with the bf16 KV cache against the fp32 one, the same
// model and prompts. A row follows the fp32 tokens until rounding flips an
// argmax between two close logits, then goes its own way: log-probs compare
// up to that point, tokens position by position over all rows.
struct CacheAgreement {
  double tokens_equal = 0;     // share of the reference's tokens the other run has at the same place
  double rows_equal = 0;       // share of rows with identical completions
  double max_logprob_gap = 0;  // largest |policy log-prob difference| before a row diverges
};

CacheAgreement agreement(const std::vector<Completion>& want, const std::vector<Completion>& got) {
  REQUIRE(got.size() == want.size());
  CacheAgreement a;
  int64_t equal = 0, total = 0, same_rows = 0;
  for (size_t b = 0; b < want.size(); ++b) {
    REQUIRE(got[b].tokens.size() == want[b].tokens.size());  // no eos: every row runs to max_new_tokens
    bool diverged = false;
    for (size_t i = 0; i < want[b].tokens.size(); ++i) {
      total += 1;
      equal += got[b].tokens[i] == want[b].tokens[i];
      if (!diverged)
        a.max_logprob_gap = std::max(
            a.max_logprob_gap, (double)std::fabs(got[b].policy_logprobs[i] - want[b].policy_logprobs[i]));
      diverged = diverged || got[b].tokens[i] != want[b].tokens[i];
    }
    same_rows += !diverged;
  }
  a.tokens_equal = (double)equal / (double)total;
  a.rows_equal = (double)same_rows / (double)want.size();
  return a;
}

// 24 prompts of 1..12 tokens, 40 greedy tokens each, with the given cache.
std::vector<Completion> greedy_with_cache(const GPT& model, KvCache kv_cache) {
  Generator prompts_gen(41);
  std::vector<std::vector<int>> prompts;
  for (int r = 0; r < 24; ++r)
    prompts.push_back(random_sequence(prompts_gen, (size_t)(1 + r % 12), model.config().vocab_size));
  GenerateConfig config;
  config.max_new_tokens = 40;
  config.sampling.greedy = true;
  config.kv_cache = kv_cache;
  Generator unused(0);
  return generate_batched(model, prompts, config, unused);
}

GPTConfig bf16_test_config() { return GPTConfig{50, 64, 64, 2, 4}; }  // head size 16

// Measured on the CPU: 99.3% of the tokens and 21 of 24 rows equal, the
// largest log-prob gap before a row diverges 1.1e-3 (rounding a key or value
// to bf16 moves it by up to 2^-8 of itself). The bounds leave some room.
void check_bf16_follows_fp32(const CacheAgreement& a) {
  MESSAGE("bf16 vs fp32 KV cache: tokens equal " << a.tokens_equal << ", rows equal " << a.rows_equal
                                                 << ", largest log-prob gap before divergence " << a.max_logprob_gap);
  CHECK(a.tokens_equal >= 0.95);
  CHECK(a.rows_equal >= 0.75);
  CHECK(a.max_logprob_gap < 1e-2);
  CHECK(a.max_logprob_gap > 0);  // the bf16 cache was used: its rounding shows
}

}  // namespace

TEST_CASE("generate_batched with a bf16 KV cache follows the fp32 cache, greedy (CPU)") {
  const GPT model = random_model(bf16_test_config(), 43);
  check_bf16_follows_fp32(agreement(greedy_with_cache(model, KvCache::Fp32), greedy_with_cache(model, KvCache::Bf16)));
}

TEST_CASE("generate_batched, bf16 KV cache on CUDA (graph replays): follows fp32 and the CPU (when a GPU answers)") {
  if (!cuda_available()) {
    MESSAGE("no CUDA GPU here: skipped");
    return;
  }
  const bool tf32 = tf32_enabled();
  set_tf32(false);
  const GPT cpu_model = random_model(bf16_test_config(), 43);
  GPT model(bf16_test_config(), Device::CUDA);
  model.copy_params_from(cpu_model);
  const std::vector<Completion> bf16 = greedy_with_cache(model, KvCache::Bf16);
  check_bf16_follows_fp32(agreement(greedy_with_cache(model, KvCache::Fp32), bf16));
  // bf16 on CUDA against bf16 on the CPU: a key one fp32 ulp apart can round
  // to the neighbouring bf16, so nearly, not exactly, the same.
  const CacheAgreement devices = agreement(greedy_with_cache(cpu_model, KvCache::Bf16), bf16);
  MESSAGE("bf16 KV cache, CUDA vs CPU: tokens equal " << devices.tokens_equal << ", largest log-prob gap "
                                                      << devices.max_logprob_gap);
  CHECK(devices.tokens_equal >= 0.95);
  CHECK(devices.max_logprob_gap < 1e-2);
  set_tf32(tf32);
}

TEST_CASE("the KV cache switch: names, validation, and no silent fallback to fp32") {
  CHECK(parse_kv_cache("fp32") == KvCache::Fp32);
  CHECK(parse_kv_cache("bf16") == KvCache::Bf16);
  CHECK(std::string(kv_cache_name(KvCache::Bf16)) == "bf16");
  CHECK_THROWS_WITH_AS(parse_kv_cache("fp16"), doctest::Contains("'fp16' (choices: fp32, bf16)"), std::runtime_error);
  GenerateConfig config;
  config.kv_cache = (KvCache)7;
  CHECK_THROWS_WITH_AS(config.validate(), doctest::Contains("kv_cache must be fp32 or bf16"), std::runtime_error);
  // top-k / top-p run the stepwise decoder, whose cache is fp32: bf16 there is refused, not ignored.
  const GPT model = random_model(small_config(), 8);
  config.kv_cache = KvCache::Bf16;
  config.sampling.top_k = 3;
  Generator gen(1);
  CHECK_THROWS_WITH_AS(generate(model, {{1, 2}}, config, gen),
                       doctest::Contains("keeps an fp32 KV cache only; the bf16 cache"), std::runtime_error);
  config.sampling.top_k = 0;
  CHECK(generate(model, {{1, 2}}, config, gen).size() == 1);
  // Two bf16 values a word: an odd head size cannot be packed.
  const GPT odd = random_model(GPTConfig{11, 16, 15, 1, 5}, 9);  // head size 3
  CHECK_THROWS_WITH_AS(generate(odd, {{1, 2}}, config, gen), doctest::Contains("even head size, got 3"),
                       std::runtime_error);
}
