// aha: from-scratch GRPO on arithmetic. Errors from any command end here:
// `aha: error: <message>` on stderr and a non-zero exit.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <new>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "aha: a from-scratch reproduction, at teaching scale, of how DeepSeek-R1-Zero learned to\n"
      "reason: pretrain a small GPT on arithmetic text, then GRPO on outcome-only rewards."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  aha::add_mlp_command(app);
  aha::add_data_command(app);
  aha::add_pretrain_command(app);
  aha::add_sample_command(app);
  aha::add_bench_command(app);
  aha::add_eval_command(app);
  aha::add_grpo_command(app);
  aha::add_run_command(app);
  aha::add_trace_command(app);
  aha::add_objective_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::bad_alloc&) {
    // The sizes the commands know are checked before they allocate; this is
    // what is left: the machine has less memory than the run asks for.
    std::cerr << "aha: error: out of memory (std::bad_alloc): the run needs more memory than this machine has; "
                 "lower the sizes given (--batch-size, --context, --prompts, --group-size, -n, ...)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "aha: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
