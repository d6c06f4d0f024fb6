// `aha run`: the whole pipeline of README.md ("The pipeline") in one command —
//   corpus -> pretrain -> eval base -> GRPO -> eval RL -> a before/after table.
// Everything lands in one run directory, the layout the notebooks read:
//   base.safetensors, pretrain.jsonl, eval_base_{test,ood}.json,
//   rl.safetensors, grpo.jsonl, eval_rl_{test,ood}.json, summary.json
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/grpo_options.h"
#include "grpo/eval.h"
#include "grpo/pretrain_corpus.h"
#include "model/checkpoint.h"
#include "model/output_files.h"
#include "model/pretrain.h"

namespace aha {
namespace {

struct RunArgs {
  GrpoArgs grpo;
  std::string device = "cpu";
  std::string out;   // default runs/<preset>-<task>-seed<seed>
  std::string mix;   // corpus mixture (data::parse_corpus_mix), e.g. "verify=0,correct=0"
  std::string base;  // an existing base model: skip pretraining
  int pretrain_steps = 0;
  int context = 0;   // the model's context; 0 = the preset's
  int eval_problems = 0;
  std::vector<int> ks;
};

void write_json_atomically(const std::string& path, const nlohmann::json& j) {
  write_file_atomically(path, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

EvalResult run_eval(const std::string& ckpt_path, const std::string& what, const GrpoConfig& grpo,
                    const RunPreset& preset, const RunArgs& a, Device device, bool ood, const std::string& out) {
  const GPT model = Checkpoint::read(ckpt_path).load_model(device);
  EvalConfig config;
  config.task = grpo.rollout.task;
  config.ood = ood;
  config.difficulties = grpo.rollout.difficulties;
  config.n = a.eval_problems ? a.eval_problems : preset.eval_problems;
  config.ks = a.ks.empty() ? preset.eval_ks : a.ks;
  config.max_new_tokens = grpo.rollout.max_new_tokens;
  config.reward = grpo.rollout.reward;
  std::fprintf(stderr, "run: eval %s on %s (%d problems, pass@k for k up to %d)\n", what.c_str(),
               ood ? "the OOD set" : "the test split", config.n, config.samples_per_problem());
  EvalResult r = evaluate(model, config, true);
  nlohmann::json j = r.to_json();
  j["checkpoint"] = ckpt_path;
  write_json_atomically(out, j);
  return r;
}

std::string percent(double x) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * x);
  return buf;
}

// The before/after table: the numbers R1's Table 2 and Figures 2-3 track.
std::string before_after_table(const EvalResult& bt, const EvalResult& bo, const EvalResult& rt,
                               const EvalResult& ro) {
  std::ostringstream s;
  char line[160];
  auto row = [&](const char* name, const std::string& base, const std::string& rl) {
    std::snprintf(line, sizeof line, "| %-34s | %10s | %10s |\n", name, base.c_str(), rl.c_str());
    s << line;
  };
  auto number = [](double x) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f", x);
    return std::string(buf);
  };
  row("", "base", "RL");
  s << "|------------------------------------|------------|------------|\n";
  row("pass@1 greedy, test", percent(bt.pass1_greedy), percent(rt.pass1_greedy));
  if (bt.pass1_sampled && rt.pass1_sampled)
    row("pass@1 sampled, test", percent(*bt.pass1_sampled), percent(*rt.pass1_sampled));
  for (const auto& [k, value] : bt.pass_at_k)
    if (k > 1 && rt.pass_at_k.count(k))
      row(("pass@" + std::to_string(k) + ", test").c_str(), percent(value), percent(rt.pass_at_k.at(k)));
  row("pass@1 greedy, OOD", percent(bo.pass1_greedy), percent(ro.pass1_greedy));
  row("format rate, test", percent(bt.format_rate), percent(rt.format_rate));
  row("completion length (tokens), test", number(bt.mean_length), number(rt.mean_length));
  const auto self_checking = [](const EvalResult& r) {
    return r.style_share[(int)data::Style::Verify] + r.style_share[(int)data::Style::Correct];
  };
  row("self-checking completions, test", percent(self_checking(bt)), percent(self_checking(rt)));
  // The trace checker (reward/trace.h): what the completions' claims are worth.
  const auto trace_row = [&](const char* name, const char* key) {
    auto value = [&](const EvalResult& r) {
      for (const auto& [k, v] : r.trace.metrics())
        if (k == key) return v ? percent(*v) : std::string("-");
      return std::string("-");
    };
    row(name, value(bt), value(rt));
  };
  trace_row("false claims (of all claims), test", "false_claim_rate");
  trace_row("false \"yes\" completions, test", "false_yes_share");
  trace_row("effective corrections, test", "effective_correction_share");
  trace_row("superficial corrections, test", "superficial_correction_share");
  trace_row("false claims caught, test", "caught_rate");
  trace_row("faithful to the trace, test", "faithful_share");
  trace_row("accuracy with a correction, test", "accuracy_with_correction");
  trace_row("accuracy without one, test", "accuracy_without_correction");
  row("checks per completion, test", number(bt.checks_per_completion), number(rt.checks_per_completion));
  for (int st = 0; st < data::kNumStyles; ++st)
    row((std::string("style ") + data::style_name((data::Style)st) + ", test").c_str(), percent(bt.style_share[st]),
        percent(rt.style_share[st]));
  return s.str();
}

// A held-out problem's base and RL greedy completions in two columns: the
// first kept problem that RL turned from wrong to right, else the first whose
// style changed, else the first. Both evals draw the same problems (one seed).
std::string side_by_side(const EvalResult& base, const EvalResult& rl) {
  const size_t n = std::min(base.samples.size(), rl.samples.size());
  if (n == 0) return "";
  size_t pick = 0;
  bool found = false;
  for (size_t i = 0; i < n && !found; ++i)
    if (!base.samples[i].greedy_correct && rl.samples[i].greedy_correct) pick = i, found = true;
  for (size_t i = 0; i < n && !found; ++i)
    if (base.samples[i].greedy_style != rl.samples[i].greedy_style) pick = i, found = true;
  const EvalSample& b = base.samples[pick];
  const EvalSample& r = rl.samples[pick];
  if (b.prompt != r.prompt) return "";  // not the same problem: nothing to compare
  constexpr size_t kColumn = 44;  // a longer line wraps within its column
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      for (size_t at = 0; at == 0 || at < line.size(); at += kColumn) out.push_back(line.substr(at, kColumn));
    return out;
  };
  // The answer block on a line of its own, so the columns stay narrow.
  auto shown = [](std::string text) {
    const size_t end = text.find("</think>");
    if (end != std::string::npos) text.insert(end + 8, "\n");
    return text;
  };
  const std::vector<std::string> left = lines(shown(b.greedy)), right = lines(shown(r.greedy));
  size_t width = 12;
  for (const std::string& l : left) width = std::max(width, l.size());
  auto cell = [&](const std::string& text) { return text + std::string(width + 3 - text.size(), ' '); };
  std::string prompt = b.prompt;
  if (prompt.rfind("<bos>", 0) == 0) prompt = prompt.substr(5);
  while (!prompt.empty() && prompt.back() == '\n') prompt.pop_back();
  std::string out = "one held-out problem: " + prompt + "\n" +
                    cell(std::string("base (") + (b.greedy_correct ? "right" : "wrong") + ")") + "RL (" +
                    (r.greedy_correct ? "right" : "wrong") + ")\n";
  for (size_t i = 0; i < std::max(left.size(), right.size()); ++i)
    out += cell(i < left.size() ? left[i] : "") + (i < right.size() ? right[i] : "") + "\n";
  return out;
}

