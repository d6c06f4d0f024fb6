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

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/safetensors_header.h"
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

// Reads a regular file whose header passes every rule of the format
// (model/safetensors_header.cpp lists them). `check_header`, when given, sees
// the checked header before any tensor is allocated or read, and may throw:
// a caller that knows what the file must hold refuses it while it costs
// nothing. Throws a std::runtime_error naming `path` and the problem: a
// missing file, a directory, FIFO or device, a truncated file, a header
// length beyond the file or over the format's limit, bad header JSON, a dtype
// other than F32, a malformed shape, offsets that overlap, leave a gap or
// pass the data, a byte count that does not match its shape, a tensor named twice.
SafetensorsFile read_safetensors(const std::string& path,
                                 const std::function<void(const SafetensorsHeader&)>& check_header = nullptr);

}  // namespace aha
