#include "grpo/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "autograd/adamw.h"
#include "data/tokenizer.h"
#include "grpo/advantage.h"
#include "grpo/dynamic_sampling.h"
#include "grpo/eval.h"
#include "grpo/step_metrics.h"
#include "model/checkpoint.h"
#include "model/output_files.h"
#include "model/progress.h"

namespace aha {
namespace {

// Held-out completions of fixed problems kept in the log at every eval step.
constexpr int kEvalSamplesLogged = 4;

// ---- the batch the update sees ----

// Prompt + completion of each row, laid out for the training forward: inputs
// [N, T] = seq[0 .. L-2], targets = seq[1 .. L-1], right-padded. mask marks the
// targets that are completion tokens; old_logprobs sit at the same positions.
struct PolicyBatch {
  int rows = 0;
  int64_t length = 0;  // T
  std::vector<float> tokens, targets, mask, old_logprobs, advantages;
};

PolicyBatch make_policy_batch(const Rollout& r, const std::vector<float>& advantages,
                              const std::vector<bool>& live, int first, int last) {
  PolicyBatch batch;
  batch.rows = last - first;
  size_t longest = 0;
  for (int i = first; i < last; ++i)
    longest = std::max(longest, r.prompts[(size_t)i].size() + r.completions[(size_t)i].tokens.size());
  batch.length = std::max<int64_t>(1, (int64_t)longest - 1);
  const size_t n = (size_t)batch.rows * (size_t)batch.length;
  batch.tokens.assign(n, (float)data::Tokenizer::kPad);
  batch.targets.assign(n, (float)data::Tokenizer::kPad);
  batch.mask.assign(n, 0.0f);
  batch.old_logprobs.assign(n, 0.0f);
  batch.advantages.assign(n, 0.0f);
  for (int i = first; i < last; ++i) {
    std::vector<int> seq = r.prompts[(size_t)i];
    const Completion& c = r.completions[(size_t)i];
    seq.insert(seq.end(), c.tokens.begin(), c.tokens.end());
    const size_t row = (size_t)(i - first) * (size_t)batch.length;
    const size_t prompt_length = r.prompts[(size_t)i].size();
    for (size_t t = 0; t + 1 < seq.size(); ++t) {
      batch.tokens[row + t] = (float)seq[t];
      batch.targets[row + t] = (float)seq[t + 1];
      const bool is_completion = t + 1 >= prompt_length;
      if (!is_completion || !live[(size_t)i]) continue;
      const size_t k = t + 1 - prompt_length;  // index of the completion token predicted here
      batch.mask[row + t] = 1.0f;
      batch.old_logprobs[row + t] = c.policy_logprobs[k];
      batch.advantages[row + t] = advantages[(size_t)i];
    }
  }
  return batch;
}

void check_finite(double value, const char* what, int step) {
  if (!std::isfinite(value))
    throw std::runtime_error("grpo: step " + std::to_string(step) + ": the " + what + " is " +
                             (std::isnan(value) ? "NaN" : "infinite") +
                             "; stopping (the last good checkpoint is kept, nothing of this step is saved)");
}


struct StepState {
  const GrpoConfig& config;
  GPT& policy;
  const GPT* reference;  // null when beta = 0
  AdamW& optimizer;
  Generator& rng;
  int step;
  float lr;
};

// ---- one GRPO step: sample, score, advantage, update ----

// The rewards the advantages use: the outcome reward, plus DAPO's overlong shaping.
std::vector<float> shaped_rewards(const GrpoConfig& config, const Rollout& r) {
  std::vector<float> rewards(r.completions.size());
  for (size_t i = 0; i < rewards.size(); ++i) {
    rewards[i] = r.rewards[i].total;
    if (config.overlong_buffer > 0)
      rewards[i] += overlong_penalty((int)r.completions[i].tokens.size(), config.rollout.max_new_tokens,
                                     config.overlong_buffer);
  }
  return rewards;
}

// 1-2. Sample G completions for each of B problems, and score them; with
// dynamic sampling, more problems until the batch holds B groups whose
// rewards differ.
Rollout sample_and_score(StepState& s, nlohmann::json& line) {
  const GrpoConfig& config = s.config;
  const int G = config.rollout.group_size;
  auto rewards_of = [&config](const Rollout& r) { return shaped_rewards(config, r); };
  NoGradGuard no_grad;
  if (config.refill_rounds == 0) {
    Rollout r = rollout(s.policy, config.rollout, s.rng);
    line["frac_reward_zero_std"] = frac_reward_zero_std(rewards_of(r), G);
    line["sampled_tokens"] = r.generated_tokens;
    return r;
  }
  RefillStats refill;
  bool first = true;
  Rollout r = refill_batch(
      [&]() {
        Rollout one = rollout(s.policy, config.rollout, s.rng);
        if (first) line["frac_reward_zero_std"] = frac_reward_zero_std(rewards_of(one), G);
        first = false;
        return one;
      },
      rewards_of, config.rollout.prompts, G, config.refill_rounds, &refill);
  line["refill_rounds"] = refill.rounds;
  line["sampled_groups"] = refill.sampled_groups;
  line["kept_groups"] = refill.kept_groups;
  line["sampled_tokens"] = refill.generated_tokens;
  return r;
}

// Each completion's advantage, and whether it takes part in the update.
struct Advantages {
  std::vector<float> values;  // [N], one per completion, shared by its tokens
  std::vector<bool> live;     // [N]: false for the groups DAPO drops
};

// 3. Group-relative advantages (DAPO: shaped rewards, uniform groups dropped).
Advantages compute_advantages(const GrpoConfig& config, const Rollout& r, nlohmann::json& line) {
  const int G = config.rollout.group_size;
  const int N = (int)r.completions.size();
  const std::vector<float> rewards = shaped_rewards(config, r);
  Advantages a;
  a.values = group_advantages(rewards, G, config.scale_by_std);
  a.live.assign(N, true);
  int dropped_groups = 0;
  if (config.drop_uniform_groups)
    for (int g = 0; g < N / G; ++g)
      if (group_is_uniform(rewards, G, g)) {
        ++dropped_groups;
        for (int i = g * G; i < (g + 1) * G; ++i) a.live[i] = false;
      }
  line["dropped_groups"] = dropped_groups;
  return a;
}

// The batch cut into minibatches for the update, with the frozen reference's
// log-probs of each (none when beta = 0).
struct Minibatches {
  std::vector<PolicyBatch> batches;
  std::vector<Tensor> ref_logprobs;
};

Minibatches make_minibatches(const StepState& s, const Rollout& r, const Advantages& a) {
  const GrpoConfig& config = s.config;
  const Device device = s.policy.device();
  const int N = (int)r.completions.size();
  const int rows_per_mb = (N + config.minibatches - 1) / config.minibatches;
  Minibatches mb;
  for (int first = 0; first < N; first += rows_per_mb) {
    mb.batches.push_back(make_policy_batch(r, a.values, a.live, first, std::min(N, first + rows_per_mb)));
    if (s.reference) {
      // The frozen reference's log-probs, once per step: no graph, no gradient.
      NoGradGuard no_grad;
      const PolicyBatch& b = mb.batches.back();
      const Shape shape{b.rows, b.length};
      mb.ref_logprobs.push_back(sequence_logprobs(*s.reference, Tensor::from_vector(b.tokens, shape, device),
                                                  Tensor::from_vector(b.targets, shape, device),
                                                  config.rollout.temperature)
                                    .value());
    }
  }
  return mb;
}

// 4. mu passes of minibatch updates of -J(theta): each minibatch's loss,
// backward, the clipped gradient, one AdamW step.
void update_policy(StepState& s, const Rollout& r, const Advantages& a, nlohmann::json& line) {
  const GrpoConfig& config = s.config;
  const Device device = s.policy.device();
  const Clock::time_point update_start = Clock::now();
  const std::vector<Var> params = s.policy.params();
  double kl = 0, clip_fraction = 0, entropy = 0, grad_norm = 0, loss_sum = 0;
  int updates = 0, entropy_batches = 0;
  const Minibatches mb = make_minibatches(s, r, a);
  for (int pass = 0; pass < config.updates_per_batch; ++pass) {
    for (size_t m = 0; m < mb.batches.size(); ++m) {
      const PolicyBatch& b = mb.batches[m];
      const Shape shape{b.rows, b.length};
      std::vector<float> weights = token_weights(config.loss, b.mask, b.rows, config.rollout.max_new_tokens);
      // Each minibatch is an average over its own rows; so the step is the mean of the minibatches' steps.
      if (std::all_of(weights.begin(), weights.end(), [](float w) { return w == 0.0f; })) continue;
      ObjectiveInputs in;
      Var logits;
      in.logprobs = sequence_logprobs(s.policy, Tensor::from_vector(b.tokens, shape, device),
                                      Tensor::from_vector(b.targets, shape, device), config.rollout.temperature,
                                      &logits);
      in.old_logprobs = Tensor::from_vector(b.old_logprobs, shape, device);
      in.advantages = Tensor::from_vector(b.advantages, shape, device);
      in.weights = Tensor::from_vector(weights, shape, device);
      in.mask = Tensor::from_vector(b.mask, shape, device);
      if (s.reference) in.ref_logprobs = mb.ref_logprobs[m];

      Var loss = grpo_loss(in, config.objective);
      const double loss_value = loss.value().item();
      check_finite(loss_value, "loss", s.step);
      const ObjectiveStats stats = objective_stats(in, config.objective);
      if (pass == 0) {
        // Entropy of the policy on the sampled completions (before this step's updates).
        const std::vector<float> h = softmax_entropy(logits.value()).to_vector();
        double sum = 0, count = 0;
        for (size_t k = 0; k < h.size(); ++k)
          if (b.mask[k] != 0.0f) sum += h[k], count += 1;
        if (count > 0) entropy += sum / count, ++entropy_batches;
      }
      loss.backward();
      const double norm = clip_grad_norm(params, config.grad_clip);
      check_finite(norm, "gradient norm", s.step);
      s.optimizer.step(s.lr);
      s.optimizer.zero_grad();
      kl += stats.kl;
      clip_fraction += stats.clip_fraction;
      grad_norm += norm;
      loss_sum += loss_value;
      ++updates;
    }
  }
  const double u = std::max(1, updates);
  line["loss"] = loss_sum / u;
  line["kl"] = s.reference ? nlohmann::json(kl / u) : nlohmann::json(nullptr);
  line["entropy"] = entropy / std::max(1, entropy_batches);
  line["clip_fraction"] = clip_fraction / u;
  line["grad_norm"] = grad_norm / u;
  line["updates"] = updates;
  line["lr"] = s.lr;
  line["rollout_s"] = r.seconds;
  line["update_s"] = seconds_since(update_start);
  line["tokens_per_s"] = line["sampled_tokens"].get<double>() / std::max(r.seconds, 1e-9);
}

// One GRPO step (DeepSeekMath Algorithm 1, one iteration of its inner loop);
// returns the step's log line.
nlohmann::json grpo_step(StepState& s) {
  nlohmann::json line = {{"step", s.step}};
  const Rollout r = sample_and_score(s, line);                            // 1-2. sample, score
  add_rollout_metrics(line, r);
  const Advantages advantages = compute_advantages(s.config, r, line);   // 3. advantage
  update_policy(s, r, advantages, line);                                  // 4. update
  return line;
}

// The held-out eval during training: greedy only, cheap enough to run every
// eval_every steps. The same problems every time (the eval seed is fixed), so
// the completions kept show how one problem's answer changes over training.
EvalResult held_out_eval(const GPT& policy, const GrpoConfig& config, bool ood) {
  EvalConfig eval;
  eval.task = config.rollout.task;
  eval.ood = ood;
  eval.difficulties = config.rollout.difficulties;
  eval.n = config.eval_problems;
  eval.sampled = false;
  eval.max_new_tokens = config.rollout.max_new_tokens;
  eval.kv_cache = config.rollout.kv_cache;  // the run's generation, rollouts and evals alike
  eval.reward = config.rollout.reward;
  eval.keep_samples = kEvalSamplesLogged;
  return evaluate(policy, eval, false);
}

}  // namespace

// log pi(target | prefix) at every position: [N, T]. Logits are divided by the
// sampling temperature so pi is the very distribution the rollout sampled
// from (model/sampler.h, policy_logprobs).
Var sequence_logprobs(const GPT& model, const Tensor& tokens, const Tensor& targets, float temperature,
                      Var* logits_out) {
  Var logits = model.forward(tokens);  // [N*T, V]
  if (temperature != 1.0f) logits = mul_scalar(logits, 1.0f / temperature);
  if (logits_out) *logits_out = logits;
  const Shape shape = tokens.shape();
  return reshape(token_logprobs(logits, targets.reshape(Shape{shape.numel()})), shape);
}


// ---- the loop ----

GrpoResult train_grpo(const GrpoConfig& config, Device device, const GrpoOptions& options) {
  config.validate();
  if (options.out_path.empty()) throw std::runtime_error("grpo: no checkpoint path (--out)");
  if (options.stop_at > config.steps)
    throw std::runtime_error("grpo: --stop-at " + std::to_string(options.stop_at) + " is beyond the run's " +
                             std::to_string(config.steps) + " --steps; it would never stop there");
  const int last_step = options.stop_at > 0 ? options.stop_at : config.steps;

  // The base model is both the policy's start and, frozen, the reference.
  std::string init_path = options.init_path;
  int step = 0;
  std::unique_ptr<Checkpoint> resume;
  if (!options.resume_path.empty()) {
    resume = std::make_unique<Checkpoint>(Checkpoint::read(options.resume_path));
    init_path = resume->metadata_value("grpo.init");
    GrpoConfig saved = grpo_config_from_json(resume->metadata_value("grpo.config"));
    saved.steps = config.steps;  // the one knob a resume may change
    if (to_json(saved) != to_json(config))
      throw std::runtime_error("grpo: resume from '" + options.resume_path + "': the run's settings differ: " +
                               "checkpoint " + to_json(saved) + " vs now " + to_json(config));
    if (!resume->has_optimizer())
      throw std::runtime_error("grpo: resume from '" + options.resume_path + "': no optimizer state in it");
    // In range before it is narrowed: a bad counter would run for ever or never.
    const GrpoConfig recorded = grpo_config_from_json(resume->metadata_value("grpo.config"));
    step = (int)resume->metadata_int("grpo.step", 1, recorded.steps);
  }
  if (init_path.empty()) throw std::runtime_error("grpo: no base model (--init)");
  // The outputs before any work: neither may destroy the base model (a
  // resumed run reads it again) nor the checkpoint resumed from (but for
  // --resume X --out X), and a bad folder fails now, not at the first save.
  check_output_paths("grpo", {{"--out", options.out_path, "--resume"}, {"--log", options.log_path, ""}},
                     {{"--resume", options.resume_path},
                      {options.resume_path.empty() ? "--init" : "--init (the base model of --resume)", init_path}});
  const Checkpoint base = Checkpoint::read(init_path);
  if (base.tokenizer() != data::Tokenizer::kVersion)
    throw std::runtime_error("grpo: '" + init_path + "' was trained with tokenizer '" + base.tokenizer() +
                             "', not the arithmetic tokenizer '" + data::Tokenizer::kVersion + "'");
  base.check_vocab_size(data::Tokenizer().vocab_size(), data::Tokenizer::kVersion);
  if (step >= last_step)
    throw std::runtime_error("grpo: the run is already at step " + std::to_string(step) +
                             "; ask for more --steps to continue it");

  GPT policy = base.load_model(device);
  policy.set_dtype(config.dtype);
  std::unique_ptr<GPT> reference;
  if (config.objective.beta != 0.0f) {
    reference = std::make_unique<GPT>(base.load_model(device));
    reference->set_dtype(config.dtype);
  }
  AdamWConfig adam;
  adam.beta1 = config.beta1;
  adam.beta2 = config.beta2;
  adam.weight_decay = config.weight_decay;
  AdamW optimizer(policy.params(), adam, policy.decay_mask());
  // One stream for every random choice of the run: problems and samples.
  Generator rng(rng::bits(config.seed, 0x6772706fULL));
  if (resume) {
    resume->load_model_into(policy);
    resume->load_optimizer_into(optimizer, policy);
    rng.set_state(resume->metadata_u64("grpo.rng_seed"), resume->metadata_u64("grpo.rng_offset"));
  }

  std::ofstream log;
  if (!options.log_path.empty()) {
    // A resumed run continues its log from the checkpoint's step: the steps
    // the interrupted run logged after its last save are run again, not twice.
    if (resume) truncate_log_to_step(options.log_path, step);
    log.open(options.log_path, resume ? std::ios::app : std::ios::trunc);
    if (!log) throw std::runtime_error("grpo: cannot write the log '" + options.log_path + "'");
  }
  auto save = [&](int at_step) {
    const std::map<std::string, std::string> meta = {{"grpo.config", to_json(config)},
                                                     {"grpo.init", init_path},
                                                     {"grpo.step", std::to_string(at_step)},
                                                     {"grpo.rng_seed", std::to_string(rng.seed())},
                                                     {"grpo.rng_offset", std::to_string(rng.offset())}};
    save_checkpoint(options.out_path, policy, base.tokenizer(), meta, &optimizer);
  };

  const bool tty = ::isatty(STDERR_FILENO);
  if (options.progress)
    std::fprintf(stderr, "grpo: %s on %s, %lld parameters, %d x %d completions per step, steps %d..%d of %d\n",
                 loss_variant_name(config.loss), device_name(device), (long long)policy.num_params(),
                 config.rollout.prompts, config.rollout.group_size, step + 1, last_step, config.steps);
  GrpoResult result;
  const Clock::time_point run_start = Clock::now();
  double step_seconds_avg = 0.0;
  const int first_step = step + 1;
  for (step = first_step; step <= last_step; ++step) {
    const Clock::time_point step_start = Clock::now();
    const float lr = config.warmup_steps > 0 && step <= config.warmup_steps
                         ? config.lr * (float)step / (float)config.warmup_steps
                         : config.lr;
    StepState state{config, policy, reference.get(), optimizer, rng, step, lr};
    nlohmann::json line;
    try {
      line = grpo_step(state);
    } catch (const std::exception& e) {
      // Name the step whatever failed (a NaN may surface first in the sampler's logits).
      const std::string what = e.what();
      if (what.rfind("grpo: step", 0) == 0) throw;
      throw std::runtime_error("grpo: step " + std::to_string(step) + ": " + what +
                               " (the last good checkpoint is kept; nothing of this step is saved)");
    }

    const bool at_end = step == last_step;
    if (config.eval_every > 0 && (step % config.eval_every == 0 || at_end))
      add_eval_metrics(line, held_out_eval(policy, config, false), held_out_eval(policy, config, true));
    line["elapsed_s"] = seconds_since(run_start);
    if (log.is_open()) log << line.dump() << "\n" << std::flush;
    if (step % config.ckpt_every == 0 || at_end) save(step);

    const double step_seconds = seconds_since(step_start);
    step_seconds_avg = step == first_step ? step_seconds : 0.9 * step_seconds_avg + 0.1 * step_seconds;
    result.last_step = step;
    result.reward_mean = line["reward_mean"].get<double>();
    result.accuracy = line["accuracy"].get<double>();
    if (options.progress && (tty || step % 10 == 0 || line.contains("eval_test_pass1") || at_end)) {
      char eval[64] = "";
      if (line.contains("eval_test_pass1"))
        std::snprintf(eval, sizeof eval, " | test %.3f ood %.3f", line["eval_test_pass1"].get<double>(),
                      line["eval_ood_pass1"].get<double>());
      std::fprintf(stderr, "%sgrpo step %d/%d | reward %.3f | acc %.3f%s | len %.0f | kl %.4f | %.0f tok/s | ETA %s%s",
                   tty ? "\r" : "", step, config.steps, result.reward_mean, result.accuracy, eval,
                   line["length_mean"].get<double>(), line["kl"].is_null() ? 0.0 : line["kl"].get<double>(),
                   line["tokens_per_s"].get<double>(), duration_text(step_seconds_avg * (last_step - step)).c_str(),
                   tty && !(eval[0] || at_end) ? "   " : "\n");
      std::fflush(stderr);
    }
  }
  result.seconds = seconds_since(run_start);
  return result;
}

}  // namespace aha
