#include "model/safetensors_header.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "model/metadata_field.h"

namespace aha {
namespace {

// This reader's one dtype, and its size in bytes.
const char* const kOnlyDtype = "F32";
constexpr uint64_t kOnlyDtypeBytes = 4;

[[noreturn]] void header_error(const std::string& path, const std::string& what) {
  throw std::runtime_error("safetensors '" + path + "': " + what);
}

std::string name_text(const std::string& name) { return "tensor " + quoted_excerpt(name); }

std::string offsets_text(const SafetensorsEntry& e) {
  return "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
}

// The first pass: is the header JSON at all? Builds nothing; the parser
// itself keeps one bit per level of nesting.
struct JsonSyntax : nlohmann::json_sax<nlohmann::json> {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    throw std::runtime_error(std::string("bad header JSON: ") + e.what());
  }
};

// The second pass: the header's grammar, checked as the parser reads it, so
// nothing is kept but the entries themselves (memory in proportion to the
// header's bytes, never to a nesting or a list it spells out):
//
//   header   = { name: tensor, ..., "__metadata__": { key: "value", ... } }
//   tensor   = { "dtype": "F32", "shape": [size, ...], "data_offsets": [begin, end] }
//
// Each `where` is the place in that grammar of the next token.
class HeaderGrammar : public nlohmann::json_sax<nlohmann::json> {
 public:
  HeaderGrammar(const std::string& path, SafetensorsHeader& out) : path_(path), out_(out) {}

  bool null() override { unexpected("null"); }
  bool boolean(bool) override { unexpected("a boolean"); }
  bool number_integer(number_integer_t) override { unexpected("a negative number"); }
  bool number_float(number_float_t, const string_t&) override { unexpected("a fractional number"); }
  bool binary(binary_t&) override { unexpected("binary data"); }

  bool number_unsigned(number_unsigned_t value) override {
    if (where_ == kShape) {
      if (entry_.shape.size() == (size_t)kMaxSafetensorsDims) fail_tensor("shape is not a list of at most 4 sizes");
      if (value > (uint64_t)INT64_MAX)
        fail_tensor("shape has a bad size " + std::to_string(value) + " (over 2^63 - 1)");
      entry_.shape.push_back((int64_t)value);
      return true;
    }
    if (where_ == kOffsets) {
      if (offsets_read_ == 2) fail_tensor("data_offsets are not two byte offsets (a third one)");
      (offsets_read_++ == 0 ? entry_.begin : entry_.end) = value;
      return true;
    }
    unexpected("a number");
  }

  bool string(string_t& value) override {
    if (where_ == kMetadataValue) {
      out_.metadata[metadata_key_] = value;
      where_ = kMetadata;
      return true;
    }
    if (where_ == kDtype) {
      // The reference knows BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F8_*, F16,
      // BF16, F32 and F64; every tensor of an aha checkpoint is F32.
      if (value != kOnlyDtype)
        fail_tensor("dtype \"" + value.substr(0, 32) + "\" is not supported (this reader takes F32 only)");
      where_ = kTensor;
      return true;
    }
    unexpected("a string");
  }

  bool start_object(std::size_t) override {
    if (where_ == kStart) {
      where_ = kRoot;
    } else if (where_ == kEntry && name_ == "__metadata__") {
      where_ = kMetadata;
    } else if (where_ == kEntry) {
      entry_ = SafetensorsEntry{name_, {}, 0, 0};
      seen_dtype_ = seen_shape_ = seen_offsets_ = false;
      offsets_read_ = 0;
      where_ = kTensor;
    } else {
      unexpected("an object");
    }
    return true;
  }