// The run in one line: the greedy gain, the length, the worked solutions.
std::string verdict(const EvalResult& base, const EvalResult& rl) {
  const auto worked = [](const EvalResult& r) { return 1.0 - r.style_share[(int)data::Style::Direct]; };
  const double points = 100.0 * (rl.pass1_greedy - base.pass1_greedy);
  char line[256];
  std::snprintf(line, sizeof line,
                "RL: %+.1f points greedy (%s -> %s); completions x%.2f as long (%.1f -> %.1f tokens); "
                "worked solutions %s -> %s\n",
                points, percent(base.pass1_greedy).c_str(), percent(rl.pass1_greedy).c_str(),
                base.mean_length > 0 ? rl.mean_length / base.mean_length : 0.0, base.mean_length, rl.mean_length,
                percent(worked(base)).c_str(), percent(worked(rl)).c_str());
  return line;
}

// The GRPO stage's wall time split from its log: the rollouts (generation and
// rewards) and the updates, summed over the steps; the rest of the stage is the
// evals during training and the checkpoints.
void add_grpo_times(const std::string& log_path, nlohmann::json& time_s) {
  std::ifstream log(log_path);
  double rollout = 0, update = 0;
  for (std::string text; std::getline(log, text);) {
    const nlohmann::json line = nlohmann::json::parse(text);
    rollout += line.value("rollout_s", 0.0);
    update += line.value("update_s", 0.0);
  }
  time_s["rollout"] = rollout;
  time_s["update"] = update;
}

