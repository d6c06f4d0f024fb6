#include "model/checkpoint_layout.h"

#include <set>
#include <stdexcept>

#include "model/metadata_field.h"

namespace aha {

const char* const kCheckpointFormat = "aha-gpt-1";
const char* const kOptimizerStepsKey = "optimizer.steps";

namespace {

constexpr int kMlpExpansion = 4;  // the MLP's hidden width is 4C, as in model/gpt.cpp
constexpr int64_t kParamsPerBlock = 16;

// A block's parameters in GPT::named_params() order; each size a multiple of C.
struct BlockParam {
  const char* suffix;
  std::vector<int> widths;
};
const BlockParam kBlockParams[kParamsPerBlock] = {
    {"ln_1.weight", {1}},        {"ln_1.bias", {1}},
    {"attn.q.weight", {1, 1}},   {"attn.q.bias", {1}},
    {"attn.k.weight", {1, 1}},   {"attn.k.bias", {1}},
    {"attn.v.weight", {1, 1}},   {"attn.v.bias", {1}},
    {"attn.c_proj.weight", {1, 1}}, {"attn.c_proj.bias", {1}},
    {"ln_2.weight", {1}},        {"ln_2.bias", {1}},
    {"mlp.c_fc.weight", {1, kMlpExpansion}}, {"mlp.c_fc.bias", {kMlpExpansion}},
    {"mlp.c_proj.weight", {kMlpExpansion, 1}}, {"mlp.c_proj.bias", {1}},
};

[[noreturn]] void checkpoint_error(const std::string& path, const std::string& what) {
  throw std::runtime_error("checkpoint '" + path + "': " + what);
}

const std::string& required_metadata(const std::string& path, const SafetensorsHeader& header, const char* key) {
  auto it = header.metadata.find(key);
  if (it == header.metadata.end()) checkpoint_error(path, std::string("metadata has no '") + key + "'");
  return it->second;
}

// The tensor `name` is in the file with the shape `spec` implies.
void require_tensor(const std::string& path, const SafetensorsHeader& header, const std::string& name,
                    const ParamSpec& spec, const std::string& missing_note) {
  const SafetensorsEntry* t = header.find(name);
  if (!t) checkpoint_error(path, "missing tensor '" + name + "'" + missing_note);
  if (t->shape != spec.shape)
    checkpoint_error(path, "tensor '" + name + "' has shape " + shape_text(t->shape) + " but the model needs " +
                               shape_text(spec.shape) + " (config " + spec.implied_by + ")");
}

// Every tensor the config implies is there, with its shape, and no other.
// Walked one name at a time, stopping at the first missing one, so a config
// that claims a million blocks costs no more than the file's own tensors.
void check_tensors(const std::string& path, const SafetensorsHeader& header, const CheckpointLayout& layout) {
  const GPTConfig& config = layout.config;
  const int64_t count = gpt_param_count(config);
  for (int64_t i = 0; i < count; ++i) {
    const ParamSpec spec = gpt_param_spec(config, i);
    const int64_t block = (i - 2) / kParamsPerBlock;
    const bool opens_block = i >= 2 && i < count - 2 && (i - 2) % kParamsPerBlock == 0;
    if (opens_block && block > 0 && !header.find(spec.name))
      checkpoint_error(path, "metadata 'config' field 'n_layers' = " + std::to_string(config.n_layers) +
                                 ", but the file holds no tensor '" + spec.name + "': it has " +
                                 std::to_string(block) + " block" + (block == 1 ? "" : "s"));
    require_tensor(path, header, spec.name, spec, "");
    if (layout.has_optimizer) {
      const std::string note = std::string(" (metadata '") + kOptimizerStepsKey + "' says the optimizer state is here)";
      require_tensor(path, header, moment_name("m", spec.name), spec, note);
      require_tensor(path, header, moment_name("v", spec.name), spec, note);
    }
  }
  const uint64_t expected = (uint64_t)count * (layout.has_optimizer ? 3 : 1);
  if (header.tensors.size() == expected) return;
  // Every expected tensor was found, so this set is no bigger than the file's.
  std::set<std::string> names;
  for (int64_t i = 0; i < count; ++i) {
    const std::string name = gpt_param_spec(config, i).name;
    names.insert(name);
    if (layout.has_optimizer) names.insert({moment_name("m", name), moment_name("v", name)});
  }
  for (const SafetensorsEntry& t : header.tensors)
    if (!names.count(t.name))
      checkpoint_error(path, "tensor " + quoted_excerpt(t.name) + " is not a parameter of the config (" + config.str() +
                                 ")" + (layout.has_optimizer ? " nor its optimizer state" : ""));
}

}  // namespace

std::string moment_name(const char* which, const std::string& param) {
  return std::string("optimizer.") + which + "." + param;
}

int64_t gpt_param_count(const GPTConfig& config) { return 2 + kParamsPerBlock * (int64_t)config.n_layers + 2; }

ParamSpec gpt_param_spec(const GPTConfig& config, int64_t index) {
  const int64_t V = config.vocab_size, T = config.context, C = config.d_model;
  const std::string by_width = "d_model = " + std::to_string(C);
  const int64_t count = gpt_param_count(config);
  if (index < 0 || index >= count)
    throw std::out_of_range("gpt_param_spec: index " + std::to_string(index) + " of " + std::to_string(count));
  if (index == 0) return {"wte.weight", {V, C}, "vocab_size = " + std::to_string(V) + ", " + by_width};
  if (index == 1) return {"wpe.weight", {T, C}, "context = " + std::to_string(T) + ", " + by_width};
  if (index == count - 2) return {"ln_f.weight", {C}, by_width};
  if (index == count - 1) return {"ln_f.bias", {C}, by_width};
  const int64_t block = (index - 2) / kParamsPerBlock;
  const BlockParam& p = kBlockParams[(index - 2) % kParamsPerBlock];
  std::vector<int64_t> shape;
  for (int width : p.widths) shape.push_back(width * C);
  return {"h." + std::to_string(block) + "." + p.suffix, shape, by_width};
}

CheckpointLayout check_checkpoint_layout(const std::string& path, const SafetensorsHeader& header) {
  const auto& meta = header.metadata;
  auto format = meta.find("format");
  if (format == meta.end() || format->second != kCheckpointFormat)
    checkpoint_error(path, std::string("not an aha GPT checkpoint (metadata 'format' is ") +
                               (format == meta.end() ? "missing" : quoted_excerpt(format->second)) + ", expected '" +
                               kCheckpointFormat + "')");
  CheckpointLayout layout;
  const std::string& config = required_metadata(path, header, "config");
  try {
    layout.config = gpt_config_from_json(config);
  } catch (const std::exception& e) {
    checkpoint_error(path, std::string("bad model config in the metadata: ") + e.what());
  }
  layout.tokenizer = required_metadata(path, header, "tokenizer");
  auto steps = meta.find(kOptimizerStepsKey);
  layout.has_optimizer = steps != meta.end();
  if (layout.has_optimizer) {
    try {
      layout.optimizer_steps = parse_int_field(kOptimizerStepsKey, steps->second, 0, INT64_MAX);
    } catch (const std::runtime_error& e) {
      checkpoint_error(path, std::string("metadata ") + e.what());
    }
  }
  check_tensors(path, header, layout);
  return layout;
}

}  // namespace aha