  bool key(string_t& key) override {
    if (where_ == kRoot) {
      // JSON allows a repeated key (and serde keeps the last); a file that
      // names a tensor twice is refused here.
      const bool repeated = key == "__metadata__" ? std::exchange(seen_metadata_, true)
                                                   : !out_.index.emplace(key, 0).second;
      if (repeated) header_error(path_, quoted_excerpt(key) + " appears twice in the header");
      name_ = key;
      where_ = kEntry;
    } else if (where_ == kMetadata) {
      if (out_.metadata.count(key))
        header_error(path_, "__metadata__ has the key " + quoted_excerpt(key) + " twice");
      metadata_key_ = key;
      where_ = kMetadataValue;
    } else if (where_ == kTensor) {
      bool* seen = key == "dtype"          ? &seen_dtype_
                   : key == "shape"        ? &seen_shape_
                   : key == "data_offsets" ? &seen_offsets_
                                           : nullptr;
      if (!seen) fail_tensor("unknown member " + quoted_excerpt(key) + " (expected dtype, shape and data_offsets)");
      if (*seen) fail_tensor("'" + key + "' appears twice");
      *seen = true;
      where_ = key == "dtype" ? kDtype : key == "shape" ? kShapeOpen : kOffsetsOpen;
    }
    return true;
  }

  bool end_object() override {
    if (where_ == kTensor) {
      if (!seen_dtype_ || !seen_shape_ || !seen_offsets_) fail_tensor("needs dtype, shape and data_offsets");
      out_.tensors.push_back(entry_);
      where_ = kRoot;
    } else if (where_ == kMetadata) {
      where_ = kRoot;
    } else {
      where_ = kDone;
    }
    return true;
  }

  bool start_array(std::size_t) override {
    if (where_ == kShapeOpen) {
      where_ = kShape;
    } else if (where_ == kOffsetsOpen) {
      where_ = kOffsets;
    } else {
      unexpected("a list");
    }
    return true;
  }

  bool end_array() override {
    if (where_ == kOffsets) {
      if (offsets_read_ != 2) fail_tensor("data_offsets are not two byte offsets");
      if (entry_.begin > entry_.end) fail_tensor("data_offsets " + offsets_text(entry_) + " end before they begin");
    }
    where_ = kTensor;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    header_error(path_, std::string("bad header JSON: ") + e.what());
  }

 private:
  enum Where {
    kStart, kRoot, kEntry, kMetadata, kMetadataValue, kTensor, kDtype, kShapeOpen, kShape, kOffsetsOpen, kOffsets, kDone
  };

  [[noreturn]] void fail_tensor(const std::string& what) { header_error(path_, name_text(entry_.name) + ": " + what); }

  // A token the grammar has no place for here: say what was expected.
  [[noreturn]] void unexpected(const std::string& found) {
    switch (where_) {
      case kEntry:
        if (name_ == "__metadata__")
          header_error(path_, "__metadata__ is not an object of strings (found " + found + ")");
        header_error(path_, name_text(name_) + ": its entry is not an object (found " + found + ")");
      case kMetadataValue:
        header_error(path_, "__metadata__ value of " + quoted_excerpt(metadata_key_) + " is not a string (found " +
                                found + ")");
      case kDtype: fail_tensor("dtype is not a string (found " + found + ")");
      case kShapeOpen: fail_tensor("shape is not a list of at most 4 sizes (found " + found + ")");
      case kShape: fail_tensor("shape has a bad size (found " + found + ")");
      case kOffsetsOpen:
      case kOffsets: fail_tensor("data_offsets are not two byte offsets (found " + found + ")");
      default: header_error(path_, "bad header: found " + found + " where the format has none");
    }
  }

  const std::string& path_;
  SafetensorsHeader& out_;
  Where where_ = kStart;
  std::string name_, metadata_key_;
  SafetensorsEntry entry_;
  bool seen_metadata_ = false, seen_dtype_ = false, seen_shape_ = false, seen_offsets_ = false;
  int offsets_read_ = 0;
};

// product(shape) * 4 bytes, or false when it passes 2^64 - 1.
bool byte_count(const std::vector<int64_t>& shape, uint64_t& bytes) {
  bytes = kOnlyDtypeBytes;
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d != 0 && n > UINT64_MAX / (uint64_t)d) return false;
    n *= (uint64_t)d;
  }
  if (n > UINT64_MAX / kOnlyDtypeBytes) return false;
  bytes = n * kOnlyDtypeBytes;
  return true;
}

}  // namespace

