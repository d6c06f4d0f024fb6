// GPT checkpoints: a safetensors file (model/safetensors.h) holding
//   - every parameter under its name in GPT::named_params(),
//   - __metadata__: "format" = "aha-gpt-1", "config" (the GPTConfig as JSON),
//     "tokenizer" (the tokenizer version), and whatever the caller adds (the
//     pretraining loop adds its step, training config and RNG state),
//   - optionally the AdamW state in the same file: "optimizer.m.<name>",
//     "optimizer.v.<name>" and metadata "optimizer.steps".
// One file rather than a companion: the write is atomic, so the parameters and
// the optimizer state of one step can never be found out of step with each
// other after a crash. Readers that want only the model ignore the
// "optimizer." tensors (the Python `safetensors` package loads by name too).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "autograd/adamw.h"
#include "model/gpt.h"
#include "model/safetensors.h"

namespace aha {

extern const char* const kCheckpointFormat;  // "aha-gpt-1"

// Writes atomically: a crash mid-save leaves the previous file intact.
// `optimizer` (optional, only read) must have been built over model.params().
void save_checkpoint(const std::string& path, const GPT& model, const std::string& tokenizer,
                     const std::map<std::string, std::string>& extra_metadata = {},
                     AdamW* optimizer = nullptr);

class Checkpoint {
 public:
  // Reads the file and checks its format tag and config; the parameters'
  // names and shapes are checked when they are loaded. Errors name the file
  // and the problem.
  static Checkpoint read(const std::string& path);

  const std::string& path() const { return file_.path; }
  const GPTConfig& config() const { return config_; }
  const std::string& tokenizer() const { return tokenizer_; }
  const std::map<std::string, std::string>& metadata() const { return file_.metadata; }
  // Throws naming the file when `key` is missing.
  const std::string& metadata_value(const std::string& key) const;
  // The value of `key` as an unsigned integer (steps, RNG state); throws naming
  // the file and the key when it is missing or not a number.
  uint64_t metadata_u64(const std::string& key) const;

  GPT load_model(Device device) const;
  // Into an existing model, whose config must equal the checkpoint's.
  void load_model_into(GPT& model) const;

  bool has_optimizer() const;
  // `optimizer` must have been built over model.params() of a model with this config.
  void load_optimizer_into(AdamW& optimizer, const GPT& model) const;

 private:
  SafetensorsFile file_;
  GPTConfig config_;
  std::string tokenizer_;
};

}  // namespace aha
