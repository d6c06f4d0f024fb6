// `aha objective`: the GRPO objective on one hand-written case, JSON in, JSON
// out (grpo/objective_case.h): the advantages, and per token the weight, the
// ratio, the clipped surrogate, the k3 KL, the loss and its gradient. What the
// paper-to-code notebook (notebooks/paper_to_code.ipynb) checks against numpy.
//   echo '{"rewards": [1, 0, 0, 1], "group_size": 2}' | aha objective
//   aha objective case.json
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "grpo/objective_case.h"

namespace aha {
namespace {

void run_objective(const std::string& path) {
  std::string text;
  if (path == "-") {
    if (isatty(STDIN_FILENO)) std::cerr << "objective: reading the case from stdin (end it with Ctrl-D; --help shows its fields)\n";
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("objective: cannot read '" + path + "'");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::cout << evaluate_objective_case(text) << "\n";
}

}  // namespace

void add_objective_command(CLI::App& app) {
  auto path = std::make_shared<std::string>("-");
  CLI::App* cmd = app.add_subcommand(
      "objective",
      "the GRPO objective (R1 eq. 1-3) on one hand-written case: a JSON case in, every intermediate out as JSON.\n"
      "The case: {\"loss\": \"grpo\"|\"dr_grpo\"|\"dapo\", \"rewards\": [r_i], \"group_size\": G (or \"advantages\": "
      "[A_i]),\n"
      " \"logprobs\": [[log pi_theta per token] per completion], \"old_logprobs\": ..., \"ref_logprobs\": ..., "
      "\"beta\", \"clip_low\", \"clip_high\",\n"
      " \"scale_by_std\", \"eps\", \"max_length\"}; only rewards (or advantages) are required "
      "(grpo/objective_case.h).\n"
      "Example: echo '{\"rewards\": [1, 0, 0, 1], \"group_size\": 2}' | aha objective");
  cmd->add_option("case", *path, "the case's JSON file; - (the default) reads it from stdin");
  cmd->callback([path]() { run_objective(*path); });
}

}  // namespace aha
