// The corpus a pretraining run reads, recorded in its checkpoints
// (grpo/pretrain_corpus.h): a pretraining started as `aha run` starts it
// resumes from the checkpoint alone, bit for bit.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "grpo/pretrain_corpus.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"

using namespace aha;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("aha_test_corpus_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  return std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

// A copy of `from` with some metadata keys removed, as an older aha wrote it.
std::string without_keys(const std::string& from, const std::string& to, const std::vector<std::string>& keys) {
  SafetensorsFile file = read_safetensors(from);
  for (const std::string& key : keys) file.metadata.erase(key);
  write_safetensors(to, file.tensors, file.metadata);
  return to;
}

}  // namespace

// The case: `aha pretrain --resume runs/demo/base.safetensors` failed,
// because `aha run` trained on difficulties and corpus streams the checkpoint
// did not record. `aha pretrain --resume` now rebuilds the data from the
// checkpoint alone, as this test does.
TEST_CASE("a pretraining started as `aha run` starts it resumes exactly from its checkpoint alone") {
  const fs::path dir = scratch("resume");
  // `aha run --task add --difficulties 1 --mix ...`: difficulties the task's
  // default does not have, and the run's own streams.
  const PretrainCorpus corpus =
      PretrainCorpus::for_run("add", "direct=0.6,steps=0.4,verify=0,correct=0,noise=0", {1}, 21);
  GPTConfig model{0, 96, 32, 1, 2};
  TrainConfig train;
  train.batch_size = 4;
  train.steps = 6;
  train.warmup_steps = 1;
  train.eval_every = 2;
  train.eval_batches = 1;
  train.ckpt_every = 100;
  train.seed = 21;
  PretrainOptions options;
  options.progress = false;
  options.preset = "test";

  PretrainOptions whole = options;
  whole.out_path = (dir / "whole.safetensors").string();
  const PretrainResult a = pretrain_on_corpus(model, train, corpus, Device::CPU, whole);

  PretrainOptions part = options;
  part.out_path = (dir / "base.safetensors").string();
  part.stop_at = 3;
  pretrain_on_corpus(model, train, corpus, Device::CPU, part);

  // What `aha pretrain --resume base.safetensors` does: every setting from the checkpoint.
  const Checkpoint ckpt = Checkpoint::read(part.out_path);
  const PretrainCorpus recorded = PretrainCorpus::from_checkpoint(ckpt);
  CHECK(recorded.task == "add");
  CHECK(recorded.mix == corpus.mix);
  CHECK(recorded.difficulties == std::vector<int>{1});
  CHECK(recorded.train_seed == corpus.train_seed);
  CHECK(recorded.val_seed == corpus.val_seed);
  PretrainOptions resumed = options;
  resumed.out_path = (dir / "resumed.safetensors").string();
  resumed.resume_path = part.out_path;
  const PretrainResult c = pretrain_on_corpus(ckpt.config(), train_config_from_json(ckpt.metadata_value("train.config")),
                                              recorded, Device::CPU, resumed);
  CHECK(c.last_step == 6);
  CHECK(c.train_loss == a.train_loss);
  CHECK(c.val_loss == a.val_loss);
  const SafetensorsFile fa = read_safetensors(whole.out_path), fc = read_safetensors(resumed.out_path);
  REQUIRE(fa.tensors.size() == fc.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i) {
    CAPTURE(fa.tensors[i].first);
    CHECK(same_bits(fa.tensors[i].second, fc.tensors[i].second));  // parameters and AdamW moments
  }

  SUBCASE("a checkpoint of an older `aha run` (no streams, no difficulties) is refused with what to do") {
    const std::string old = without_keys(part.out_path, (dir / "old_run.safetensors").string(),
                                         {"data.train_seed", "data.val_seed", "data.difficulties", "data.corpus"});
    CHECK_THROWS_WITH_AS(PretrainCorpus::from_checkpoint(Checkpoint::read(old)),
                         doctest::Contains("was pretrained by an older `aha run`, whose checkpoints do not record the "
                                           "corpus's difficulties and streams (metadata 'data.train_seed'); it cannot "
                                           "be resumed exactly. Pretrain it anew"),
                         std::runtime_error);
  }
  SUBCASE("a checkpoint of an older `aha pretrain` resumes on `aha pretrain`'s streams") {
    const std::string old = without_keys(part.out_path, (dir / "old_pretrain.safetensors").string(),
                                         {"data.train_seed", "data.val_seed", "data.difficulties"});
    const PretrainCorpus legacy = PretrainCorpus::from_checkpoint(Checkpoint::read(old));
    const PretrainCorpus expected = PretrainCorpus::for_pretrain("add", corpus.mix, train.seed);
    CHECK(legacy.difficulties.empty());
    CHECK(legacy.train_seed == expected.train_seed);
    CHECK(legacy.val_seed == expected.val_seed);
  }
  SUBCASE("a text checkpoint has no corpus to continue") {
    const std::string text = without_keys(part.out_path, (dir / "text.safetensors").string(), {"data.source"});
    CHECK_THROWS_WITH_AS(PretrainCorpus::from_checkpoint(Checkpoint::read(text)),
                         doctest::Contains("was not pretrained on the arithmetic corpus"), std::runtime_error);
  }
  fs::remove_all(dir);
}
