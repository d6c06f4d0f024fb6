#include "model/checkpoint.h"

#include <stdexcept>
#include <utility>
#include <vector>

namespace aha {

const char* const kCheckpointFormat = "aha-gpt-1";

namespace {

const char* const kOptimizerSteps = "optimizer.steps";

std::string moment_name(const char* which, const std::string& param) {
  return std::string("optimizer.") + which + "." + param;
}

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
    metadata[kOptimizerSteps] = std::to_string(optimizer->steps());
  }
  write_safetensors(path, tensors, metadata);
}

Checkpoint Checkpoint::read(const std::string& path) {
  Checkpoint c;
  c.file_ = read_safetensors(path);
  const auto& meta = c.file_.metadata;
  auto format = meta.find("format");
  if (format == meta.end() || format->second != kCheckpointFormat)
    checkpoint_error(path, std::string("not an aha GPT checkpoint (metadata 'format' is ") +
                               (format == meta.end() ? "missing" : "'" + format->second + "'") +
                               ", expected '" + kCheckpointFormat + "')");
  try {
    c.config_ = gpt_config_from_json(c.metadata_value("config"));
  } catch (const std::exception& e) {
    checkpoint_error(path, std::string("bad model config in the metadata: ") + e.what());
  }
  c.tokenizer_ = c.metadata_value("tokenizer");
  return c;
}

const std::string& Checkpoint::metadata_value(const std::string& key) const {
  auto it = file_.metadata.find(key);
  if (it == file_.metadata.end()) checkpoint_error(file_.path, "metadata has no '" + key + "'");
  return it->second;
}

uint64_t Checkpoint::metadata_u64(const std::string& key) const {
  const std::string& text = metadata_value(key);
  try {
    size_t used = 0;
    const uint64_t value = std::stoull(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  throw std::runtime_error("checkpoint '" + path() + "': metadata '" + key + "' is not a number: '" + text + "'");
}

GPT Checkpoint::load_model(Device device) const {
  GPT model(config_, device);
  load_model_into(model);
  return model;
}

void Checkpoint::load_model_into(GPT& model) const {
  if (model.config() != config_)
    checkpoint_error(file_.path, "config mismatch: the checkpoint has " + config_.str() +
                                     ", the model has " + model.config().str());
  for (const NamedParam& p : model.named_params()) {
    Var param = p.var;  // a handle to the model's parameter: writing its value writes the model
    param.value().copy_from(tensor_with_shape(file_, p.name, param.shape()));
  }
}

bool Checkpoint::has_optimizer() const { return file_.metadata.count(kOptimizerSteps) > 0; }

void Checkpoint::load_optimizer_into(AdamW& optimizer, const GPT& model) const {
  if (!has_optimizer()) checkpoint_error(file_.path, "holds no optimizer state (saved without it)");
  if (model.config() != config_)
    checkpoint_error(file_.path, "config mismatch: the checkpoint has " + config_.str() +
                                     ", the model has " + model.config().str());
  const auto& named = model.named_params();
  if (optimizer.first_moments().size() != named.size())
    checkpoint_error(file_.path, "the optimizer holds " + std::to_string(optimizer.first_moments().size()) +
                                     " parameters, the model " + std::to_string(named.size()));
  const std::string& steps_text = metadata_value(kOptimizerSteps);
  int64_t steps = 0;
  try {
    size_t used = 0;
    steps = std::stoll(steps_text, &used);
    if (used != steps_text.size() || steps < 0) throw std::invalid_argument(steps_text);
  } catch (const std::exception&) {
    checkpoint_error(file_.path, "metadata '" + std::string(kOptimizerSteps) + "' is not a step count: '" +
                                     steps_text + "'");
  }
  for (size_t i = 0; i < named.size(); ++i) {
    const Shape& shape = named[i].var.shape();
    optimizer.first_moments()[i].copy_from(tensor_with_shape(file_, moment_name("m", named[i].name), shape));
    optimizer.second_moments()[i].copy_from(tensor_with_shape(file_, moment_name("v", named[i].name), shape));
  }
  optimizer.set_steps(steps);
}

}  // namespace aha