const SafetensorsEntry* SafetensorsHeader::find(const std::string& name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensors[it->second];
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

uint64_t checked_header_length(const std::string& path, uint64_t header_length, uint64_t file_size) {
  if (header_length > kMaxSafetensorsHeaderBytes)
    header_error(path, "header length " + std::to_string(header_length) + " exceeds the format's limit of " +
                           std::to_string(kMaxSafetensorsHeaderBytes) + " bytes: corrupt or not a safetensors file");
  if (file_size < 8 || header_length > file_size - 8)
    header_error(path, "header length " + std::to_string(header_length) + " goes beyond the file (" +
                           std::to_string(file_size) + " bytes): truncated or not a safetensors file");
  return header_length;
}

// The rules of the reference (the Rust crate's SafeTensors::read_metadata and
// Metadata::validate), which a file must pass to be read:
//   1. N, the first 8 bytes, is at most 100,000,000 and 8 + N is within the
//      file (checked_header_length above).
//   2. The N bytes are UTF-8 JSON beginning with '{' (trailing spaces are the
//      writer's padding); "__metadata__", when present, maps strings to strings.
//   3. Every other member is a tensor with a dtype the library knows, a shape
//      and data_offsets [begin, end], begin <= end, counted from the start of
//      the data section.
//   4. Sorted by data_offsets, the tensors are contiguous: the first begins at
//      0 and each begins where the one before ends (no gap, no overlap).
//   5. end - begin = product(shape) * dtype size, computed with overflow checks.
//   6. The last end is the size of the data section: no byte belongs to no tensor.
// Stricter here, as this reader needs: F32 only, at most 4 sizes per shape, a
// tensor named twice refused (the reference keeps the last silently), no
// member in a tensor's entry but those three.
SafetensorsHeader parse_safetensors_header(const std::string& path, const std::string& json, uint64_t data_size) {
  if (json.empty() || json[0] != '{')
    header_error(path, "bad header: the JSON is not an object (it must start with '{')");
  JsonSyntax syntax;
  try {
    nlohmann::json::sax_parse(json, &syntax);
  } catch (const std::runtime_error& e) {
    header_error(path, e.what());
  }
  SafetensorsHeader out;
  out.data_size = data_size;
  HeaderGrammar grammar(path, out);
  nlohmann::json::sax_parse(json, &grammar);

  std::sort(out.tensors.begin(), out.tensors.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name;
  });
  uint64_t covered = 0;  // the data section's bytes [0, covered) belong to the tensors so far
  for (size_t i = 0; i < out.tensors.size(); ++i) {
    const SafetensorsEntry& e = out.tensors[i];
    const std::string what = name_text(e.name) + ": data_offsets " + offsets_text(e);
    if (e.begin < covered)
      header_error(path, what + " overlap " + name_text(out.tensors[i - 1].name) + " " +
                             offsets_text(out.tensors[i - 1]));
    if (e.begin > covered)
      header_error(path, what + " leave a gap of " + std::to_string(e.begin - covered) + " bytes after " +
                             (i == 0 ? std::string("the start of the data section")
                                     : name_text(out.tensors[i - 1].name) + " " + offsets_text(out.tensors[i - 1])));
    if (e.end > data_size)
      header_error(path, what + " out of range: the data section has " + std::to_string(data_size) +
                             " bytes (truncated file?)");
    uint64_t bytes = 0;
    if (!byte_count(e.shape, bytes))
      header_error(path, name_text(e.name) + ": shape " + shape_text(e.shape) + " has more bytes than 2^64 - 1");
    if (e.end - e.begin != bytes)
      header_error(path, what + " span " + std::to_string(e.end - e.begin) + " bytes but shape " +
                             shape_text(e.shape) + " needs " + std::to_string(bytes));
    covered = e.end;
    out.index[e.name] = i;
  }
  if (covered != data_size)
    header_error(path, "the tensors cover " + std::to_string(covered) + " bytes but the data section has " +
                           std::to_string(data_size) + ": " + std::to_string(data_size - covered) +
                           " bytes belong to no tensor");
  return out;
}

}  // namespace aha
