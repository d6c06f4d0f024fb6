// Numbers read from a checkpoint's metadata, strictly. The metadata is text
// anyone can edit, and a number read loosely is a silent change of the run:
// std::stoull("-5") wraps to 2^64 - 5, (int)2147483648 is negative, JSON's
// 2.5 read as an int is 2, and 1e300 read as a float is infinity. Here an
// integer is an integer (decimal digits, nothing before or after), it is in
// the range the caller names, and a float is finite; anything else throws a
// std::runtime_error naming the field and quoting the value.
//
// No tensors here: the checkpoint's header is checked with these before
// anything is allocated (model/checkpoint_layout.h), and the fuzz target
// links them alone (tests/fuzz/fuzz_checkpoint.cpp).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace aha {

// "1200" -> 1200. Decimal digits with an optional leading '-'; no '+', no
// spaces, no fraction or exponent. Throws "field 'train.step' = '-5' is out
// of range [0, 2147483647]" or "... is not an integer".
int64_t parse_int_field(const std::string& field, const std::string& text, int64_t min, int64_t max);
// The whole uint64 range (seeds, RNG offsets); digits only.
uint64_t parse_u64_field(const std::string& field, const std::string& text);

// A config stored as JSON text in the metadata ("config", "train.config",
// "grpo.config"): at most kMaxConfigJsonBytes, nested at most two deep (an
// object of scalars and lists of scalars), so that a hostile value cannot
// make the parse allocate far more than the text itself. Throws "JSON nested
// more than two deep", "bad JSON: ...", ...; the caller names the field.
constexpr size_t kMaxConfigJsonBytes = 1 << 20;
nlohmann::json parse_bounded_json(const std::string& text);

// Member `key` of the JSON object `j`. Throws "missing field 'key'", or
// "field 'key' = 2.5 is not an integer in [-2147483648, 2147483647]".
int json_int(const nlohmann::json& j, const char* key);
std::vector<int> json_int_list(const nlohmann::json& j, const char* key);
// Any JSON number whose float value is finite (1e300 is not).
float json_float(const nlohmann::json& j, const char* key);
std::string json_string(const nlohmann::json& j, const char* key);

// At most `max_chars` of a value for an error message, quoted, with "..." when cut.
std::string quoted_excerpt(const std::string& text, size_t max_chars = 64);

}  // namespace aha
