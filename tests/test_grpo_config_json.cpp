// The GRPO config stored in a checkpoint's metadata ("grpo.config") is read
// strictly (model/metadata_field.h): integers are integers that fit, floats
// are finite, the seed is an unsigned decimal, the JSON is shallow. Before,
// 2.5 prompts read as 2 and a seed of "-1" as 2^64 - 1, without a word.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

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

// The settings' table (AHA_GRPO_SETTINGS, grpo/config.h) makes the JSON form:
// each row is one key, written and read back.
namespace {
int another(int value) { return value + 1; }
float another(float value) { return value + 0.25f; }
bool another(bool value) { return !value; }
uint64_t another(uint64_t value) { return value + (uint64_t(1) << 40); }
std::vector<int> another(const std::vector<int>& value) {
  return value == std::vector<int>{2} ? std::vector<int>{3} : std::vector<int>{2};
}
data::TaskKind another(data::TaskKind value) {
  return value == data::TaskKind::Mul ? data::TaskKind::Add : data::TaskKind::Mul;
}
LossVariant another(LossVariant value) { return value == LossVariant::Dapo ? LossVariant::Grpo : LossVariant::Dapo; }
KvCache another(KvCache value) { return value == KvCache::Bf16 ? KvCache::Fp32 : KvCache::Bf16; }
DType another(DType value) { return value == DType::BF16 ? DType::F32 : DType::BF16; }
}  // namespace

TEST_CASE("grpo config JSON: every setting of the table is one key, and a changed value reads back") {
  const GrpoConfig defaults;
  const nlohmann::json default_json = nlohmann::json::parse(to_json(defaults));
  CHECK(default_json.size() == grpo_settings().size());
  int rows = 0;
#define AHA_GRPO_ROW(field, json_key, flag, check, help)                                       \
  {                                                                                            \
    INFO("setting ", json_key);                                                                 \
    rows++;                                                                                    \
    GrpoConfig changed;                                                                        \
    changed.field = another(changed.field);                                                    \
    const nlohmann::json written = nlohmann::json::parse(to_json(changed));                    \
    CHECK(written.size() == default_json.size());                                              \
    for (const auto& item : default_json.items())                                              \
      CHECK((item.key() == json_key) == (written.at(item.key()) != item.value()));                  \
    const GrpoConfig read = grpo_config_from_json(written.dump());                             \
    CHECK(read.field == changed.field);                                                        \
    CHECK(to_json(read) == written.dump());                                                    \
  }
  AHA_GRPO_ROWS
#undef AHA_GRPO_ROW
  CHECK(rows == (int)grpo_settings().size());
}

TEST_CASE("grpo config JSON: the keys and the flags of the table are unique; every flag is --kebab-case") {
  std::set<std::string> keys, flags;
  for (const GrpoSetting& setting : grpo_settings()) {
    INFO("setting ", setting.key);
    CHECK(keys.insert(setting.key).second);
    if (setting.flag[0] == '\0') continue;
    CHECK(flags.insert(setting.flag).second);
    const std::string flag = setting.flag;
    CHECK(flag.rfind("--", 0) == 0);
    CHECK(flag.find_first_not_of("-abcdefghijklmnopqrstuvwxyz") == std::string::npos);
    CHECK(std::string(setting.help).size() > 0);
  }
  CHECK(flags.count("--steps") == 1);  // the one a resumed run may change (cli/cmd_grpo.cpp)
}

// The JSON form of the default settings, as written at commit 2f3b6cf (when
// the table replaced the hand-written lists): byte for byte what checkpoints
// on disk hold. Never edit it: they must still read.
const char* const kDefaultsWrittenAt2f3b6cf =
    "{\"beta\":0.03999999910593033,\"beta1\":0.8999999761581421,\"beta2\":0.9900000095367432,"
    "\"ckpt_every\":50,\"clip_high\":0.20000000298023224,\"clip_low\":0.20000000298023224,"
    "\"difficulties\":[],\"drop_uniform_groups\":false,\"dtype\":\"fp32\",\"eval_every\":25,"
    "\"eval_problems\":200,\"format_bonus\":0.10000000149011612,\"grad_clip\":1.0,\"group_size\":8,"
    "\"kv_cache\":\"fp32\",\"loss\":\"grpo\",\"lr\":9.999999747378752e-05,\"max_new_tokens\":128,"
    "\"minibatches\":1,\"overlong_buffer\":0,\"prompts\":16,\"refill_rounds\":0,\"scale_by_std\":true,"
    "\"seed\":\"1\",\"steps\":100,\"task\":\"add\",\"temperature\":1.0,\"updates_per_batch\":1,"
    "\"warmup_steps\":0,\"weight_decay\":0.0}";

// A key renamed, a type changed (the seed a number, a float a double) or a
// default moved would break old checkpoints or change runs. The text stays:
// a setting added later leaves the first check comparing without its key,
// and the second must pass as it is, the new setting reading as its default
// (added_later, grpo/config.cpp).
TEST_CASE("grpo config JSON: the default settings' JSON, byte for byte; a checkpoint of 2f3b6cf reads") {
  CHECK(to_json(GrpoConfig()) == kDefaultsWrittenAt2f3b6cf);
  const nlohmann::json old = nlohmann::json::parse(kDefaultsWrittenAt2f3b6cf);
  const nlohmann::json read = nlohmann::json::parse(to_json(grpo_config_from_json(kDefaultsWrittenAt2f3b6cf)));
  for (const auto& item : old.items()) CHECK(read.at(item.key()) == item.value());
}

// Checkpoints written before the KV cache switch, dynamic sampling and the
// bf16 update have no kv_cache, refill_rounds or dtype: they ran fp32 with no
// refill, and read so. Any other key is required.
TEST_CASE("grpo config JSON: only the keys added later may be missing") {
  GrpoConfig changed;
  changed.rollout.kv_cache = KvCache::Bf16;
  changed.refill_rounds = 3;
  changed.dtype = DType::BF16;
  const nlohmann::json full = nlohmann::json::parse(to_json(changed));
  for (const GrpoSetting& setting : grpo_settings()) {
    INFO("setting ", setting.key);
    nlohmann::json old = full;
    old.erase(setting.key);
    const std::string key = setting.key;
    if (key == "kv_cache" || key == "refill_rounds" || key == "dtype") {
      const GrpoConfig read = grpo_config_from_json(old.dump());
      nlohmann::json back = nlohmann::json::parse(to_json(read));
      CHECK(back.at(key) == nlohmann::json::parse(to_json(GrpoConfig())).at(key));
      back.erase(key);
      CHECK(back == old);
    } else {
      CHECK_THROWS_WITH_AS(grpo_config_from_json(old.dump()), doctest::Contains(setting.key), std::runtime_error);
    }
  }
}
