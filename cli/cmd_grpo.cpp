// `aha grpo`: RL on outcome-only rewards from a pretrained base model
// (grpo/trainer.h), writing a checkpoint that --resume continues exactly.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/grpo_options.h"
#include "grpo/trainer.h"
#include "model/checkpoint.h"
#include "model/output_files.h"

namespace aha {
namespace {

struct GrpoCommandArgs {
  GrpoArgs grpo;
  std::string init, out, resume, log, device = "cpu";
  int stop_at = 0;
};

void run_grpo(const GrpoCommandArgs& a, const CLI::App& cmd) {
  const Device device = parse_device(a.device);
  require_device(device);
  if (a.init.empty() && a.resume.empty()) throw std::runtime_error("grpo: pass --init BASE (or --resume CKPT)");
  GrpoConfig config = make_grpo_config(a.grpo);
  std::string base_path = a.init;  // the base model, which a resumed run reads again
  if (!a.resume.empty()) {
    // A resumed run is the interrupted run: its settings come from the
    // checkpoint. Only --steps may change (to run on, or to stop sooner).
    std::vector<std::string> fixed = {"--preset"};
    for (const GrpoSetting& setting : grpo_settings())
      if (setting.flag[0] != '\0' && std::string(setting.flag) != "--steps") fixed.push_back(setting.flag);
    fixed.push_back("--init");
    for (const std::string& knob : fixed)
      if (cmd.count(knob))
        throw std::runtime_error("grpo: " + knob + " cannot change on --resume (the checkpoint's settings continue)");
    const int steps = config.steps;
    const Checkpoint resume = Checkpoint::read(a.resume);
    config = grpo_config_from_json(resume.metadata_value("grpo.config"));
    base_path = resume.metadata_value("grpo.init");
    if (cmd.count("--steps")) config.steps = steps;
  }
  GrpoOptions options;
  options.init_path = a.init;
  options.out_path = a.out;
  options.resume_path = a.resume;
  options.stop_at = a.stop_at;
  options.log_path =
      a.log.empty() ? (std::filesystem::path("logs") / std::filesystem::path(a.out).stem()).string() + ".jsonl" : a.log;
  // Before any work: the outputs may not destroy an input (but for --resume X
  // --out X), and a bad folder fails now rather than at the first save.
  check_output_paths("grpo", {{"--out", options.out_path, "--resume"}, {"--log", options.log_path, ""}},
                     {{"--resume", a.resume},
                      {a.resume.empty() ? "--init" : "--init (the base model of --resume)", base_path}});
  const GrpoResult r = train_grpo(config, device, options);
  std::printf("{\"checkpoint\": \"%s\", \"step\": %d, \"steps\": %d, \"reward_mean\": %.4f, \"accuracy\": %.4f, "
              "\"seconds\": %.1f, \"log\": \"%s\"}\n",
              a.out.c_str(), r.last_step, config.steps, r.reward_mean, r.accuracy, r.seconds, options.log_path.c_str());
}

}  // namespace

void add_grpo_command(CLI::App& app) {
  auto a = std::make_shared<GrpoCommandArgs>();
  CLI::App* cmd = app.add_subcommand("grpo", "GRPO on outcome-only rewards from a pretrained base model");
  cmd->add_option("--init", a->init, "the base model (from aha pretrain): the policy's start and the reference")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", a->out, "checkpoint to write (every --ckpt-every steps and at the end)")->required();
  cmd->add_option("--device", a->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--resume", a->resume, "continue this checkpoint's run exactly")->check(CLI::ExistingFile);
  cmd->add_option("--stop-at", a->stop_at, "stop after this step as if interrupted")->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--log", a->log, "JSON Lines log, one object per step (default: logs/<out name>.jsonl)");
  add_grpo_options(cmd, a->grpo, true);
  cmd->callback([a, cmd]() { run_grpo(*a, *cmd); });
}

}  // namespace aha
