// The GRPO config stored in a checkpoint's metadata ("grpo.config") is read
// strictly (model/metadata_field.h): integers are integers that fit, floats
// are finite, the seed is an unsigned decimal, the JSON is shallow. Before,
// 2.5 prompts read as 2 and a seed of "-1" as 2^64 - 1, without a word.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "grpo/trainer.h"

using namespace aha;

TEST_CASE("grpo config JSON: a hostile field is refused, naming it, not narrowed") {
  const GrpoConfig valid;
  CHECK(to_json(grpo_config_from_json(to_json(valid))) == to_json(valid));
  auto error_with = [&](const char* key, const nlohmann::json& value) {
    nlohmann::json j = nlohmann::json::parse(to_json(valid));
    j[key] = value;
    try {
      grpo_config_from_json(j.dump());
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_with("prompts", 2.5).find("grpo config JSON: field 'prompts' = '2.5' is not an integer") == 0);
  CHECK(error_with("group_size", 4294967300ull).find("field 'group_size' = 4294967300 is out of range") !=
        std::string::npos);
  CHECK(error_with("temperature", 1e300).find("field 'temperature' = 1e+300 is not a finite float") !=
        std::string::npos);
  CHECK(error_with("difficulties", nlohmann::json::array({1, 4294967297ull}))
            .find("field 'difficulties[1]' = 4294967297 is out of range") != std::string::npos);
  CHECK(error_with("seed", "-1").find("field 'seed' = '-1' is not an unsigned integer") != std::string::npos);
  CHECK(error_with("steps", nlohmann::json::array({nlohmann::json::array({1})}))
            .find("JSON nested more than two deep") != std::string::npos);
}
