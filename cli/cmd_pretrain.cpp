// `aha pretrain`: next-token pretraining of a GPT preset on a stream of token
// sequences (model/pretrain.h), writing a checkpoint that `aha sample` and
// `aha grpo` read and that `--resume` continues exactly. The data is the
// arithmetic corpus (data/corpus.h, packed by grpo/corpus_source.h, recorded
// in the checkpoint by grpo/pretrain_corpus.h), or with --text any text file
// read character by character.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>

#include "cli/commands.h"
#include "data/corpus.h"
#include "grpo/corpus_source.h"
#include "grpo/pretrain_corpus.h"
#include "model/char_text.h"
#include "model/checkpoint.h"
#include "model/output_files.h"
#include "model/pretrain.h"

namespace aha {
namespace {

// The share of --text held out for validation when no --val-text is given.
constexpr double kValFraction = 0.1;

// Checkpoint metadata naming the data, so that --resume trains on the same:
// "corpus" (and the keys of grpo/pretrain_corpus.h) or "text".
const char* const kDataSourceKey = "data.source";

struct PretrainArgs {
  std::string preset = "cpu-tiny";
  std::string device = "cpu";
  std::string out;
  std::string task = "all";
  std::string mix;
  std::string text, val_text;
  std::string resume;
  std::string log;
  int stop_at = 0;
  // Overrides of the preset; 0 / empty = the preset's value.
  int steps = 0, batch_size = 0, grad_accum = 0, context = 0, warmup = 0, eval_every = 0, ckpt_every = 0;
  float lr = 0.0f;
  uint64_t seed = 0;
  std::string dtype = "fp32";
};

struct TextSources {
  std::unique_ptr<SequenceSource> train, val;
};

// A text file read character by character (--text); validation is its last
// tenth, or --val-text.
TextSources make_text_sources(const PretrainArgs& a, int context) {
  TextSources s;
  std::string text = read_text_file(a.text);
  std::string train_text, val_text;
  if (a.val_text.empty()) {
    std::tie(train_text, val_text) = split_train_val(text, kValFraction);
  } else {
    train_text = text;
    val_text = read_text_file(a.val_text);
  }
  // One vocabulary over both, so a validation byte is never unknown.
  CharVocab vocab = CharVocab::from_text(train_text + val_text);
  s.train = std::make_unique<CharTextSource>(train_text, vocab, context + 1);
  s.val = std::make_unique<CharTextSource>(val_text, vocab, context + 1);
  return s;
}

// logs/<checkpoint name without extension>.jsonl
std::string default_log_path(const std::string& out) {
  return (std::filesystem::path("logs") / std::filesystem::path(out).stem()).string() + ".jsonl";
}

void run_pretrain(PretrainArgs a, const CLI::App& cmd) {
  Device device = parse_device(a.device);
  require_device(device);
  const std::string log_path = a.log.empty() ? default_log_path(a.out) : a.log;
  // Before any work: the outputs may not destroy an input (but for --resume X
  // --out X), and a bad folder fails now rather than at the first save.
  check_output_paths("pretrain", {{"--out", a.out, "--resume"}, {"--log", log_path, ""}},
                     {{"--resume", a.resume}, {"--text", a.text}, {"--val-text", a.val_text}});
  GPTConfig model;
  TrainConfig train;
  PretrainCorpus corpus;  // unless --text
  std::string preset_name = a.preset;
  if (a.resume.empty()) {
    const Preset& preset = find_preset(a.preset);
    model = preset.model;
    train = preset.train;
    if (a.context) model.context = a.context;
    if (a.steps) train.steps = a.steps;
    if (a.batch_size) train.batch_size = a.batch_size;
    if (a.grad_accum) train.grad_accum = a.grad_accum;
    if (cmd.count("--warmup")) train.warmup_steps = a.warmup;
    if (a.eval_every) train.eval_every = a.eval_every;
    if (a.ckpt_every) train.ckpt_every = a.ckpt_every;
    if (a.lr > 0.0f) {
      train.min_lr *= a.lr / train.lr;  // keep the preset's floor-to-peak ratio
      train.lr = a.lr;
    }
    if (cmd.count("--seed")) train.seed = a.seed;
    train.dtype = parse_dtype(a.dtype);
  } else {
    // A resumed run is the interrupted run: only its length may change.
    for (const char* knob : {"--preset", "--context", "--batch-size", "--grad-accum", "--warmup", "--eval-every",
                             "--ckpt-every", "--lr", "--seed", "--task", "--mix", "--dtype"})
      if (cmd.count(knob))
        throw std::runtime_error(std::string("pretrain: ") + knob +
                                 " cannot change on --resume (the checkpoint's settings continue)");
    Checkpoint ckpt = Checkpoint::read(a.resume);
    model = ckpt.config();
    train = train_config_from_json(ckpt.metadata_value("train.config"));
    preset_name = ckpt.metadata_value("preset");
    if (a.steps) train.steps = a.steps;
    // The same data: the corpus, mixture, difficulties and streams the
    // checkpoint records (whether `aha pretrain` or `aha run` wrote it), or
    // the text, which is not stored and must be given again. Checkpoints
    // without the key predate the corpus, so they were trained on text.
    const auto& meta = ckpt.metadata();
    const auto source = meta.find(kDataSourceKey);
    if (source != meta.end() && source->second == "corpus") {
      if (!a.text.empty())
        throw std::runtime_error("pretrain: the checkpoint was pretrained on the arithmetic corpus; --text cannot "
                                 "change on --resume");
      corpus = PretrainCorpus::from_checkpoint(ckpt);
    } else if (a.text.empty()) {
      throw std::runtime_error("pretrain: the checkpoint was pretrained on a text file; pass the same --text "
                               "(and --val-text) to resume it");
    }
  }

  PretrainOptions options;
  options.out_path = a.out;
  options.log_path = log_path;
  options.resume_path = a.resume;
  options.stop_at = a.stop_at;
  options.preset = preset_name;
  PretrainResult r;
  if (a.text.empty()) {
    // Validation draws from the same corpus with another seed (still
    // Train-split problems: a loss, not a benchmark; `aha eval` scores the
    // Test split).
    if (a.resume.empty()) corpus = PretrainCorpus::for_pretrain(a.task, a.mix, train.seed);
    std::fprintf(stderr, "pretrain: arithmetic corpus, task %s: %s\n", corpus.task.c_str(),
                 data::describe_mix(corpus.config()).c_str());
    r = pretrain_on_corpus(model, train, corpus, device, options);
  } else {
    TextSources data = make_text_sources(a, model.context);
    if (a.resume.empty()) model.vocab_size = data.train->vocab_size();
    options.extra_metadata = {{kDataSourceKey, "text"}};
    r = pretrain(model, train, *data.train, data.val.get(), device, options);
  }

  std::printf("{\"checkpoint\": \"%s\", \"preset\": \"%s\", \"device\": \"%s\", \"params\": %lld, \"step\": %d, "
              "\"steps\": %d, \"train_loss\": %.6g, \"val_loss\": %s, \"tokens_per_s\": %.1f, \"log\": \"%s\"}\n",
              a.out.c_str(), preset_name.c_str(), device_name(device), (long long)r.num_params, r.last_step,
              train.steps, r.train_loss, std::isnan(r.val_loss) ? "null" : std::to_string(r.val_loss).c_str(),
              r.tokens_per_second, options.log_path.c_str());
}

}  // namespace

void add_pretrain_command(CLI::App& app) {
  auto a = std::make_shared<PretrainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "pretrain", "pretrain a GPT preset by next-token prediction; writes a checkpoint (safetensors)");
  std::string names;
  for (const Preset& p : presets()) names += "\n  " + p.name + ": " + p.summary;
  const CLI::Range positive(1, 1 << 30);
  cmd->add_option("--preset", a->preset, "model and training preset:" + names)->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--out", a->out, "checkpoint to write (every --ckpt-every steps and at the end)")->required();
  cmd->add_option("--task", a->task,
                  "the arithmetic corpus's task: add, mul, countdown, or all (the three mixed)")
      ->check(CLI::IsMember({"add", "mul", "countdown", "all"}))
      ->capture_default_str();
  cmd->add_option("--mix", a->mix,
                  "corpus mixture as key=value,...: task weights add, mul, countdown (default 1 each); "
                  "style weights direct, steps, verify, correct (default 0.7, 0.2, 0.05, 0.05); noise, the "
                  "share of documents with a wrong answer (default 0.05). E.g. --mix steps=0.4,verify=0.1,noise=0");
  cmd->add_option("--text", a->text,
                  "train on this text file (UTF-8) read character by character, instead of the arithmetic corpus")
      ->check(CLI::ExistingFile);
  cmd->add_option("--val-text", a->val_text, "validation text (default: the last 10% of --text)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--resume", a->resume, "continue this checkpoint's run exactly")->check(CLI::ExistingFile);
  cmd->add_option("--steps", a->steps, "optimiser steps of the whole run (default: the preset's)")->check(positive);
  cmd->add_option("--stop-at", a->stop_at, "stop after this step as if interrupted (resume later)")->check(positive);
  cmd->add_option("--log", a->log, "JSON Lines log, one object per step (default: logs/<out name>.jsonl)");
  cmd->add_option("--seed", a->seed, "the one seed: initial weights and data order (default: the preset's)");
  cmd->add_option("--batch-size", a->batch_size, "sequences per micro-batch")->check(positive);
  cmd->add_option("--grad-accum", a->grad_accum, "micro-batches per optimiser step")->check(positive);
  cmd->add_option("--context", a->context, "context length in tokens")->check(CLI::Range(1, kMaxContext));
  cmd->add_option("--lr", a->lr, "peak learning rate (the floor scales with it)")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", a->warmup, "linear warmup steps")->check(CLI::NonNegativeNumber);
  cmd->add_option("--dtype", a->dtype, kDtypeHelp)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--eval-every", a->eval_every, "validation loss every this many steps")->check(positive);
  cmd->add_option("--ckpt-every", a->ckpt_every, "checkpoint every this many steps")->check(positive);
  cmd->callback([a, cmd]() {
    if (!a->text.empty() && (cmd->count("--task") || cmd->count("--mix")))
      throw std::runtime_error("pretrain: --task and --mix shape the arithmetic corpus; --text trains on a text "
                               "file instead: pass one or the other");
    if (a->text.empty() && !a->val_text.empty())
      throw std::runtime_error("pretrain: --val-text goes with --text (the corpus has its own validation stream)");
    run_pretrain(*a, *cmd);
  });
}

}  // namespace aha
