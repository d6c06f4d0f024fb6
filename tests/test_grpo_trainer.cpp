// The GRPO loop end to end on CPU: it learns, it resumes exactly, it stops on NaN.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "grpo/corpus_source.h"
#include "grpo/trainer.h"
#include "model/checkpoint.h"
#include "model/pretrain.h"

using namespace aha;
namespace fs = std::filesystem;

namespace {

fs::path scratch_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("aha_test_grpo_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A tiny base model, briefly pretrained on 2-digit additions (difficulty 1),
// direct and worked solutions: it writes the think/answer format about half
// of the time and cannot add yet.
const std::string& tiny_base() {
  static const std::string path = [] {
    const fs::path dir = scratch_dir("base");
    data::CorpusConfig corpus = corpus_for_task("add", "direct=0.6,steps=0.4,verify=0,correct=0,noise=0");
    corpus.difficulties[(int)data::TaskKind::Add] = {1};
    GPTConfig model{0, 96, 48, 2, 2};
    CorpusSource source(corpus, 11, model.context + 1);
    model.vocab_size = source.vocab_size();
    TrainConfig train;
    train.batch_size = 16;
    train.steps = 100;  // enough to write the format about half the time, not to add
    train.lr = 3e-3f;
    train.min_lr = 3e-4f;
    train.warmup_steps = 20;
    train.eval_every = 1000;
    train.ckpt_every = 1000;
    train.seed = 5;
    PretrainOptions options;
    options.out_path = (dir / "base.safetensors").string();
    options.progress = false;
    pretrain(model, train, source, nullptr, Device::CPU, options);
    return options.out_path;
  }();
  return path;
}

GrpoConfig tiny_grpo(uint64_t seed) {
  GrpoConfig c;
  c.rollout.task = data::TaskKind::Add;
  c.rollout.difficulties = {1};
  c.rollout.prompts = 8;
  c.rollout.group_size = 8;
  c.rollout.max_new_tokens = 40;
  c.lr = 2e-3f;
  c.objective.beta = 0.0f;
  // The easy task: the outcome reward pays for a well-formed completion as
  // much as for a right sum, which a 100-step base model almost never gets.
  c.rollout.reward.format_bonus = 1.0f;
  c.eval_every = 0;
  c.ckpt_every = 1000;
  c.seed = seed;
  return c;
}

std::vector<double> read_log_column(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::vector<double> values;
  std::string line;
  while (std::getline(in, line)) values.push_back(nlohmann::json::parse(line).at(key).get<double>());
  return values;
}

double mean(const std::vector<double>& v, size_t first, size_t last) {
  double s = 0;
  for (size_t i = first; i < last; ++i) s += v[i];
  return s / (double)(last - first);
}

// 30 steps of `config` from `base` into dir/rl.safetensors and dir/grpo.jsonl:
// the mean reward of steps 26-30 beats that of steps 1-5 by more than 0.15.
void check_reward_rises(GrpoConfig config, const std::string& base, const fs::path& dir, const std::string& label) {
  config.steps = 30;
  GrpoOptions options;
  options.init_path = base;
  options.out_path = (dir / "rl.safetensors").string();
  options.log_path = (dir / "grpo.jsonl").string();
  options.progress = false;
  train_grpo(config, Device::CPU, options);
  const std::vector<double> reward = read_log_column(options.log_path, "reward_mean");
  REQUIRE(reward.size() == 30);
  const double first = mean(reward, 0, 5), last = mean(reward, 25, 30);
  MESSAGE(label << ": mean reward of steps 1-5 " << first << ", of steps 26-30 " << last);
  CHECK(last > first + 0.15);
}

}  // namespace

TEST_CASE("GRPO raises the mean reward of a tiny model on an easy task (the format), over three seeds") {
  const std::string base = tiny_base();
  for (uint64_t seed : {1, 2, 3}) {
    CAPTURE(seed);
    const fs::path dir = scratch_dir("learn" + std::to_string(seed));
    check_reward_rises(tiny_grpo(seed), base, dir, "seed " + std::to_string(seed));
    fs::remove_all(dir);
  }
}

TEST_CASE("GRPO with the bf16 mixed-precision update (--dtype bf16) raises the mean reward too") {
  const fs::path dir = scratch_dir("bf16");
  GrpoConfig config = tiny_grpo(1);
  config.dtype = DType::BF16;
  check_reward_rises(config, tiny_base(), dir, "bf16");
  // The run records its dtype, so a resume continues in bf16.
  const GrpoConfig saved = grpo_config_from_json(
      Checkpoint::read((dir / "rl.safetensors").string()).metadata_value("grpo.config"));
  CHECK(saved.dtype == DType::BF16);
  // A config written before the switch existed reads as fp32.
  nlohmann::json old = nlohmann::json::parse(to_json(tiny_grpo(1)));
  old.erase("dtype");
  CHECK(grpo_config_from_json(old.dump()).dtype == DType::F32);
  fs::remove_all(dir);
}

TEST_CASE("a resumed GRPO run continues exactly: 2K steps == K, resume, K (CPU)") {
  const std::string base = tiny_base();
  const fs::path dir = scratch_dir("resume");
  GrpoConfig config = tiny_grpo(7);
  config.steps = 4;
  config.ckpt_every = 2;
  config.objective.beta = 0.05f;  // the reference model too
  config.minibatches = 2;

  GrpoOptions whole;
  whole.init_path = base;
  whole.out_path = (dir / "whole.safetensors").string();
  whole.progress = false;
  train_grpo(config, Device::CPU, whole);

  GrpoOptions first_half = whole;
  first_half.out_path = (dir / "split.safetensors").string();
  first_half.log_path = (dir / "split.jsonl").string();
  first_half.stop_at = 2;
  train_grpo(config, Device::CPU, first_half);
  GrpoOptions second_half = first_half;
  second_half.stop_at = 0;
  second_half.init_path = "";
  second_half.resume_path = first_half.out_path;
  // As if killed after logging step 3, halfway through logging step 4, with
  // its last checkpoint at step 2: the resume cuts the log back to step 2.
  std::ofstream(first_half.log_path, std::ios::app) << "{\"step\": 3, \"stale\": true}\n{\"step\": 4, \"rew";
  train_grpo(config, Device::CPU, second_half);

  const GPT a = Checkpoint::read(whole.out_path).load_model(Device::CPU);
  const GPT b = Checkpoint::read(second_half.out_path).load_model(Device::CPU);
  size_t differing = 0;
  for (size_t p = 0; p < a.named_params().size(); ++p)
    if (a.named_params()[p].var.value().to_vector() != b.named_params()[p].var.value().to_vector()) ++differing;
  CHECK(differing == 0);
  CHECK(read_log_column(first_half.log_path, "step") == std::vector<double>{1, 2, 3, 4});  // every line parses
  CHECK(read_log_column(first_half.log_path, "reward_mean").size() == 4);  // the stale step 3 is gone

  SUBCASE("a resume with other settings is refused, naming them") {
    GrpoConfig other = config;
    other.lr *= 2;
    CHECK_THROWS_WITH(train_grpo(other, Device::CPU, second_half), doctest::Contains("settings differ"));
  }
  fs::remove_all(dir);
}

TEST_CASE("a NaN stops the run with a message naming the step, and writes no checkpoint") {
  const std::string base = tiny_base();
  const fs::path dir = scratch_dir("nan");
  // A base model with one poisoned weight: the policy's log-probs become NaN.
  GPT model = Checkpoint::read(base).load_model(Device::CPU);
  Tensor& bias = model.blocks[0].b_fc.value();
  std::vector<float> values = bias.to_vector();
  values[0] = NAN;
  bias = Tensor::from_vector(values, bias.shape());
  const std::string poisoned = (dir / "poisoned.safetensors").string();
  save_checkpoint(poisoned, model, Checkpoint::read(base).tokenizer());

  GrpoConfig config = tiny_grpo(1);
  config.steps = 3;
  GrpoOptions options;
  options.init_path = poisoned;
  options.out_path = (dir / "rl.safetensors").string();
  options.progress = false;
  CHECK_THROWS_WITH(train_grpo(config, Device::CPU, options), doctest::Contains("step 1"));
  CHECK_FALSE(fs::exists(options.out_path));
  fs::remove_all(dir);
}

TEST_CASE("every log line carries the trace checker's metrics; eval steps the fixed held-out completions") {
  const std::string base = tiny_base();
  const fs::path dir = scratch_dir("trace");
  GrpoConfig config = tiny_grpo(3);
  config.steps = 2;
  config.eval_every = 2;
  config.eval_problems = 6;
  GrpoOptions options;
  options.init_path = base;
  options.out_path = (dir / "rl.safetensors").string();
  options.log_path = (dir / "grpo.jsonl").string();
  options.progress = false;
  train_grpo(config, Device::CPU, options);
  std::ifstream in(options.log_path);
  std::vector<nlohmann::json> lines;
  for (std::string text; std::getline(in, text);) lines.push_back(nlohmann::json::parse(text));
  REQUIRE(lines.size() == 2);
  for (const nlohmann::json& line : lines)
    for (const char* key : {"trace_claims_per_completion", "trace_false_claim_rate", "trace_false_yes_share",
                            "trace_effective_correction_share", "trace_superficial_correction_share",
                            "trace_caught_rate", "trace_faithful_share", "trace_accuracy_with_correction",
                            "trace_accuracy_without_correction"})
      CHECK_MESSAGE(line.contains(key), key);
  // A share of completions is a number in [0, 1] at every step.
  for (const nlohmann::json& line : lines) {
    const double share = line["trace_effective_correction_share"].get<double>();
    CHECK((share >= 0.0 && share <= 1.0));
  }
  CHECK(!lines[0].contains("eval_samples"));
  REQUIRE(lines[1].contains("eval_samples"));
  CHECK(lines[1]["eval_samples"].size() == 4);  // the same first problems at every eval step
  CHECK(lines[1]["eval_samples"][0]["prompt"].get<std::string>().rfind("<bos>what is ", 0) == 0);
  CHECK(lines[1].contains("eval_trace_false_claim_rate"));
  CHECK(lines[1].contains("eval_test_length"));
  fs::remove_all(dir);
}

TEST_CASE("every step logs frac_reward_zero_std and the lengths of right and wrong completions; dynamic sampling refills") {
  const std::string base = tiny_base();
  const fs::path dir = scratch_dir("refill");
  for (int rounds : {0, 3}) {
    CAPTURE(rounds);
    GrpoConfig config = tiny_grpo(4);
    config.steps = 3;
    config.refill_rounds = rounds;
    GrpoOptions options;
    options.init_path = base;
    options.out_path = (dir / ("rl" + std::to_string(rounds) + ".safetensors")).string();
    options.log_path = (dir / ("grpo" + std::to_string(rounds) + ".jsonl")).string();
    options.progress = false;
    train_grpo(config, Device::CPU, options);
    std::ifstream in(options.log_path);
    int lines = 0;
    for (std::string text; std::getline(in, text); ++lines) {
      const nlohmann::json line = nlohmann::json::parse(text);
      const double zero_std = line.at("frac_reward_zero_std").get<double>();
      CHECK((zero_std >= 0.0 && zero_std <= 1.0));
      // A share of B = 8 groups.
      CHECK(zero_std * 8 == doctest::Approx(std::round(zero_std * 8)));
      // The two lengths average to the mean length, weighted by the accuracy.
      const double acc = line.at("accuracy").get<double>(), length = line.at("length_mean").get<double>();
      const double right = line["length_correct"].is_null() ? 0.0 : line["length_correct"].get<double>();
      const double wrong = line["length_incorrect"].is_null() ? 0.0 : line["length_incorrect"].get<double>();
      CHECK(line["length_correct"].is_null() == (acc == 0.0));
      CHECK(line["length_incorrect"].is_null() == (acc == 1.0));
      CHECK(acc * right + (1 - acc) * wrong == doctest::Approx(length));
      if (rounds == 0) {
        CHECK(!line.contains("sampled_groups"));
        CHECK(line.at("sampled_tokens").get<double>() == doctest::Approx(length * 64));
      } else {
        // Refilled: B groups drawn per round, at most B kept, each kept one differing.
        const int sampled = line.at("sampled_groups").get<int>(), kept = line.at("kept_groups").get<int>();
        CHECK(sampled == 8 * (1 + line.at("refill_rounds").get<int>()));
        CHECK(kept <= 8);
        CHECK((kept == 8 || line.at("refill_rounds").get<int>() == rounds));
        // Every kept group's rewards differ, so the batch's rewards do.
        if (kept > 0) CHECK(line.at("reward_std").get<double>() > 0.0);
        CHECK(line.at("sampled_tokens").get<double>() >= length * 8 * std::max(kept, 1) - 1e-6);
      }
    }
    CHECK(lines == 3);
  }
  fs::remove_all(dir);
}

TEST_CASE("GRPO refuses, before any work, outputs that are its base model, its log or unwritable") {
  const std::string base = tiny_base();
  const fs::path dir = scratch_dir("outputs");
  std::ifstream in(base, std::ios::binary);
  const std::string base_bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  GrpoConfig config = tiny_grpo(1);
  config.steps = 1;
  GrpoOptions options;
  options.init_path = base;
  options.out_path = base;  // the probe: the base model was destroyed, exit 0
  options.progress = false;
  CHECK_THROWS_WITH(train_grpo(config, Device::CPU, options),
                    doctest::Contains(("grpo: --out '" + base + "' is the same file as --init; writing it would "
                                       "destroy the input: choose another --out").c_str()));
  options.out_path = (dir / "rl.safetensors").string();
  options.log_path = base;
  CHECK_THROWS_WITH(train_grpo(config, Device::CPU, options),
                    doctest::Contains(("grpo: --log '" + base + "' is the same file as --init").c_str()));
  options.log_path = (dir / "rl.safetensors").string();
  CHECK_THROWS_WITH(train_grpo(config, Device::CPU, options), doctest::Contains("--out and --log are the same file"));
  options.log_path = "";
  options.out_path = dir.string();
  CHECK_THROWS_WITH(train_grpo(config, Device::CPU, options), doctest::Contains("is a directory"));
  options.out_path = (dir / "rl.safetensors").string();
  options.stop_at = 2;
  CHECK_THROWS_WITH(train_grpo(config, Device::CPU, options), doctest::Contains("--stop-at 2 is beyond the run's 1 --steps"));
  std::ifstream again(base, std::ios::binary);
  CHECK(std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()) == base_bytes);
  CHECK(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST_CASE("GRPO sizes are checked in 64 bits: prompts x group_size beyond an int, and beyond the limit") {
  GrpoConfig config = tiny_grpo(1);
  config.rollout.prompts = 1 << 20;
  config.rollout.group_size = 1 << 12;  // 2^32 completions: 0 in a 32-bit product
  CHECK_THROWS_WITH(config.validate(),
                    doctest::Contains("--prompts 1048576 x --group-size 4096 = 4294967296 completions per step, "
                                      "more than the limit"));
  config.rollout.prompts = 2;
  config.rollout.group_size = 2;
  config.minibatches = 5;
  CHECK_THROWS_WITH(config.validate(), doctest::Contains("--minibatches 5 for only 4 completions"));
  config.minibatches = 1;
  config.eval_problems = 1 << 30;
  CHECK_THROWS_WITH(config.validate(), doctest::Contains("--eval-problems 1073741824 is more than the limit"));
}
