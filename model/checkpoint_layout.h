// What an aha checkpoint must hold, checked on its safetensors header alone
// (model/safetensors_header.h), before a single tensor or model is
// allocated: the metadata parsed strictly (model/metadata_field.h), and the
// tensors exactly those the stored config implies, with the shapes it
// implies. A model built from a config that passed is no bigger than the
// file it came from: n_layers = 10^6 in the metadata of a 10 MB file is
// refused here, naming the field, instead of allocating without bound.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors_header.h"

namespace aha {

extern const char* const kCheckpointFormat;  // "aha-gpt-1"
// The metadata key of the AdamW step count; present when the optimizer state is.
extern const char* const kOptimizerStepsKey;  // "optimizer.steps"
// The tensor of AdamW's first ("m") or second ("v") moment of `param`: "optimizer.m.wte.weight".
std::string moment_name(const char* which, const std::string& param);

// One parameter a GPTConfig implies, without allocating it: the name and
// shape it has in GPT::named_params() (model/gpt.h) and the config fields
// that set the shape, for error messages.
struct ParamSpec {
  std::string name;            // "h.0.attn.q.weight"
  std::vector<int64_t> shape;  // [C, C]
  std::string implied_by;      // "d_model = 128"
};
// 2 embeddings + 16 per block + the final LayerNorm's 2.
int64_t gpt_param_count(const GPTConfig& config);
// The index-th parameter, in GPT::named_params() order (a test holds the two to each other).
ParamSpec gpt_param_spec(const GPTConfig& config, int64_t index);

struct CheckpointLayout {
  GPTConfig config;
  std::string tokenizer;
  bool has_optimizer = false;
  int64_t optimizer_steps = 0;
};

// Throws a std::runtime_error "checkpoint 'PATH': ..." naming the field or
// tensor at fault when the header is not that of an aha GPT checkpoint.
CheckpointLayout check_checkpoint_layout(const std::string& path, const SafetensorsHeader& header);

}  // namespace aha
