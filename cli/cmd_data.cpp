// `aha data sample --task mul --style steps -n 5`: print documents exactly as
// the model sees them (special tokens written literally), so a reader can
// check the corpus by eye. Documents go to stdout, one header line each.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "data/split.h"
#include "data/task.h"
#include "data/template.h"

namespace aha {
namespace {

struct DataSampleOptions {
  std::string task = "add";
  std::string style = "steps";
  int count = 5;
  int difficulty = 0;  // 0: a random training difficulty per document (or the OOD one)
  uint64_t seed = 1;
  std::string split = "train";
};

void run_data_sample(const DataSampleOptions& o) {
  const data::TaskKind task = data::parse_task(o.task);
  const data::Style style = data::parse_style(o.style);
  const data::TaskSpec& spec = data::task_spec(task);
  if (o.split != "train" && o.split != "test" && o.split != "ood")
    throw std::runtime_error("data sample: unknown split '" + o.split + "' (choices: train, test, ood)");
  if (o.count < 0) throw std::runtime_error("data sample: -n " + std::to_string(o.count) + " is negative");
  // The OOD set is the task's ood_difficulty, drawn from the test split.
  const bool ood = o.split == "ood";
  if (ood && o.difficulty != 0 && o.difficulty != spec.ood_difficulty)
    throw std::runtime_error("data sample: --split ood means difficulty " + std::to_string(spec.ood_difficulty) +
                             " for " + spec.name + ", not " + std::to_string(o.difficulty));
  const data::Split split = o.split == "train" ? data::Split::Train : data::Split::Test;

  Generator rng(o.seed);
  for (int i = 0; i < o.count; ++i) {
    int difficulty = o.difficulty;
    if (ood) difficulty = spec.ood_difficulty;
    if (difficulty == 0) difficulty = spec.train_difficulties[rng.below(spec.train_difficulties.size())];
    const data::Problem problem = data::sample_problem(task, difficulty, split, rng);
    const std::string completion = data::write_solution(problem, style, rng);
    std::cout << "== " << spec.name << " difficulty " << difficulty << ", " << data::style_name(style) << ", "
              << o.split << "\n"
              << data::document_text(problem, completion) << "\n";
  }
}

}  // namespace

void add_data_command(CLI::App& app) {
  CLI::App* data_cmd = app.add_subcommand("data", "look at the tasks and the pretraining corpus");
  data_cmd->require_subcommand(1);
  auto options = std::make_shared<DataSampleOptions>();
  CLI::App* cmd = data_cmd->add_subcommand("sample", "print sample documents (prompt + completion) of one task and style");
  cmd->add_option("--task", options->task, "add, mul or countdown")->capture_default_str();
  cmd->add_option("--style", options->style, "direct, steps, verify or correct")->capture_default_str();
  cmd->add_option("-n,--count", options->count, "number of documents")->capture_default_str();
  cmd->add_option("--difficulty", options->difficulty,
                  "task difficulty 1..5 (training 1..4, OOD 5); default: a random training difficulty");
  cmd->add_option("--seed", options->seed, "seed of the problems and solutions")->capture_default_str();
  cmd->add_option("--split", options->split, "train, test or ood (the OOD difficulty, test split)")
      ->capture_default_str();
  cmd->callback([options]() { run_data_sample(*options); });
}

}  // namespace aha
