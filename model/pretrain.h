// Pretraining: next-token prediction on a stream of token sequences, the
// step that gives R1-Zero's RL a base model whose reward is not always zero.
//
// One optimiser step, in the order the loop runs it:
//   for each of grad_accum micro-batches: sample batch_size sequences, pad
//     them to [B, T] with a loss mask, loss = masked mean cross-entropy,
//     backward(loss / grad_accum)
//   clip the global gradient norm; lr from warmup + cosine; AdamW step
// Every eval_every steps a validation loss; every ckpt_every steps and at the
// end a checkpoint that resumes exactly (parameters, AdamW moments, step and
// the data RNG state).
#pragma once

#include <map>
#include <string>

#include "model/config.h"
#include "model/gpt.h"
#include "model/sequence_source.h"

namespace aha {

// The most tokens of one micro-batch, batch_size x context: 170 times
// gpu-medium's 64 x 384, and far below what a mistyped --batch-size would ask
// of the allocator. pretrain() refuses more before anything is allocated.
constexpr int64_t kMaxTokensPerMicroBatch = int64_t(1) << 22;

struct PretrainOptions {
  std::string out_path;     // the checkpoint (required), rewritten atomically each time
  // JSON Lines, one object per step; "" = none. A resume cuts it back to the
  // checkpoint's step (atomically) and appends.
  std::string log_path;
  std::string resume_path;  // continue from this checkpoint; "" = start fresh
  int stop_at = 0;          // stop after this step, as if interrupted (0 = run to train.steps; <= train.steps)
  bool progress = true;     // progress line on stderr
  std::string preset;       // recorded in the checkpoint's metadata
  // Also recorded in every checkpoint (e.g. which data the run trains on, so
  // that a resume can use the same); the loop's own keys ("preset",
  // "train.*") take precedence.
  std::map<std::string, std::string> extra_metadata;
};

struct PretrainResult {
  int last_step = 0;
  float train_loss = 0.0f;         // of the last step
  float val_loss = 0.0f;           // of the last validation (NaN without validation data)
  double tokens_per_second = 0.0;  // input tokens (padding excluded) over this run's wall time
  int64_t num_params = 0;
};

// model.vocab_size must equal train_data.vocab_size(). On resume the
// checkpoint's model config, training config (but for `steps`, which may
// grow) and tokenizer must match these, else a clear error. The output paths
// are checked first (model/output_files.h). A NaN or infinite loss, gradient
// norm, validation loss or weight stops the run with an error naming the step,
// before anything of that step is saved: the last good checkpoint stays.
PretrainResult pretrain(const GPTConfig& model_config, const TrainConfig& train, SequenceSource& train_data,
                        SequenceSource* val_data, Device device, const PretrainOptions& options);

// A batch of next-token examples: sequence s gives inputs s[0..n-2] and
// targets s[1..n-1], right-padded to the longest (causal attention means
// right padding never changes the real positions). All [B, T] on `device`.
struct TokenBatch {
  Tensor tokens, targets, mask;
  int64_t real_tokens = 0;  // input positions that are not padding
};
TokenBatch make_batch(SequenceSource& source, Generator& rng, int batch_size, const GPTConfig& config,
                      Device device);

}  // namespace aha
