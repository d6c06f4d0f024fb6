// `aha trace`: read completions claim by claim, each claim marked true or
// false by the trace checker (reward/trace.h), which measures and never
// rewards. Three sources:
//   aha trace --problem "use 3 7 25 50 to make 104" --completion "<think>...</think><answer>...</answer>"
//   aha trace --eval runs/demo/eval_rl_test.json [--index 3]     the completions an eval kept
//   aha trace --log runs/demo/grpo.jsonl --aha                    the aha moments the run logged
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "data/task.h"
#include "reward/trace.h"

namespace aha {
namespace {

struct TraceArgs {
  std::string problem, completion, eval, log;
  int index = -1;  // -1: every kept sample
};

std::string unescape_newlines(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

void show(const std::string& prompt, const std::string& completion, const std::string& heading) {
  const data::Problem problem = data::parse_problem(prompt);
  std::cout << "== " << heading << ": " << problem.text << "\n"
            << reward::annotate_trace(reward::check_trace(problem, completion)) << "\n";
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("trace: cannot read '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error("trace: '" + path + "' is not JSON: " + e.what());
  }
}

void run_trace(const TraceArgs& a) {
  const int sources = !a.problem.empty() + !a.eval.empty() + !a.log.empty();
  if (sources != 1) throw std::runtime_error("trace: give one of --problem (with --completion), --eval or --log");
  // An option of another source would be silently ignored: refuse it.
  if (a.problem.empty() && !a.completion.empty())
    throw std::runtime_error("trace: --completion goes with --problem, not with --eval or --log");
  if (!a.problem.empty() && a.index >= 0)
    throw std::runtime_error(
        "trace: --index picks a sample of --eval or a step of --log; --problem has one completion");
  if (!a.problem.empty()) {
    if (a.completion.empty()) throw std::runtime_error("trace: --problem needs --completion");
    show(a.problem, unescape_newlines(a.completion), "completion");
    return;
  }
  if (!a.eval.empty()) {
    const nlohmann::json eval = read_json_file(a.eval);
    if (!eval.contains("samples") || !eval["samples"].is_array())
      throw std::runtime_error("trace: '" + a.eval + "' has no samples (is it an eval JSON of aha eval / aha run?)");
    const nlohmann::json& samples = eval["samples"];
    if (a.index >= (int)samples.size())
      throw std::runtime_error("trace: --index " + std::to_string(a.index) + " but '" + a.eval + "' keeps " +
                               std::to_string(samples.size()) + " samples");
    for (int i = 0; i < (int)samples.size(); ++i) {
      if (a.index >= 0 && i != a.index) continue;
      const nlohmann::json& s = samples[(size_t)i];
      show(s.at("prompt").get<std::string>(), s.at("greedy").get<std::string>(),
           "sample " + std::to_string(i) + ", greedy");
      if (s.contains("sampled") && s["sampled"].is_string())
        show(s["prompt"].get<std::string>(), s["sampled"].get<std::string>(),
             "sample " + std::to_string(i) + ", sampled");
    }
    return;
  }
  std::ifstream log(a.log);
  if (!log) throw std::runtime_error("trace: cannot read '" + a.log + "'");
  std::string text;
  int shown = 0;
  while (std::getline(log, text)) {
    nlohmann::json line;
    try {
      line = nlohmann::json::parse(text);
    } catch (const std::exception&) {
      continue;  // a line cut short by an interruption
    }
    for (const char* key : {"aha_example", "eval_aha_example"}) {
      if (!line.contains(key)) continue;
      if (a.index >= 0 && line.value("step", -1) != a.index) continue;
      show(line[key]["prompt"].get<std::string>(), line[key]["completion"].get<std::string>(),
           "step " + std::to_string(line.value("step", -1)) + (key == std::string("aha_example") ? ", rollout" : ", held-out eval"));
      ++shown;
    }
  }
  if (shown == 0) std::cout << "trace: no completion in '" << a.log << "' has an effective correction\n";
}

}  // namespace

void add_trace_command(CLI::App& app) {
  auto a = std::make_shared<TraceArgs>();
  CLI::App* cmd = app.add_subcommand(
      "trace", "read completions claim by claim: every equation, verdict and correction marked true or false");
  cmd->add_option("--problem", a->problem, "the problem, as its prompt states it (\"use 3 7 25 50 to make 104\")");
  cmd->add_option("--completion", a->completion, "the completion (\\n is a newline), with --problem");
  cmd->add_option("--eval", a->eval, "an eval JSON: read the completions it kept")->check(CLI::ExistingFile);
  cmd->add_option("--log", a->log, "a grpo.jsonl: read the completions with an effective correction it logged")
      ->check(CLI::ExistingFile);
  cmd->add_option("--index", a->index, "only this sample (--eval) or this step (--log)")->check(CLI::NonNegativeNumber);
  cmd->callback([a]() { run_trace(*a); });
}

}  // namespace aha
