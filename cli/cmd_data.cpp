// `aha data sample --task mul --style steps -n 5`: print documents exactly as
// the model sees them (special tokens written literally), so a reader can
// check the corpus by eye. Documents go to stdout, one header line each.
// `aha data stats --task countdown -n 4000`: what the corpus is made of, per
// task and style, and what the trace checker (reward/trace.h) finds in it.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <map>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "data/corpus.h"
#include "data/split.h"
#include "data/task.h"
#include "data/template.h"
#include "data/tokenizer.h"
#include "grpo/corpus_source.h"
#include "reward/trace.h"

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
    data::Problem problem = data::sample_problem(task, difficulty, split, rng);
    // As the corpus does: a `correct` document is about a problem with room for a slip.
    while (style == data::Style::Correct && !data::can_slip(problem))
      problem = data::sample_problem(task, difficulty, split, rng);
    const std::string completion = data::write_solution(problem, style, rng);
    std::cout << "== " << spec.name << " difficulty " << difficulty << ", " << data::style_name(style) << ", "
              << o.split << "\n"
              << data::document_text(problem, completion) << "\n";
  }
}

struct DataStatsOptions {
  std::string task = "all";
  std::string mix;
  int count = 4000;
  uint64_t seed = 1;
};

// One row of the stats table: the documents of one task and style.
struct StatsRow {
  int64_t documents = 0, tokens = 0, longest = 0, slipped = 0;
  reward::TraceTotals trace;
  int64_t correct = 0;
};

std::string cell(const std::optional<double>& v, bool percent) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, percent ? "%.1f%%" : "%.2f", percent ? 100.0 * *v : *v);
  return buf;
}

void run_data_stats(const DataStatsOptions& o) {
  if (o.count <= 0) throw std::runtime_error("data stats: -n " + std::to_string(o.count) + " must be positive");
  const data::CorpusConfig config = corpus_for_task(o.task, o.mix);
  data::Corpus corpus(config, o.seed);
  const data::Tokenizer tokenizer;
  std::map<std::pair<int, std::string>, StatsRow> rows;  // (task, style or "noise")
  StatsRow all;
  for (int i = 0; i < o.count; ++i) {
    const data::Document doc = corpus.next();
    const std::string style = doc.noise ? "noise" : data::style_name(doc.style);
    StatsRow& row = rows[{(int)doc.problem.task, style}];
    const reward::TraceReport report = reward::check_trace(doc.problem, doc.completion);
    const int64_t tokens = tokenizer.count(doc.text());
    for (StatsRow* r : {&row, &all}) {
      r->documents += 1;
      r->tokens += tokens;
      r->longest = std::max(r->longest, tokens);
      r->slipped += doc.slipped || doc.style == data::Style::Correct;
      r->trace.add(report);
      r->correct += report.correct;
    }
    if (i % 500 == 499) std::fprintf(stderr, "data stats: %d/%d documents\n", i + 1, o.count);
  }
  std::printf("corpus %s, seed %llu, %d documents\n%s\n\n", data::describe_mix(config).c_str(),
              (unsigned long long)o.seed, o.count,
              "share: of the sample; tokens: prompt + completion; slipped: documents with a planted slip; "
              "the rest is what the trace checker finds (reward/trace.h)");
  std::printf("| %-9s | %-7s | %6s | %6s | %5s | %7s | %6s | %7s | %9s | %9s | %11s | %7s | %8s | %8s |\n", "task",
              "style", "share", "tokens", "max", "slipped", "claims", "false", "false yes", "effective",
              "superficial", "caught", "faithful", "accuracy");
  std::printf("|-----------|---------|--------|--------|-------|---------|--------|---------|-----------|-----------|"
              "-------------|---------|----------|----------|\n");
  auto print = [&](const std::string& task, const std::string& style, const StatsRow& r) {
    std::map<std::string, std::optional<double>> m;
    for (const auto& [key, value] : r.trace.metrics()) m[key] = value;
    const double n = (double)r.documents;
    std::printf("| %-9s | %-7s | %6s | %6.1f | %5lld | %7s | %6s | %7s | %9s | %9s | %11s | %7s | %8s | %8s |\n",
                task.c_str(), style.c_str(), cell(n / o.count, true).c_str(), r.tokens / n, (long long)r.longest,
                cell(r.slipped / n, true).c_str(), cell(m["claims_per_completion"], false).c_str(),
                cell(m["false_claim_rate"], true).c_str(), cell(m["false_yes_share"], true).c_str(),
                cell(m["effective_correction_share"], true).c_str(),
                cell(m["superficial_correction_share"], true).c_str(), cell(m["caught_rate"], true).c_str(),
                cell(m["faithful_share"], true).c_str(), cell(r.correct / n, true).c_str());
  };
  for (const auto& [key, row] : rows) print(data::task_name((data::TaskKind)key.first), key.second, row);
  print("all", "", all);
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

  auto stats = std::make_shared<DataStatsOptions>();
  CLI::App* stats_cmd = data_cmd->add_subcommand(
      "stats", "the corpus per task and style: share, length, slips, and the trace checker's verdicts");
  stats_cmd->add_option("--task", stats->task, "add, mul, countdown or all")->capture_default_str();
  stats_cmd->add_option("--mix", stats->mix, "corpus mixture, as aha pretrain --mix (e.g. \"slip=0,correct=0.2\")");
  stats_cmd->add_option("-n,--count", stats->count, "documents to read")->capture_default_str();
  stats_cmd->add_option("--seed", stats->seed, "seed of the corpus")->capture_default_str();
  stats_cmd->callback([stats]() { run_data_stats(*stats); });
}

}  // namespace aha
