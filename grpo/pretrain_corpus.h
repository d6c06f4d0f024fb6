// The arithmetic corpus a pretraining run reads, whole: its task, mixture,
// difficulties and the seeds of its training and validation streams. Every
// checkpoint records it (metadata "data.*"), so that `aha pretrain --resume`
// continues a run of `aha pretrain` or of `aha run` on the very same
// documents, bit for bit, and nothing on the command line has to repeat it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "model/checkpoint.h"
#include "model/pretrain.h"

namespace aha {

struct PretrainCorpus {
  std::string task = "all";       // add, mul, countdown, or all (the three mixed)
  std::string mix;                // as given to --mix (data::parse_corpus_mix); "" = the default mixture
  std::vector<int> difficulties;  // of `task`, a single task; empty = the task's training difficulties
  uint64_t train_seed = 0;        // the corpus seeds of the two streams (CorpusSource)
  uint64_t val_seed = 0;

  // The corpus of `aha pretrain --task T --mix M --seed S`, and that of
  // `aha run`. Each command draws its two streams from the run's seed with
  // counters of its own (both kept, so that earlier runs stay reproducible).
  static PretrainCorpus for_pretrain(const std::string& task, const std::string& mix, uint64_t seed);
  static PretrainCorpus for_run(const std::string& task, const std::string& mix,
                                const std::vector<int>& difficulties, uint64_t seed);

  // Throws naming a bad task, mixture or difficulty.
  data::CorpusConfig config() const;
  // The checkpoint metadata that records it: data.source, data.task,
  // data.mix, data.difficulties, data.train_seed, data.val_seed, and
  // data.corpus (the normalised mixture, for people).
  std::map<std::string, std::string> metadata() const;
  // The corpus a checkpoint was pretrained on. Throws naming the file, and
  // what to do instead, when it records too little to continue exactly (a
  // text run, or a base model of an `aha run` older than these keys).
  static PretrainCorpus from_checkpoint(const Checkpoint& ckpt);
};

// Pretraining on `corpus`, what `aha run` and `aha pretrain` both do: the
// training and validation streams of context + 1 tokens, the model's
// vocab_size from the arithmetic tokenizer, and the corpus recorded in every
// checkpoint (added to options.extra_metadata). Resume with
// options.resume_path and the checkpoint's configs and
// PretrainCorpus::from_checkpoint.
PretrainResult pretrain_on_corpus(GPTConfig model, const TrainConfig& train, const PretrainCorpus& corpus,
                                  Device device, PretrainOptions options);

}  // namespace aha
