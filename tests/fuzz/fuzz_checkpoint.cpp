// libFuzzer target: the checkpoint reader's checks (model/safetensors_header.h,
// model/checkpoint_layout.h), run on any bytes as a whole file, never crash:
// they accept, or throw a std::runtime_error. What they accept keeps their
// promise: the tensors sorted, contiguous from 0 and covering the data section
// exactly, and every tensor the config implies present with its shape.
//
// Random bytes rarely get past the header's first brace, so inputs whose
// first byte is odd are edits of a valid checkpoint's header instead: the
// next two bytes pick a position, the rest overwrite the header from there.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "model/checkpoint_layout.h"
#include "model/safetensors_header.h"

namespace {

const char* const kPath = "<fuzz input>";

// The header and data section of a valid checkpoint of a small GPT, made
// without the tensor layer: shapes from gpt_param_spec, zeros for the values.
struct ValidFile {
  std::string header, data;
};

ValidFile valid_file() {
  const aha::GPTConfig config{5, 3, 4, 2, 2};
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", aha::kCheckpointFormat}, {"config", aha::to_json(config)}, {"tokenizer", "t"}};
  uint64_t offset = 0;
  for (int64_t i = 0; i < aha::gpt_param_count(config); ++i) {
    const aha::ParamSpec spec = aha::gpt_param_spec(config, i);
    uint64_t bytes = 4;
    for (int64_t d : spec.shape) bytes *= (uint64_t)d;
    header[spec.name] = {{"dtype", "F32"}, {"shape", spec.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  return {header.dump(), std::string(offset, '\0')};
}

// The checks, as read_safetensors and Checkpoint::read run them on a file.
void check_file(const std::string& file) {
  if (file.size() < 8) return;  // read_safetensors refuses these before any parsing
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= (uint64_t)(unsigned char)file[(size_t)i] << (8 * i);
  const uint64_t n = aha::checked_header_length(kPath, length, file.size());
  const aha::SafetensorsHeader header = aha::parse_safetensors_header(kPath, file.substr(8, n), file.size() - 8 - n);

  uint64_t covered = 0;
  for (size_t i = 0; i < header.tensors.size(); ++i) {
    const aha::SafetensorsEntry& e = header.tensors[i];
    if (e.begin != covered || e.end < e.begin || header.find(e.name) != &e) std::abort();
    covered = e.end;
  }
  if (covered != header.data_size) std::abort();

  const aha::CheckpointLayout layout = aha::check_checkpoint_layout(kPath, header);
  layout.config.validate();
  for (int64_t i = 0; i < aha::gpt_param_count(layout.config); ++i) {
    const aha::ParamSpec spec = aha::gpt_param_spec(layout.config, i);
    const aha::SafetensorsEntry* t = header.find(spec.name);
    if (!t || t->shape != spec.shape) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ValidFile valid = valid_file();
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::string file = input;
  if (size >= 3 && (data[0] & 1)) {
    std::string header = valid.header;
    const size_t at = ((size_t)data[1] | (size_t)data[2] << 8) % header.size();
    header.replace(at, std::min(size - 3, header.size() - at), input.substr(3));
    file.clear();
    for (int i = 0; i < 8; ++i) file += (char)(((uint64_t)header.size() >> (8 * i)) & 0xff);
    file += header + valid.data;
  }
  try {
    check_file(file);
  } catch (const std::runtime_error&) {
    // A refused file: the expected outcome for almost every input.
  }
  return 0;
}
