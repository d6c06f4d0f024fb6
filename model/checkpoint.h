// GPT checkpoints: a safetensors file (model/safetensors.h) holding
//   - every parameter under its name in GPT::named_params(),
//   - __metadata__: "format" = "aha-gpt-1", "config" (the GPTConfig as JSON),
//     "tokenizer" (the tokenizer version), and whatever the caller adds (the
//     pretraining loop adds its step, training config and RNG state),
//   - optionally the AdamW state in the same file: "optimizer.m.<name>",
//     "optimizer.v.<name>" and metadata "optimizer.steps".
// Reading checks the whole header first (model/checkpoint_layout.h): the
// metadata parsed strictly, the tensors exactly those the config implies.
// Only then are the tensors read, and only load_model builds a model.
//
// One file rather than a companion: the write is atomic, so the parameters and
// the optimizer state of one step can never be found out of step with each
// other after a crash. Readers that want only the model ignore the
// "optimizer." tensors (the Python `safetensors` package loads by name too).
#pragma once

#include <climits>
#include <cstdint>
#include <map>
#include <string>

#include "autograd/adamw.h"
#include "model/checkpoint_layout.h"
#include "model/gpt.h"
#include "model/safetensors.h"

namespace aha {

// Writes atomically: a crash mid-save leaves the previous file intact.
// `optimizer` (optional, only read) must have been built over model.params().
void save_checkpoint(const std::string& path, const GPT& model, const std::string& tokenizer,
                     const std::map<std::string, std::string>& extra_metadata = {},
                     AdamW* optimizer = nullptr);

class Checkpoint {
 public:
  // Reads the file, after checking its header: the format tag, the config
  // and every tensor's name and shape against it, the optimizer step count.
  // Errors name the file and the field or tensor at fault.
  static Checkpoint read(const std::string& path);

  const std::string& path() const { return file_.path; }
  const GPTConfig& config() const { return layout_.config; }
  const std::string& tokenizer() const { return layout_.tokenizer; }
  const std::map<std::string, std::string>& metadata() const { return file_.metadata; }
  // Throws naming the file when `key` is missing.
  const std::string& metadata_value(const std::string& key) const;
  // The integer value of `key` in [min, max] (a step: metadata_int("train.step",
  // 0, INT_MAX)); throws naming the file and the key when it is missing, not a
  // decimal integer or out of range (model/metadata_field.h).
  int64_t metadata_int(const std::string& key, int64_t min, int64_t max) const;
  // The same for the whole uint64 range (seeds, RNG offsets).
  uint64_t metadata_u64(const std::string& key) const;

  // Throws naming the file and the config field unless the model's
  // vocabulary is the tokenizer's: call it before load_model, so that a
  // mismatch costs no allocation.
  void check_vocab_size(int tokenizer_vocab_size, const std::string& tokenizer_name) const;

  GPT load_model(Device device) const;
  // Into an existing model, whose config must equal the checkpoint's.
  void load_model_into(GPT& model) const;

  bool has_optimizer() const;
  // `optimizer` must have been built over model.params() of a model with this config.
  void load_optimizer_into(AdamW& optimizer, const GPT& model) const;

 private:
  SafetensorsFile file_;
  CheckpointLayout layout_;
};

}  // namespace aha
