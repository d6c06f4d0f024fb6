#include "model/metadata_field.h"

#include <climits>
#include <cmath>
#include <stdexcept>

namespace aha {
namespace {

[[noreturn]] void field_error(const std::string& field, const std::string& value, const std::string& what) {
  throw std::runtime_error("field '" + field + "' = " + value + " " + what);
}

std::string range_text(int64_t min, int64_t max) {
  return "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
}

bool all_digits(const std::string& text, size_t from) {
  return from < text.size() && text.find_first_not_of("0123456789", from) == std::string::npos;
}

// The value of a string of digits; false when it passes 2^64 - 1.
bool digits_value(const std::string& text, size_t from, uint64_t& value) {
  value = 0;
  for (size_t i = from; i < text.size(); ++i) {
    const uint64_t digit = (uint64_t)(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  return true;
}

const nlohmann::json& member(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) throw std::runtime_error(std::string("missing field '") + key + "'");
  return j.at(key);
}

int json_to_int(const nlohmann::json& value, const std::string& field) {
  const std::string range = range_text(INT_MIN, INT_MAX);
  // Only integer tokens: 2.0 is a float token, true is a boolean, "3" a string.
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > (uint64_t)INT_MAX) field_error(field, value.dump(), "is out of range " + range);
    return (int)value.get<uint64_t>();
  }
  if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v < INT_MIN || v > INT_MAX) field_error(field, value.dump(), "is out of range " + range);
    return (int)v;
  }
  field_error(field, quoted_excerpt(value.dump()), "is not an integer in " + range);
}

}  // namespace

std::string quoted_excerpt(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return "'" + text + "'";
  return "'" + text.substr(0, max_chars) + "...' (" + std::to_string(text.size()) + " bytes)";
}

int64_t parse_int_field(const std::string& field, const std::string& text, int64_t min, int64_t max) {
  const bool negative = !text.empty() && text[0] == '-';
  const size_t from = negative ? 1 : 0;
  if (!all_digits(text, from)) field_error(field, quoted_excerpt(text), "is not an integer");
  uint64_t magnitude = 0;
  const bool fits = digits_value(text, from, magnitude);
  // |INT64_MIN| = 2^63 is the one magnitude with no positive int64.
  const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  const int64_t value = !fits || magnitude > limit ? 0 : negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
  if (!fits || magnitude > limit || value < min || value > max)
    field_error(field, quoted_excerpt(text), "is out of range " + range_text(min, max));
  return value;
}

uint64_t parse_u64_field(const std::string& field, const std::string& text) {
  if (!all_digits(text, 0)) field_error(field, quoted_excerpt(text), "is not an unsigned integer");
  uint64_t value = 0;
  if (!digits_value(text, 0, value))
    field_error(field, quoted_excerpt(text), "is out of range [0, " + std::to_string(UINT64_MAX) + "]");
  return value;
}

nlohmann::json parse_bounded_json(const std::string& text) {
  if (text.size() > kMaxConfigJsonBytes)
    throw std::runtime_error(std::to_string(text.size()) + " bytes of JSON, over the " +
                             std::to_string(kMaxConfigJsonBytes) + "-byte limit");
  // The callback sees each container as it opens; `depth` counts the ones
  // around it (0 for the top-level object).
  auto shallow = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                       event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth > 1) throw std::runtime_error("JSON nested more than two deep");
    return true;
  };
  try {
    return nlohmann::json::parse(text, shallow);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("bad JSON: ") + e.what());
  }
}

int json_int(const nlohmann::json& j, const char* key) { return json_to_int(member(j, key), key); }

std::vector<int> json_int_list(const nlohmann::json& j, const char* key) {
  const nlohmann::json& list = member(j, key);
  if (!list.is_array()) field_error(key, quoted_excerpt(list.dump()), "is not a list of integers");
  std::vector<int> out;
  for (size_t i = 0; i < list.size(); ++i)
    out.push_back(json_to_int(list[i], std::string(key) + "[" + std::to_string(i) + "]"));
  return out;
}

float json_float(const nlohmann::json& j, const char* key) {
  const nlohmann::json& value = member(j, key);
  if (!value.is_number()) field_error(key, quoted_excerpt(value.dump()), "is not a number");
  const float f = value.get<float>();
  if (!std::isfinite(f)) field_error(key, value.dump(), "is not a finite float");
  return f;
}

std::string json_string(const nlohmann::json& j, const char* key) {
  const nlohmann::json& value = member(j, key);
  if (!value.is_string()) field_error(key, quoted_excerpt(value.dump()), "is not a string");
  return value.get<std::string>();
}

}  // namespace aha