std::string describe_times(const nlohmann::json& t) {
  char line[320];
  std::snprintf(line, sizeof line,
                "time: %.1f min in all: pretrain %.1f s, eval base %.1f s, GRPO %.1f s (rollouts %.1f s, updates "
                "%.1f s, the rest evals and checkpoints), eval RL %.1f s\n",
                t["total"].get<double>() / 60.0, t["pretrain"].get<double>(), t["eval_base"].get<double>(),
                t["grpo"].get<double>(), t["rollout"].get<double>(), t["update"].get<double>(),
                t["eval_rl"].get<double>());
  return line;
}

// The aha moment, found by the program (R1 Table 3): the first GRPO step at
// which the policy caught and fixed a slip of its own (an effective
// correction, reward/trace.h) in a rollout or a held-out eval completion, and
// that completion; and, if it came later, the first such completion whose
// answer was right. Null when no step had one.
nlohmann::json find_aha_moment(const std::string& log_path) {
  std::ifstream log(log_path);
  std::string text;
  nlohmann::json first = nullptr, first_right = nullptr;
  while (std::getline(log, text) && first_right.is_null()) {
    const nlohmann::json line = nlohmann::json::parse(text);
    for (const char* source : {"aha_example", "eval_aha_example"}) {
      if (!line.contains(source)) continue;
      nlohmann::json moment = line[source];
      moment["step"] = line["step"];
      moment["source"] = source == std::string("aha_example") ? "rollout" : "held-out eval";
      if (first.is_null()) first = moment;
      if (first_right.is_null() && moment["correct"].get<bool>()) first_right = moment;
    }
  }
  if (first.is_null()) return nullptr;
  return {{"first", first}, {"first_right", first_right}};
}

std::string describe_aha_moment(const nlohmann::json& aha) {
  if (aha.is_null()) return "aha moment: no completion caught and fixed a slip of its own during GRPO\n";
  std::string out;
  for (const char* which : {"first", "first_right"}) {
    const nlohmann::json& m = aha[which];
    if (m.is_null() || (which == std::string("first_right") && m == aha["first"])) continue;
    out += std::string(which == std::string("first") ? "aha moment" : "first that then answered right") +
           ": step " + std::to_string(m["step"].get<int>()) + ", " + m["source"].get<std::string>() + " (" +
           (m["correct"].get<bool>() ? "right" : "wrong") + ")\n" + m["prompt"].get<std::string>() +
           m["completion"].get<std::string>() + "\n";
  }
  return out;
}

