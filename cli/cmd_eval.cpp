// `aha eval`: held-out accuracy of a checkpoint on one task (grpo/eval.h):
// greedy pass@1, sampled pass@k, format, length and solution styles. Prints a
// table on stdout and writes the JSON the notebooks read, by default next to
// the checkpoint: <ckpt stem>.eval_<task>_<split>.json.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "data/task.h"
#include "data/tokenizer.h"
#include "grpo/eval.h"
#include "model/checkpoint.h"
#include "model/output_files.h"

namespace aha {
namespace {

struct EvalArgs {
  std::string ckpt;
  std::string task;
  std::string split = "test";
  std::vector<int> difficulties;  // empty: all the task's training difficulties
  int n = 1000;
  std::string ks = "1";
  bool greedy_only = false;
  float temperature = 1.0f;
  std::string device = "cpu";
  uint64_t seed = 1234;
  int max_new = 192;
  int batch_size = 256;
  int keep_samples = 16;
  std::string kv_cache = "fp32";
  std::string out;
};

// "1,8,64" -> {1, 8, 64}; every entry a positive integer.
std::vector<int> parse_ks(const std::string& text) {
  std::vector<int> ks;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    start = end + 1;
    size_t used = 0;
    long k = 0;
    try {
      k = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || k <= 0 || k > (1 << 20))
      throw std::runtime_error("eval: --k '" + text + "': '" + item + "' is not a positive integer");
    ks.push_back((int)k);
  }
  return ks;
}

// <dir of ckpt>/<ckpt stem>.eval_<task>_<split>.json
std::string default_out_path(const std::string& ckpt, const std::string& task, const std::string& split) {
  const std::filesystem::path path(ckpt);
  return (path.parent_path() / (path.stem().string() + ".eval_" + task + "_" + split + ".json")).string();
}

void run_eval(const EvalArgs& a, const CLI::App& cmd) {
  EvalConfig config;
  config.task = data::parse_task(a.task);
  if (a.split != "test" && a.split != "ood")
    throw std::runtime_error("eval: unknown split '" + a.split + "' (choices: test, ood)");
  // Values that would have no effect are refused, not silently dropped.
  if (a.greedy_only && cmd.count("--k"))
    throw std::runtime_error("eval: --k '" + a.ks + "' asks for sampled completions, which --greedy-only turns off; "
                             "pass one or the other");
  if (a.split == "ood" && !a.difficulties.empty())
    throw std::runtime_error("eval: --difficulties are the test split's; --split ood is the task's harder "
                             "difficulty alone");
  config.ood = a.split == "ood";
  config.difficulties = a.difficulties;
  if (a.n <= 0) throw std::runtime_error("eval: -n must be > 0, got " + std::to_string(a.n));
  config.n = a.n;
  config.ks = parse_ks(a.ks);
  config.sampled = !a.greedy_only;
  config.temperature = a.temperature;
  config.max_new_tokens = a.max_new;
  config.batch_size = a.batch_size;
  config.seed = a.seed;
  config.keep_samples = a.keep_samples;
  config.kv_cache = parse_kv_cache(a.kv_cache);
  config.validate();
  if (cmd.count("--temperature") && config.samples_per_problem() == 0)
    throw std::runtime_error("eval: --temperature is the sampled completions' and there are none (--k '" + a.ks +
                             "'" + (a.greedy_only ? ", --greedy-only" : "") + "); ask for pass@k with --k, e.g. --k 1,8");
  // The output before any work: it may not be the checkpoint, and a bad
  // folder fails now rather than after the evaluation.
  const std::string out = a.out.empty() ? default_out_path(a.ckpt, data::task_name(config.task), a.split) : a.out;
  if (out != "-") check_output_paths("eval", {{"--out", out, ""}}, {{"--ckpt", a.ckpt}});

  const Device device = parse_device(a.device);
  require_device(device);
  const Checkpoint ckpt = Checkpoint::read(a.ckpt);
  if (ckpt.tokenizer() != data::Tokenizer::kVersion)
    throw std::runtime_error("eval: checkpoint '" + a.ckpt + "' uses the tokenizer '" + ckpt.tokenizer().substr(0, 40) +
                             "', not the arithmetic one (" + data::Tokenizer::kVersion +
                             "); eval needs a model pretrained on the arithmetic corpus (aha pretrain without --text)");
  const GPT model = ckpt.load_model(device);

  const EvalResult result = evaluate(model, config, /*progress=*/true);
  nlohmann::json json = result.to_json();
  json["checkpoint"] = a.ckpt;
  json["kv_cache"] = kv_cache_name(config.kv_cache);
  // Model output may be any bytes: replace invalid UTF-8 rather than fail.
  const std::string text = json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";

  if (a.out == "-") {
    std::cerr << result.table();
    std::cout << text;
    return;
  }
  write_file_atomically(out, text);
  std::cout << result.table() << "  " << "wrote " << out << "\n";
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "held-out accuracy of a checkpoint on a task: greedy pass@1, sampled pass@k, format, length, styles");
  const CLI::Range positive(1, 1 << 30);
  cmd->add_option("--ckpt", a->ckpt, "checkpoint (safetensors) of a model pretrained on the arithmetic corpus")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--task", a->task, "add, mul or countdown")->required();
  cmd->add_option("--split", a->split,
                  "test: Test-split problems at the training difficulties; ood: the task's harder, "
                  "out-of-distribution difficulty (Test split too)")
      ->capture_default_str();
  cmd->add_option("--difficulties", a->difficulties,
                  "test split only: draw the problems from these training difficulties, e.g. 2 "
                  "(default: all of them, 1,2,3,4)")
      ->delimiter(',');
  cmd->add_option("-n", a->n, "problems")->capture_default_str();
  cmd->add_option("--k", a->ks,
                  "pass@k for each k, e.g. 1,8,64: max(k) sampled completions per problem; "
                  "just 1 runs greedy decoding only (fast)")
      ->capture_default_str();
  cmd->add_flag("--greedy-only", a->greedy_only, "greedy completions only: pass@1 greedy, no sampling");
  cmd->add_option("--temperature", a->temperature, "temperature of the sampled completions")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--seed", a->seed, "fixes the problems and the samples")->capture_default_str();
  cmd->add_option("--max-new", a->max_new, "most tokens per completion")->check(positive)->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "completions per generate() call")
      ->check(positive)
      ->capture_default_str();
  cmd->add_option("--kv-cache", a->kv_cache,
                  "KV cache of the decoder: fp32, or bf16 (half the bytes for attention to read, keys and "
                  "values rounded to bfloat16; all math stays fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--keep-samples", a->keep_samples, "problems whose completions go into the JSON")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--out", a->out,
                  "JSON result (default: <ckpt dir>/<ckpt stem>.eval_<task>_<split>.json); "
                  "- prints it on stdout and the table on stderr");
  cmd->callback([a, cmd]() { run_eval(*a, *cmd); });
}

}  // namespace aha
