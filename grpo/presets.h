// What `aha run --preset P` does at each scale: the model and pretraining
// preset of model/config.h, then the GRPO and evaluation settings below.
// Plain structs, so a reader sees every hyperparameter of the reference runs
// in one place.
#pragma once

#include <string>
#include <vector>

#include "grpo/trainer.h"

namespace aha {

struct RunPreset {
  std::string name;              // = the model preset's name (model/config.h)
  std::string default_task;      // the task `aha run` trains when --task is not given
  std::vector<int> difficulties;  // corpus, RL and test-split eval; empty = the task's training difficulties
  std::string mix;               // the corpus mixture (data::parse_corpus_mix); empty = the corpus default; --mix goes on top
  int context = 0;               // the model's context; 0 = the model preset's
  int pretrain_steps = 0;        // optimiser steps of pretraining
  GrpoConfig grpo;               // RL: B, G, length, lr, steps, periodic eval
  int eval_problems = 0;         // problems of the before/after evaluation (test and OOD each)
  std::vector<int> eval_ks;      // pass@k for these k (sampled completions per problem = the largest)
};

const std::vector<RunPreset>& run_presets();
// Throws, listing them, when `name` is not a preset.
const RunPreset& find_run_preset(const std::string& name);

}  // namespace aha
