#include "model/pretrain.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "autograd/adamw.h"
#include "model/checkpoint.h"
#include "model/lr_schedule.h"
#include "model/output_files.h"
#include "model/progress.h"

namespace aha {
namespace {

// Independent random streams derived from the one seed: stream i is seeded by
// the i-th 64 random bits of the seed's own stream.
enum Stream : uint64_t { kInitStream = 0, kDataStream = 1, kValStream = 2 };
Generator stream(uint64_t seed, Stream which) { return Generator(rng::bits(seed, which)); }

// Without a terminal (a log file, CI) the progress line is printed this often.
constexpr int kProgressEveryNonTTY = 10;

// A NaN or infinite loss or gradient means the weights are garbage or about
// to be: stop before they reach the checkpoint, which keeps the last good step.
void check_finite(double value, const char* what, int step, const std::string& out_path) {
  if (std::isfinite(value)) return;
  throw std::runtime_error("pretrain: step " + std::to_string(step) + ": the " + what + " is " +
                           (std::isnan(value) ? "NaN" : value > 0 ? "+inf" : "-inf") +
                           "; stopping (the last good checkpoint '" + out_path +
                           "' is kept, nothing of this step is saved; a lower --lr may help)");
}

// Every parameter finite: the last look before weights are written.
bool all_finite(const std::vector<Var>& params) {
  for (const Var& p : params)
    for (float x : p.value().to_vector())
      if (!std::isfinite(x)) return false;
  return true;
}

// Mean validation loss over eval_batches batches. The batches come from a
// fresh stream each time, so every evaluation scores the same sequences and
// the training stream is not touched.
float evaluate(const GPT& model, SequenceSource& source, const TrainConfig& train) {
  NoGradGuard no_grad;
  Generator rng = stream(train.seed, kValStream);
  double total = 0.0;
  for (int i = 0; i < train.eval_batches; ++i) {
    TokenBatch batch = make_batch(source, rng, train.batch_size, model.config(), model.device());
    total += model.loss(batch.tokens, batch.targets, batch.mask).value().item();
  }
  return (float)(total / train.eval_batches);
}


// Everything of a resumed run that must equal the interrupted one. Returns
// the checkpoint's step, checked against its own run length (a step counter
// out of range would run at a negative learning rate or for ever).
int check_resume_matches(const Checkpoint& ckpt, const GPTConfig& model_config, const TrainConfig& train,
                         const SequenceSource& data) {
  const std::string where = "resume from '" + ckpt.path() + "': ";
  if (ckpt.config() != model_config)
    throw std::runtime_error(where + "config mismatch: the checkpoint has " + ckpt.config().str() +
                             ", this run asks for " + model_config.str());
  TrainConfig saved = train_config_from_json(ckpt.metadata_value("train.config"));
  saved.steps = train.steps;  // the one knob a resume may change (a longer run)
  if (saved != train)
    throw std::runtime_error(where + "training config mismatch: the checkpoint was trained with " +
                             to_json(saved) + ", this run asks for " + to_json(train));
  if (ckpt.tokenizer() != data.tokenizer_version())
    throw std::runtime_error(where + "the training data's tokenizer differs from the checkpoint's ('" +
                             data.tokenizer_version().substr(0, 40) + "...' vs '" +
                             ckpt.tokenizer().substr(0, 40) + "...')");
  if (!ckpt.has_optimizer()) throw std::runtime_error(where + "the checkpoint holds no optimizer state");
  const TrainConfig recorded = train_config_from_json(ckpt.metadata_value("train.config"));
  // In range before it is narrowed: a bad counter would run for ever or never.
  return (int)ckpt.metadata_int("train.step", 1, recorded.steps);
}

}  // namespace

TokenBatch make_batch(SequenceSource& source, Generator& rng, int batch_size, const GPTConfig& config,
                      Device device) {
  std::vector<TokenSequence> seqs;
  size_t longest = 0;
  for (int b = 0; b < batch_size; ++b) {
    seqs.push_back(source.next(rng));
    const TokenSequence& s = seqs.back();
    if (s.tokens.size() < 2 || (int64_t)s.tokens.size() > (int64_t)config.context + 1)
      throw std::runtime_error("make_batch: a sequence of " + std::to_string(s.tokens.size()) +
                               " tokens; need 2 .. context + 1 = " + std::to_string(config.context + 1));
    if (s.loss_mask.size() != s.tokens.size())
      throw std::runtime_error("make_batch: loss_mask has " + std::to_string(s.loss_mask.size()) +
                               " entries for " + std::to_string(s.tokens.size()) + " tokens");
    for (int t : s.tokens)
      if (t < 0 || t >= config.vocab_size)
        throw std::runtime_error("make_batch: token " + std::to_string(t) + " outside the vocabulary [0, " +
                                 std::to_string(config.vocab_size) + ")");
    longest = std::max(longest, s.tokens.size());
  }
  const int64_t B = batch_size, T = (int64_t)longest - 1;
  std::vector<float> tokens((size_t)(B * T), 0.0f), targets((size_t)(B * T), 0.0f), mask((size_t)(B * T), 0.0f);
  TokenBatch batch;
  for (int64_t b = 0; b < B; ++b) {
    const TokenSequence& s = seqs[(size_t)b];
    for (size_t t = 0; t + 1 < s.tokens.size(); ++t) {
      const size_t at = (size_t)(b * T) + t;
      tokens[at] = (float)s.tokens[t];
      targets[at] = (float)s.tokens[t + 1];
      mask[at] = s.loss_mask[t + 1];
    }
    batch.real_tokens += (int64_t)s.tokens.size() - 1;
  }
  batch.tokens = Tensor::from_vector(tokens, Shape{B, T}, device);
  batch.targets = Tensor::from_vector(targets, Shape{B, T}, device);
  batch.mask = Tensor::from_vector(mask, Shape{B, T}, device);
  return batch;
}

PretrainResult pretrain(const GPTConfig& model_config, const TrainConfig& train, SequenceSource& train_data,
                        SequenceSource* val_data, Device device, const PretrainOptions& options) {
  model_config.validate();
  train.validate();
  if (options.out_path.empty()) throw std::runtime_error("pretrain: no checkpoint path (--out)");
  if (model_config.vocab_size != train_data.vocab_size())
    throw std::runtime_error("pretrain: the model's vocab_size " + std::to_string(model_config.vocab_size) +
                             " differs from the data's " + std::to_string(train_data.vocab_size()));
  // Sizes in 64 bits, before anything is allocated: a mistyped --batch-size
  // would otherwise end in std::bad_alloc with no other word.
  const int64_t tokens_per_batch = (int64_t)train.batch_size * model_config.context;
  if (tokens_per_batch > kMaxTokensPerMicroBatch)
    throw std::runtime_error("pretrain: --batch-size " + std::to_string(train.batch_size) + " x --context " +
                             std::to_string(model_config.context) + " = " + std::to_string(tokens_per_batch) +
                             " tokens per micro-batch, more than the limit " +
                             std::to_string(kMaxTokensPerMicroBatch) +
                             "; lower --batch-size (and raise --grad-accum for the same tokens per step)");
  if (options.stop_at > train.steps)
    throw std::runtime_error("pretrain: --stop-at " + std::to_string(options.stop_at) + " is beyond the run's " +
                             std::to_string(train.steps) + " --steps; it would never stop there");
  const int last_step = options.stop_at > 0 ? options.stop_at : train.steps;
  // The outputs before any work: neither may destroy the checkpoint resumed
  // from (but for --resume X --out X), and a bad folder fails now.
  check_output_paths("pretrain", {{"--out", options.out_path, "--resume"}, {"--log", options.log_path, ""}},
                     {{"--resume", options.resume_path}});

  GPT model(model_config, device);
  model.set_dtype(train.dtype);
  AdamWConfig adam;
  adam.beta1 = train.beta1;
  adam.beta2 = train.beta2;
  adam.weight_decay = train.weight_decay;
  AdamW optimizer(model.params(), adam, model.decay_mask());
  Generator data_rng = stream(train.seed, kDataStream);
  int step = 0;
  if (options.resume_path.empty()) {
    Generator init = stream(train.seed, kInitStream);
    model.init_weights(init);
  } else {
    Checkpoint ckpt = Checkpoint::read(options.resume_path);
    step = check_resume_matches(ckpt, model_config, train, train_data);
    ckpt.load_model_into(model);
    ckpt.load_optimizer_into(optimizer, model);
    data_rng.set_state(ckpt.metadata_u64("train.rng_seed"), ckpt.metadata_u64("train.rng_offset"));
  }
  if (step >= last_step)
    throw std::runtime_error("pretrain: the run is already at step " + std::to_string(step) +
                             "; ask for more --steps to continue it");

  std::ofstream log;
  if (!options.log_path.empty()) {
    // A resumed run continues its log from the checkpoint's step: the steps
    // the interrupted run logged after its last save are run again, not twice.
    if (!options.resume_path.empty()) truncate_log_to_step(options.log_path, step);
    log.open(options.log_path, options.resume_path.empty() ? std::ios::trunc : std::ios::app);
    if (!log) throw std::runtime_error("pretrain: cannot write the log '" + options.log_path + "'");
  }

  auto save = [&](int at_step, float val_loss) {
    std::map<std::string, std::string> meta = {
        {"preset", options.preset},
        {"train.config", to_json(train)},
        {"train.step", std::to_string(at_step)},
        {"train.rng_seed", std::to_string(data_rng.seed())},
        {"train.rng_offset", std::to_string(data_rng.offset())},
        {"train.val_loss", std::isnan(val_loss) ? "null" : std::to_string(val_loss)}};
    meta.insert(options.extra_metadata.begin(), options.extra_metadata.end());
    if (!all_finite(model.params()))
      throw std::runtime_error("pretrain: step " + std::to_string(at_step) +
                               ": a weight is NaN or infinite; stopping (the last good checkpoint '" +
                               options.out_path + "' is kept; a lower --lr may help)");
    save_checkpoint(options.out_path, model, train_data.tokenizer_version(), meta, &optimizer);
  };

  const bool tty = ::isatty(STDERR_FILENO);
  PretrainResult result;
  result.num_params = model.num_params();
  result.val_loss = NAN;
  const std::vector<Var> params = model.params();
  const Clock::time_point run_start = Clock::now();
  int64_t run_tokens = 0;
  double step_seconds_avg = 0.0;
  const int first_step = step + 1;
  if (options.progress)
    std::fprintf(stderr, "pretrain: %lld parameters, %s, steps %d..%d of %d\n", (long long)result.num_params,
                 device_name(device), first_step, last_step, train.steps);

  for (step = first_step; step <= last_step; ++step) {
    const Clock::time_point step_start = Clock::now();
    double loss_sum = 0.0;
    int64_t step_tokens = 0;
    for (int micro = 0; micro < train.grad_accum; ++micro) {
      TokenBatch batch = make_batch(train_data, data_rng, train.batch_size, model_config, device);
      Var loss = model.loss(batch.tokens, batch.targets, batch.mask);
      const float loss_value = loss.value().item();
      check_finite(loss_value, "loss", step, options.out_path);
      loss_sum += loss_value;
      step_tokens += batch.real_tokens;
      // The mean over micro-batches: each contributes 1/grad_accum of the gradient.
      mul_scalar(loss, 1.0f / (float)train.grad_accum).backward();
    }
    const float grad_norm = clip_grad_norm(params, train.grad_clip);
    check_finite(grad_norm, "gradient norm", step, options.out_path);
    const float lr = warmup_cosine_lr(step, train.steps, train.warmup_steps, train.lr, train.min_lr);
    optimizer.step(lr);
    optimizer.zero_grad();

    const double step_seconds = seconds_since(step_start);
    step_seconds_avg = step == first_step ? step_seconds : 0.9 * step_seconds_avg + 0.1 * step_seconds;
    run_tokens += step_tokens;
    result.last_step = step;
    result.train_loss = (float)(loss_sum / train.grad_accum);
    const bool at_end = step == last_step;
    const bool evaluated = val_data && (step % train.eval_every == 0 || at_end);
    if (evaluated) {
      result.val_loss = evaluate(model, *val_data, train);
      check_finite(result.val_loss, "validation loss", step, options.out_path);
    }

    nlohmann::json line = {{"step", step},
                           {"loss", result.train_loss},
                           {"lr", lr},
                           {"grad_norm", grad_norm},
                           {"tokens", step_tokens},
                           {"tokens_per_s", step_tokens / std::max(step_seconds, 1e-9)},
                           {"elapsed_s", seconds_since(run_start)}};
    if (evaluated) line["val_loss"] = result.val_loss;
    if (log.is_open()) log << line.dump() << "\n" << std::flush;

    if (options.progress && (tty || step % kProgressEveryNonTTY == 0 || evaluated || at_end)) {
      char val[32] = "";
      if (!std::isnan(result.val_loss)) std::snprintf(val, sizeof val, " | val %.4f", result.val_loss);
      std::fprintf(stderr, "%sstep %d/%d | loss %.4f%s | lr %.2e | %.0f tok/s | ETA %s%s", tty ? "\r" : "", step,
                   train.steps, result.train_loss, val, lr, step_tokens / std::max(step_seconds, 1e-9),
                   duration_text(step_seconds_avg * (last_step - step)).c_str(),
                   tty && !(evaluated || at_end) ? "   " : "\n");
      std::fflush(stderr);
    }
    if (step % train.ckpt_every == 0 || at_end) save(step, result.val_loss);
  }
  result.tokens_per_second = run_tokens / std::max(seconds_since(run_start), 1e-9);
  return result;
}

}  // namespace aha
