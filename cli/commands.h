// The `aha` subcommands. Each lives in cli/cmd_<name>.cpp and registers itself
// on the top-level CLI11 app; cli/main.cpp lists them.
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace CLI {
class App;
}

namespace aha {
// The longest --context a command accepts: the position embedding is
// [context, d_model], and a mistyped number would ask the allocator for it.
inline constexpr int kMaxContext = 1 << 16;
void add_mlp_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_pretrain_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_bench_model_command(CLI::App& bench);  // `aha bench model`, under `aha bench`
// The GPU's or the CPU's model name, for benchmark tables.
std::string device_model_name(Device device);
void add_eval_command(CLI::App& app);
void add_grpo_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_trace_command(CLI::App& app);  // `aha trace`: completions read claim by claim
void add_objective_command(CLI::App& app);  // `aha objective`: the GRPO objective on one JSON case
}  // namespace aha
