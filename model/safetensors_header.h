// The safetensors header, read and checked with no tensor allocated: the
// rules of the format (model/safetensors.h has the layout) applied as
// strictly as the reference library, Hugging Face's `safetensors`, does.
// A file that passes can be read knowing exactly which bytes each tensor
// takes; one that fails names the file and the rule it breaks.
//
// Apart from the tensor layer so that model/checkpoint_layout.h can check a
// checkpoint's header before anything is built from it, and so that the fuzz
// target (tests/fuzz/fuzz_checkpoint.cpp) can link these checks alone.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aha {

// The reference's cap on the header (MAX_HEADER_SIZE in its Rust source).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;
// Sizes per shape this reader takes: tensor/tensor.h's Shape::kMaxDims.
constexpr int kMaxSafetensorsDims = 4;

struct SafetensorsEntry {
  std::string name;
  std::vector<int64_t> shape;   // at most kMaxSafetensorsDims sizes
  uint64_t begin = 0, end = 0;  // bytes [begin, end) of the data section
};

struct SafetensorsHeader {
  std::map<std::string, std::string> metadata;  // "__metadata__"
  std::vector<SafetensorsEntry> tensors;        // by offset: the order of their bytes in the file
  uint64_t data_size = 0;                       // the data section, which the tensors cover exactly
  std::map<std::string, size_t> index;          // name -> position in `tensors`

  // nullptr when there is no tensor `name`.
  const SafetensorsEntry* find(const std::string& name) const;
};

// The header length N (the file's first 8 bytes, little-endian) of a file of
// `file_size` bytes, checked: at most kMaxSafetensorsHeaderBytes, and 8 + N
// within the file. Returns N.
uint64_t checked_header_length(const std::string& path, uint64_t header_length, uint64_t file_size);

// Parses and checks the N bytes of header JSON of a file whose data section
// has `data_size` bytes (file size - 8 - N). Throws a std::runtime_error
// "safetensors 'PATH': ..." naming the tensor or field and the rule.
SafetensorsHeader parse_safetensors_header(const std::string& path, const std::string& json, uint64_t data_size);

// "[2, 3]", as tensor/tensor.h's Shape::str().
std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace aha
