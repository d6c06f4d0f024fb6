#include "cli/grpo_options.h"

#include <CLI/CLI.hpp>
#include <sstream>
#include <type_traits>

#include "data/task.h"

namespace aha {
namespace {

using Override = std::function<void(GrpoConfig&)>;

// A row's FlagCheck (grpo/config.h) as CLI11's check. An int's range is an int
// range, so that --help shows "INT in [1 - 1073741824]".
void add_check(CLI::Option* option, const FlagCheck& check, bool is_int) {
  switch (check.kind) {
    case FlagCheck::Any:
    case FlagCheck::Fixed:
      break;
    case FlagCheck::Positive:
      if (is_int) option->check(CLI::Range(1, 1 << 30));
      else option->check(CLI::PositiveNumber);
      break;
    case FlagCheck::NonNegative:
      option->check(CLI::NonNegativeNumber);
      break;
    case FlagCheck::Range:
      if (is_int) option->check(CLI::Range(int(check.low), int(check.high)));
      else option->check(CLI::Range(check.low, check.high));
      break;
  }
}

// How a flag reads each type of setting, calling `given` with the value when
// the flag is given; `value` is GrpoConfig's default, which --help shows for a
// kFixed flag. A number: CLI11 reads the setting's own type, so that --help
// shows INT, FLOAT or UINT and "--steps 2.5" is refused as CLI11 refuses it.
template <typename T>
void add_flag(CLI::App* cmd, const char* flag, const char* help, const FlagCheck& check, const T& value,
              std::function<void(const T&)> given) {
  static_assert(std::is_arithmetic<T>::value, "a setting of a named type needs its own add_flag below");
  CLI::Option* option = cmd->add_option_function<T>(flag, given, help);
  add_check(option, check, std::is_integral<T>::value);
  std::ostringstream text;  // as CLI11 writes a default it captures
  text << value;
  if (check.kind == FlagCheck::Fixed) option->default_str(text.str());
}
// A list of ints, comma-separated.
void add_flag(CLI::App* cmd, const char* flag, const char* help, const FlagCheck& check, const std::vector<int>&,
              std::function<void(const std::vector<int>&)> given) {
  add_check(cmd->add_option_function<std::vector<int>>(flag, given, help)->delimiter(','), check, true);
}
// A named type: the name of one of `values` (--help lists them).
template <typename T>
void add_choice(CLI::App* cmd, const char* flag, const char* help, const FlagCheck& check, T value,
                const std::vector<T>& values, const char* (*name)(T), std::function<void(const T&)> given) {
  std::vector<std::string> names;
  for (T v : values) names.push_back(name(v));
  auto read = [values, name, given](const std::string& text) {
    for (T v : values)
      if (text == name(v)) given(v);
  };
  CLI::Option* option = cmd->add_option_function<std::string>(flag, read, help)->check(CLI::IsMember(names));
  if (check.kind == FlagCheck::Fixed) option->default_str(name(value));
}
const char* on_off(bool value) { return value ? "on" : "off"; }
void add_flag(CLI::App* cmd, const char* flag, const char* help, const FlagCheck& check, bool value,
              std::function<void(const bool&)> given) {
  add_choice(cmd, flag, help, check, value, {true, false}, on_off, given);
}
void add_flag(CLI::App* cmd, const char* flag, const char* help, const FlagCheck& check, data::TaskKind value,
              std::function<void(const data::TaskKind&)> given) {
  add_choice(cmd, flag, help, check, value, {data::TaskKind::Add, data::TaskKind::Mul, data::TaskKind::Countdown},
             data::task_name, given);
}
void add_flag(CLI::App* cmd, const char* flag, const char* help, const FlagCheck& check, LossVariant value,
              std::function<void(const LossVariant&)> given) {
  add_choice(cmd, flag, help, check, value, {LossVariant::Grpo, LossVariant::DrGrpo, LossVariant::Dapo},
             loss_variant_name, given);
}
void add_flag(CLI::App* cmd, const char* flag, const char* help, const FlagCheck& check, KvCache value,
              std::function<void(const KvCache&)> given) {
  add_choice(cmd, flag, help, check, value, {KvCache::Fp32, KvCache::Bf16}, kv_cache_name, given);
}
void add_flag(CLI::App* cmd, const char* flag, const char* help, const FlagCheck& check, DType value,
              std::function<void(const DType&)> given) {
  add_choice(cmd, flag, help, check, value, {DType::F32, DType::BF16}, dtype_name, given);
}

// A row's flag. `set(config, value)` sets the row's field; a flag given adds
// the override that does, and a kFixed flag starts with the one that sets the
// default (so that the preset's value never stands).
template <typename T, typename Set>
void add_setting(CLI::App* cmd, std::vector<Override>& overrides, const char* flag, const char* help,
                 const FlagCheck& check, const T& value, Set set) {
  if (flag[0] == '\0') return;
  const std::function<void(const T&)> given = [&overrides, set](const T& value) {
    overrides.push_back([set, value](GrpoConfig& c) { set(c, value); });
  };
  add_flag(cmd, flag, help, check, value, given);
  if (check.kind == FlagCheck::Fixed) given(value);
}

}  // namespace

void add_grpo_options(CLI::App* cmd, GrpoArgs& a, bool with_preset) {
  std::string names;
  for (const RunPreset& p : run_presets()) names += (names.empty() ? "" : ", ") + p.name;
  if (with_preset)
    cmd->add_option("--preset", a.preset, "the GRPO settings of this preset (" + names + ")")->capture_default_str();
  const GrpoConfig defaults;
#define AHA_GRPO_ROW(field, key, flag, check, help)                    \
  add_setting(cmd, a.overrides, flag, help, check, defaults.field,     \
              [](GrpoConfig& c, const decltype(defaults.field)& value) { c.field = value; });
  AHA_GRPO_ROWS
#undef AHA_GRPO_ROW
}

GrpoConfig make_grpo_config(const GrpoArgs& a) {
  const RunPreset& preset = find_run_preset(a.preset);
  GrpoConfig c = preset.grpo;
  c.rollout.difficulties = preset.difficulties;
  c.rollout.task = data::parse_task(preset.default_task);
  // The variant's defaults read --loss and --max-new (DAPO's overlong buffer
  // is a quarter of the generation budget), and a flag such as --clip-low or
  // --std-scale wins over them: the flags go in before and again after.
  for (const Override& set : a.overrides) set(c);
  c.apply_variant_defaults();
  for (const Override& set : a.overrides) set(c);
  c.validate();
  return c;
}

}  // namespace aha
