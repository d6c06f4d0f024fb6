// The safetensors file format (Hugging Face), float32 only:
//
//   [8 bytes]  N, the header length, little-endian uint64
//   [N bytes]  UTF-8 JSON: {"__metadata__": {string: string},
//                           "<name>": {"dtype": "F32", "shape": [..],
//                                      "data_offsets": [begin, end]}, ...}
//   [rest]     the tensors' raw little-endian bytes; offsets count from here
//
// Files written here are readable by the Python `safetensors` package, and
// files it writes are readable here. Writes are atomic: the bytes go to a
// temporary file in the same folder, which is fsync'ed and then renamed over
// the target, so a crash mid-write leaves the old file as it was.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace aha {

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order, on the CPU

  bool has(const std::string& name) const;
  // Throws naming `path` and the tensor when it is missing.
  const Tensor& get(const std::string& name) const;
  std::string path;  // where it was read from, for error messages
};

// Tensors may be on any device; names must be unique and non-empty.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Throws a std::runtime_error naming `path` and the problem for a missing or
// truncated file, a header length beyond the file, bad header JSON, a dtype
// other than F32, a malformed shape, or data offsets out of range.
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace aha
