#include "model/config.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "model/metadata_field.h"

namespace aha {
namespace {

void require_positive(const char* field, double value, const char* owner) {
  if (!(value > 0))
    throw std::runtime_error(std::string(owner) + ": " + field + " must be > 0, got " +
                             std::to_string(value));
}

}  // namespace

// GPTConfig's checks and JSON are in model/gpt_config.cpp: no tensor layer
// there, so the checkpoint reader's fuzz target can link them alone.

void TrainConfig::validate() const {
  const char* owner = "TrainConfig";
  require_positive("batch_size", batch_size, owner);
  require_positive("grad_accum", grad_accum, owner);
  require_positive("steps", steps, owner);
  require_positive("lr", lr, owner);
  require_positive("grad_clip", grad_clip, owner);
  require_positive("eval_every", eval_every, owner);
  require_positive("eval_batches", eval_batches, owner);
  require_positive("ckpt_every", ckpt_every, owner);
  if (min_lr < 0 || min_lr > lr)
    throw std::runtime_error("TrainConfig: min_lr " + std::to_string(min_lr) + " must be in [0, lr " +
                             std::to_string(lr) + "]");
  if (warmup_steps < 0)
    throw std::runtime_error("TrainConfig: warmup_steps must be >= 0, got " + std::to_string(warmup_steps));
  if (weight_decay < 0)
    throw std::runtime_error("TrainConfig: weight_decay must be >= 0, got " + std::to_string(weight_decay));
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    throw std::runtime_error("TrainConfig: beta1 " + std::to_string(beta1) + " and beta2 " +
                             std::to_string(beta2) + " must be in [0, 1)");
}

bool TrainConfig::operator==(const TrainConfig& o) const {
  return batch_size == o.batch_size && grad_accum == o.grad_accum && steps == o.steps && lr == o.lr &&
         min_lr == o.min_lr && warmup_steps == o.warmup_steps && weight_decay == o.weight_decay &&
         beta1 == o.beta1 && beta2 == o.beta2 && grad_clip == o.grad_clip &&
         eval_every == o.eval_every && eval_batches == o.eval_batches && ckpt_every == o.ckpt_every &&
         seed == o.seed && dtype == o.dtype;
}

// The presets of README.md ("Presets"). Model shapes are the issue's; the training knobs
// are starting points sized so cpu-tiny finishes in minutes on a laptop and the
// GPU presets within their time budget.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = [] {
    std::vector<Preset> p;

    Preset tiny;
    tiny.name = "cpu-tiny";
    tiny.summary = "laptop / CI, minutes: d=128, 4 layers, 4 heads";
    tiny.model = GPTConfig{0, 256, 128, 4, 4};
    tiny.train.batch_size = 16;
    tiny.train.steps = 1000;
    tiny.train.lr = 1e-3f;
    tiny.train.min_lr = 1e-4f;
    tiny.train.warmup_steps = 50;
    tiny.train.eval_every = 100;
    tiny.train.ckpt_every = 250;
    p.push_back(tiny);

    Preset small;
    small.name = "gpu-small";
    small.summary = "one GPU, <= 20 min: d=384, 6 layers, 6 heads";
    // Context 384: the longest document of the corpus (a countdown search,
    // data/template.h kMaxDocumentTokens) fits whole.
    small.model = GPTConfig{0, 384, 384, 6, 6};
    small.train.batch_size = 64;
    small.train.steps = 3000;
    small.train.lr = 6e-4f;
    small.train.min_lr = 6e-5f;
    small.train.warmup_steps = 200;
    small.train.eval_every = 250;
    small.train.ckpt_every = 1000;
    p.push_back(small);

    Preset medium;
    medium.name = "gpu-medium";
    medium.summary = "one GPU, <= 1 h: d=768, 12 layers, 12 heads";
    medium.model = GPTConfig{0, 384, 768, 12, 12};
    medium.train.batch_size = 64;
    medium.train.steps = 5000;
    medium.train.lr = 3e-4f;
    medium.train.min_lr = 3e-5f;
    medium.train.warmup_steps = 300;
    medium.train.eval_every = 250;
    medium.train.ckpt_every = 1000;
    p.push_back(medium);
    return p;
  }();
  return all;
}

const Preset& find_preset(const std::string& name) {
  std::string names;
  for (const Preset& p : presets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  throw std::runtime_error("unknown preset '" + name + "' (presets: " + names + ")");
}

std::string to_json(const TrainConfig& c) {
  nlohmann::json j = {{"batch_size", c.batch_size},
                      {"grad_accum", c.grad_accum},
                      {"steps", c.steps},
                      {"lr", c.lr},
                      {"min_lr", c.min_lr},
                      {"warmup_steps", c.warmup_steps},
                      {"weight_decay", c.weight_decay},
                      {"beta1", c.beta1},
                      {"beta2", c.beta2},
                      {"grad_clip", c.grad_clip},
                      {"eval_every", c.eval_every},
                      {"eval_batches", c.eval_batches},
                      {"ckpt_every", c.ckpt_every},
                      // a string: JSON readers (Python, JavaScript) lose 64-bit integers
                      {"seed", std::to_string(c.seed)},
                      {"dtype", dtype_name(c.dtype)}};
  return j.dump();
}

TrainConfig train_config_from_json(const std::string& text) {
  TrainConfig c;
  try {
    const nlohmann::json j = parse_bounded_json(text);  // strict and bounded: model/metadata_field.h
    c.batch_size = json_int(j, "batch_size");
    c.grad_accum = json_int(j, "grad_accum");
    c.steps = json_int(j, "steps");
    c.lr = json_float(j, "lr");
    c.min_lr = json_float(j, "min_lr");
    c.warmup_steps = json_int(j, "warmup_steps");
    c.weight_decay = json_float(j, "weight_decay");
    c.beta1 = json_float(j, "beta1");
    c.beta2 = json_float(j, "beta2");
    c.grad_clip = json_float(j, "grad_clip");
    c.eval_every = json_int(j, "eval_every");
    c.eval_batches = json_int(j, "eval_batches");
    c.ckpt_every = json_int(j, "ckpt_every");
    // Checkpoints written before the switch existed have none: they trained in fp32.
    c.dtype = parse_dtype(j.contains("dtype") ? json_string(j, "dtype") : "fp32");
    c.seed = parse_u64_field("seed", json_string(j, "seed"));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("TrainConfig JSON: ") + e.what());
  }
  c.validate();
  return c;
}

}  // namespace aha
