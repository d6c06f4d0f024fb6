// The GRPO knobs shared by `aha grpo` and `aha run`: a preset's GrpoConfig
// (grpo/presets.h) with whatever the command line overrides. The flags are
// the rows of AHA_GRPO_SETTINGS (grpo/config.h) that name one.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "grpo/presets.h"

namespace CLI {
class App;
}

namespace aha {

struct GrpoArgs {
  std::string preset = "cpu-tiny";
  // What the flags set: one for each flag given, in the order of the table,
  // after one for each kFixed flag (its default, which a flag given follows).
  std::vector<std::function<void(GrpoConfig&)>> overrides;
};

// Registers --preset (unless the command has its own) and a flag for each
// setting of the table that has one.
void add_grpo_options(CLI::App* cmd, GrpoArgs& args, bool with_preset);
// The preset's settings, the variant's defaults, then the overrides the user gave.
GrpoConfig make_grpo_config(const GrpoArgs& args);

}  // namespace aha
