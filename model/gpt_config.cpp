// GPTConfig (model/config.h): its checks and its JSON, the "config" field of
// every checkpoint. Apart from the training config and the presets because
// nothing here needs the tensor layer: the checkpoint reader's checks
// (model/checkpoint_layout.h) and their fuzz target link this file alone.
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "model/config.h"
#include "model/metadata_field.h"

namespace aha {
namespace {

[[noreturn]] void config_error(const std::string& what) { throw std::runtime_error("GPTConfig: " + what); }

void require_positive(const char* field, int value) {
  if (value <= 0) config_error(std::string(field) + " must be > 0, got " + std::to_string(value));
}

}  // namespace

void GPTConfig::validate() const {
  require_positive("vocab_size", vocab_size);
  require_positive("context", context);
  require_positive("d_model", d_model);
  require_positive("n_layers", n_layers);
  require_positive("n_heads", n_heads);
  if (d_model % n_heads != 0)
    config_error("d_model " + std::to_string(d_model) + " is not divisible by n_heads " +
                 std::to_string(n_heads));
  // Token ids travel as floats (tensor/tensor.h): exact only below 2^24.
  if (vocab_size > (1 << 24)) config_error("vocab_size " + std::to_string(vocab_size) + " exceeds 2^24");
}

bool GPTConfig::operator==(const GPTConfig& o) const {
  return vocab_size == o.vocab_size && context == o.context && d_model == o.d_model &&
         n_layers == o.n_layers && n_heads == o.n_heads;
}

std::string GPTConfig::str() const {
  return "vocab_size=" + std::to_string(vocab_size) + " context=" + std::to_string(context) +
         " d_model=" + std::to_string(d_model) + " n_layers=" + std::to_string(n_layers) +
         " n_heads=" + std::to_string(n_heads);
}

std::string to_json(const GPTConfig& c) {
  nlohmann::json j = {{"vocab_size", c.vocab_size}, {"context", c.context}, {"d_model", c.d_model},
                      {"n_layers", c.n_layers},     {"n_heads", c.n_heads}};
  return j.dump();
}

GPTConfig gpt_config_from_json(const std::string& text) {
  GPTConfig c;
  try {
    const nlohmann::json j = parse_bounded_json(text);  // strict and bounded: model/metadata_field.h
    c.vocab_size = json_int(j, "vocab_size");
    c.context = json_int(j, "context");
    c.d_model = json_int(j, "d_model");
    c.n_layers = json_int(j, "n_layers");
    c.n_heads = json_int(j, "n_heads");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("GPTConfig JSON: ") + e.what());
  }
  c.validate();
  return c;
}

}  // namespace aha
