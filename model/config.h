// What a GPT is (its shape) and how it is pretrained (the training knobs), kept
// apart: a checkpoint records the shape, which must match to load it; the
// knobs only matter while training. Presets (README.md, "Presets") bundle one
// of each under a name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace aha {

// GPT-2-style decoder shape (Radford et al. 2019), nanoGPT naming.
struct GPTConfig {
  int vocab_size = 0;  // set from the data's tokenizer
  int context = 256;   // longest sequence the position embedding covers
  int d_model = 128;   // width C
  int n_layers = 4;
  int n_heads = 4;     // head width D = C / H

  int head_dim() const { return d_model / n_heads; }
  // Throws a std::runtime_error naming the bad field when the shape is impossible.
  void validate() const;
  bool operator==(const GPTConfig& other) const;
  bool operator!=(const GPTConfig& other) const { return !(*this == other); }
  std::string str() const;  // "vocab_size=65 context=256 d_model=128 n_layers=4 n_heads=4"
};

// The help of every command's --dtype (TrainConfig::dtype below, GrpoConfig::dtype in
// grpo/config.h; GPT::set_dtype, model/gpt.h).
inline constexpr const char* kDtypeHelp =
    "precision of the training forward and backward: fp32 (TF32 products on CUDA), or bf16 mixed precision "
    "(activations that feed the matrix products in bfloat16; weights, gradients, optimizer and every sum fp32)";

// Pretraining hyperparameters: AdamW, linear warmup then cosine decay to
// min_lr, global-norm clipping, gradient accumulation.
struct TrainConfig {
  int batch_size = 16;      // sequences per micro-batch
  int grad_accum = 1;       // micro-batches per optimiser step
  int steps = 1000;         // optimiser steps of the whole run
  float lr = 1e-3f;         // peak learning rate
  float min_lr = 1e-4f;     // end of the cosine
  int warmup_steps = 50;
  float weight_decay = 0.1f;  // on matrices only (not biases, not LayerNorm)
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float grad_clip = 1.0f;   // max global L2 norm of the gradient
  int eval_every = 100;     // validation loss every this many steps (and at the end)
  int eval_batches = 4;     // micro-batches per validation estimate
  int ckpt_every = 500;     // checkpoint every this many steps (and at the end)
  uint64_t seed = 1;        // the one seed: initialisation and data order
  // The training forward's precision (GPT::set_dtype): fp32, or bf16 mixed
  // precision (--dtype bf16). Not a preset setting: always a choice of the run.
  DType dtype = DType::F32;

  void validate() const;
  bool operator==(const TrainConfig& other) const;
  bool operator!=(const TrainConfig& other) const { return !(*this == other); }
};

struct Preset {
  std::string name;
  std::string summary;
  GPTConfig model;
  TrainConfig train;
};

const std::vector<Preset>& presets();
// Throws, listing every preset, when `name` is not one of them.
const Preset& find_preset(const std::string& name);

// JSON round trips for checkpoint metadata (model/checkpoint.cpp). The parsers
// throw a std::runtime_error naming the missing or malformed field.
std::string to_json(const GPTConfig& config);
std::string to_json(const TrainConfig& config);
GPTConfig gpt_config_from_json(const std::string& json);
TrainConfig train_config_from_json(const std::string& json);

}  // namespace aha
