#include "grpo/rollout.h"

#include <chrono>
#include <stdexcept>

#include "data/split.h"
#include "data/template.h"
#include "data/tokenizer.h"

namespace aha {

Rollout rollout(const GPT& policy, const RolloutConfig& config, Generator& rng) {
  if (config.prompts < 1 || config.group_size < 1)
    throw std::runtime_error("rollout: need at least one prompt and a group of at least one");
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int>& difficulties =
      config.difficulties.empty() ? data::task_spec(config.task).train_difficulties : config.difficulties;
  static const data::Tokenizer tokenizer;

  Rollout out;
  for (int b = 0; b < config.prompts; ++b) {
    const int difficulty = difficulties[rng.below(difficulties.size())];
    // Only Train-split problems: the test split stays unseen by RL as by pretraining.
    out.problems.push_back(data::sample_problem(config.task, difficulty, data::Split::Train, rng));
    const std::vector<int> prompt = tokenizer.encode(data::prompt_text(out.problems.back()));
    for (int g = 0; g < config.group_size; ++g) out.prompts.push_back(prompt);
  }

  GenerateConfig generation;
  generation.max_new_tokens = config.max_new_tokens;
  generation.sampling.temperature = config.temperature;
  generation.kv_cache = config.kv_cache;
  generation.eos_token = data::Tokenizer::kEos;
  out.completions = generate(policy, out.prompts, generation, rng);

  for (size_t i = 0; i < out.completions.size(); ++i) {
    const data::Problem& problem = out.problems[i / (size_t)config.group_size];
    out.texts.push_back(tokenizer.decode(out.completions[i].tokens));
    out.rewards.push_back(reward::score(problem, out.texts.back(), config.reward));
    out.styles.push_back(data::classify(out.texts.back()));
    out.traces.push_back(reward::check_trace(problem, out.texts.back()));
    out.generated_tokens += (int64_t)out.completions[i].tokens.size();
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace aha