void run_pipeline(const RunArgs& a) {
  const Device device = parse_device(a.device);
  require_device(device);
  const RunPreset& preset = find_run_preset(a.grpo.preset);
  const GrpoConfig grpo = make_grpo_config(a.grpo);
  const std::string task = data::task_name(grpo.rollout.task);
  // The preset's corpus mixture, then --mix on top (a later key wins).
  const std::string mix = preset.mix.empty() ? a.mix : a.mix.empty() ? preset.mix : preset.mix + "," + a.mix;
  const std::string dir =
      a.out.empty() ? "runs/" + preset.name + "-" + task + "-seed" + std::to_string(grpo.seed) : a.out;
  const std::string base_path = a.base.empty() ? dir + "/base.safetensors" : a.base;
  const std::string rl_path = dir + "/rl.safetensors";
  // Every file of the run checked before any work: none may be --base, and a
  // bad --out fails now rather than after the pretraining.
  std::vector<OutputPath> outputs;
  if (a.base.empty()) outputs = {{"--out", base_path, ""}, {"--out", dir + "/pretrain.jsonl", ""}};
  for (const char* name : {"eval_base_test.json", "eval_base_ood.json", "rl.safetensors", "grpo.jsonl",
                           "eval_rl_test.json", "eval_rl_ood.json", "summary.json"})
    outputs.push_back({"--out", dir + "/" + name, ""});
  check_output_paths("run", outputs, {{"--base", a.base}});
  const auto start = std::chrono::steady_clock::now();
  // Where the wall time goes (summary.json "time_s"): seconds since the last mark.
  auto mark = start;
  auto lap = [&mark]() {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - mark).count();
    mark = now;
    return seconds;
  };
  nlohmann::json time_s;

  // 1. pretrain the base model on the arithmetic web
  if (a.base.empty()) {
    const Preset& model_preset = find_preset(preset.name);
    TrainConfig train = model_preset.train;
    train.steps = a.pretrain_steps ? a.pretrain_steps : preset.pretrain_steps;
    train.seed = grpo.seed;
    train.ckpt_every = train.steps;
    train.eval_every = std::max(1, train.steps / 10);
    train.warmup_steps = std::min(train.warmup_steps, train.steps / 10);
    train.dtype = grpo.dtype;  // one --dtype for the whole run
    GPTConfig model = model_preset.model;
    if (preset.context) model.context = preset.context;
    if (a.context) model.context = a.context;
    // The corpus, difficulties and streams go into the checkpoint, so that
    // `aha pretrain --resume base.safetensors` can continue this pretraining.
    const PretrainCorpus corpus = PretrainCorpus::for_run(task, mix, grpo.rollout.difficulties, train.seed);
    std::fprintf(stderr, "run: 1/5 pretrain %s on %s for %d steps; corpus %s\n", preset.name.c_str(), task.c_str(),
                 train.steps, data::describe_mix(corpus.config()).c_str());
    PretrainOptions options;
    options.out_path = base_path;
    options.log_path = dir + "/pretrain.jsonl";
    options.preset = preset.name;
    pretrain_on_corpus(model, train, corpus, device, options);
  } else {
    std::fprintf(stderr, "run: 1/5 pretrain skipped: base model %s\n", base_path.c_str());
  }
  time_s["pretrain"] = lap();

  // 2. the base model's held-out numbers
  std::fprintf(stderr, "run: 2/5 eval the base model\n");
  const EvalResult base_test = run_eval(base_path, "base", grpo, preset, a, device, false, dir + "/eval_base_test.json");
  const EvalResult base_ood = run_eval(base_path, "base", grpo, preset, a, device, true, dir + "/eval_base_ood.json");
  time_s["eval_base"] = lap();

  // 3. GRPO
  std::fprintf(stderr, "run: 3/5 GRPO (%s) for %d steps\n", loss_variant_name(grpo.loss), grpo.steps);
  GrpoOptions options;
  options.init_path = base_path;
  options.out_path = rl_path;
  options.log_path = dir + "/grpo.jsonl";
  train_grpo(grpo, device, options);
  time_s["grpo"] = lap();
  add_grpo_times(options.log_path, time_s);

  // 4. the RL model's held-out numbers
  std::fprintf(stderr, "run: 4/5 eval the RL model\n");
  const EvalResult rl_test = run_eval(rl_path, "RL", grpo, preset, a, device, false, dir + "/eval_rl_test.json");
  const EvalResult rl_ood = run_eval(rl_path, "RL", grpo, preset, a, device, true, dir + "/eval_rl_ood.json");
  time_s["eval_rl"] = lap();

  // 5. the summary
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  time_s["total"] = seconds;
  const std::string table = before_after_table(base_test, base_ood, rl_test, rl_ood);
  const nlohmann::json aha = find_aha_moment(options.log_path);
  nlohmann::json summary = {{"preset", preset.name},
                            {"task", task},
                            {"seed", grpo.seed},
                            {"device", device_name(device)},
                            {"loss", loss_variant_name(grpo.loss)},
                            {"mix", mix.empty() ? "default" : mix},
                            {"label", preset.name + " " + task + " seed " + std::to_string(grpo.seed) +
                                          (a.mix.empty() ? "" : " mix " + a.mix)},
                            {"grpo_config", nlohmann::json::parse(to_json(grpo))},
                            {"seconds", seconds},
                            {"time_s", time_s},
                            {"base", {{"test", base_test.to_json()}, {"ood", base_ood.to_json()}}},
                            {"rl", {{"test", rl_test.to_json()}, {"ood", rl_ood.to_json()}}},
                            {"table", table},
                            {"aha_moment", aha}};
  for (auto* side : {&summary["base"]["test"], &summary["base"]["ood"], &summary["rl"]["test"], &summary["rl"]["ood"]})
    side->erase("samples");  // they are in the eval files
  write_json_atomically(dir + "/summary.json", summary);
  std::fprintf(stderr, "run: 5/5 done in %.1f min; results in %s/\n", seconds / 60.0, dir.c_str());
  std::printf("aha run: %s, task %s, seed %llu, %s, %.1f min\n\n%s\n%s\n%s\n%s", preset.name.c_str(), task.c_str(),
              (unsigned long long)grpo.seed, device_name(device), seconds / 60.0, table.c_str(),
              side_by_side(base_test, rl_test).c_str(), verdict(base_test, rl_test).c_str(),
              describe_aha_moment(aha).c_str());
  std::printf("%s", describe_times(time_s).c_str());
  std::printf("next: make notebooks RUNS=%s (the curves over GRPO steps, a trace viewer); the GPU run,\n"
              "  aha run --preset gpu-small --device cuda --dtype bf16 --kv-cache bf16 (README \"The aha run\")\n",
              dir.c_str());
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "the whole pipeline: corpus, pretrain, eval base, GRPO, eval RL, a before/after table");
  add_grpo_options(cmd, a->grpo, true);
  cmd->add_option("--device", a->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--out", a->out, "run directory (default: runs/<preset>-<task>-seed<seed>)");
  cmd->add_option("--mix", a->mix,
                  "corpus mixture, on top of the preset's, e.g. \"verify=0,correct=0\" (keys: direct steps verify correct noise slip wrong_end)");
  cmd->add_option("--base", a->base, "use this base model instead of pretraining one")->check(CLI::ExistingFile);
  cmd->add_option("--context", a->context,
                  "the model's context in tokens (default: the preset's); every corpus document must fit")
      ->check(CLI::Range(16, kMaxContext));
  cmd->add_option("--pretrain-steps", a->pretrain_steps, "pretraining steps (default: the preset's)")
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--eval-n", a->eval_problems, "problems of the before/after evals (default: the preset's)")
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--k", a->ks, "pass@k for these k in the before/after evals (default: the preset's)")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096));
  cmd->callback([a, cmd]() {
    // Pretraining knobs with --base would be silently ignored.
    if (!a->base.empty())
      for (const char* knob : {"--mix", "--context", "--pretrain-steps"})
        if (cmd->count(knob))
          throw std::runtime_error(std::string("run: ") + knob + " shapes the pretraining, which --base skips; " +
                                   "pass one or the other");
    run_pipeline(*a);
  });
}

}  // namespace aha
