#include "model/checkpoint.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include "model/metadata_field.h"

namespace aha {
namespace {

[[noreturn]] void checkpoint_error(const std::string& path, const std::string& what) {
  throw std::runtime_error("checkpoint '" + path + "': " + what);
}

// The tensor `name` of the file, which must have `shape`.
const Tensor& tensor_with_shape(const SafetensorsFile& file, const std::string& name, const Shape& shape) {
  if (!file.has(name)) checkpoint_error(file.path, "missing tensor '" + name + "'");
  const Tensor& t = file.get(name);
  if (t.shape() != shape)
    checkpoint_error(file.path, "tensor '" + name + "' has shape " + t.shape().str() +
                                    " but the model needs " + shape.str());
  return t;
}

}  // namespace

void save_checkpoint(const std::string& path, const GPT& model, const std::string& tokenizer,
                     const std::map<std::string, std::string>& extra_metadata, AdamW* optimizer) {
  std::map<std::string, std::string> metadata = extra_metadata;
  metadata["format"] = kCheckpointFormat;
  metadata["config"] = to_json(model.config());
  metadata["tokenizer"] = tokenizer;
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const NamedParam& p : model.named_params()) tensors.push_back({p.name, p.var.value()});
  if (optimizer) {
    const auto& named = model.named_params();
    AdamW& state = *optimizer;
    if (state.first_moments().size() != named.size())
      checkpoint_error(path, "the optimizer holds " + std::to_string(state.first_moments().size()) +
                                 " parameters, the model " + std::to_string(named.size()));
    for (size_t i = 0; i < named.size(); ++i) {
      tensors.push_back({moment_name("m", named[i].name), state.first_moments()[i]});
      tensors.push_back({moment_name("v", named[i].name), state.second_moments()[i]});
    }
    metadata[kOptimizerStepsKey] = std::to_string(optimizer->steps());
  }
  write_safetensors(path, tensors, metadata);
}

Checkpoint Checkpoint::read(const std::string& path) {
  Checkpoint c;
  c.file_ = read_safetensors(path, [&](const SafetensorsHeader& header) {
    c.layout_ = check_checkpoint_layout(path, header);
  });
  return c;
}

const std::string& Checkpoint::metadata_value(const std::string& key) const {
  auto it = file_.metadata.find(key);
  if (it == file_.metadata.end()) checkpoint_error(file_.path, "metadata has no '" + key + "'");
  return it->second;
}

int64_t Checkpoint::metadata_int(const std::string& key, int64_t min, int64_t max) const {
  const std::string& text = metadata_value(key);
  try {
    return parse_int_field(key, text, min, max);
  } catch (const std::runtime_error& e) {
    checkpoint_error(file_.path, std::string("metadata ") + e.what());
  }
}

uint64_t Checkpoint::metadata_u64(const std::string& key) const {
  const std::string& text = metadata_value(key);
  try {
    return parse_u64_field(key, text);
  } catch (const std::runtime_error& e) {
    checkpoint_error(file_.path, std::string("metadata ") + e.what());
  }
}

void Checkpoint::check_vocab_size(int tokenizer_vocab_size, const std::string& tokenizer_name) const {
  if (config().vocab_size != tokenizer_vocab_size)
    checkpoint_error(file_.path, "metadata 'config' field 'vocab_size' = " + std::to_string(config().vocab_size) +
                                     " does not match the tokenizer '" + tokenizer_name + "', which has " +
                                     std::to_string(tokenizer_vocab_size) + " tokens");
}

GPT Checkpoint::load_model(Device device) const {
  GPT model(config(), device);
  load_model_into(model);
  return model;
}

void Checkpoint::load_model_into(GPT& model) const {
  if (model.config() != config())
    checkpoint_error(file_.path, "config mismatch: the checkpoint has " + config().str() +
                                     ", the model has " + model.config().str());
  for (const NamedParam& p : model.named_params()) {
    Var param = p.var;  // a handle to the model's parameter: writing its value writes the model
    param.value().copy_from(tensor_with_shape(file_, p.name, param.shape()));
  }
}

bool Checkpoint::has_optimizer() const { return layout_.has_optimizer; }

void Checkpoint::load_optimizer_into(AdamW& optimizer, const GPT& model) const {
  if (!has_optimizer()) checkpoint_error(file_.path, "holds no optimizer state (saved without it)");
  if (model.config() != config())
    checkpoint_error(file_.path, "config mismatch: the checkpoint has " + config().str() +
                                     ", the model has " + model.config().str());
  const auto& named = model.named_params();
  if (optimizer.first_moments().size() != named.size())
    checkpoint_error(file_.path, "the optimizer holds " + std::to_string(optimizer.first_moments().size()) +
                                     " parameters, the model " + std::to_string(named.size()));
  for (size_t i = 0; i < named.size(); ++i) {
    const Shape& shape = named[i].var.shape();
    optimizer.first_moments()[i].copy_from(tensor_with_shape(file_, moment_name("m", named[i].name), shape));
    optimizer.second_moments()[i].copy_from(tensor_with_shape(file_, moment_name("v", named[i].name), shape));
  }
  optimizer.set_steps(layout_.optimizer_steps);
}

}  // namespace aha
