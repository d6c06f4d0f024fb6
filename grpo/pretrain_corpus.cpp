#include "grpo/pretrain_corpus.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "data/task.h"
#include "grpo/corpus_source.h"

namespace aha {
namespace {

// The corpus seeds of the two streams, drawn from the run's seed (counters
// apart from model/pretrain.cpp's streams 0..2): `aha pretrain`'s ...
constexpr uint64_t kPretrainTrainStream = 0x636f72707573ULL;  // "corpus"
constexpr uint64_t kPretrainValStream = 0x76616c636f7270ULL;  // "valcorp"
// ... and `aha run`'s.
constexpr uint64_t kRunTrainStream = 0x72756e2d747261ULL;  // "run-tra"
constexpr uint64_t kRunValStream = 0x72756e2d76616cULL;    // "run-val"

const char* const kSourceKey = "data.source";  // "corpus" (or "text": model/char_text.h)
const char* const kTaskKey = "data.task";
const char* const kMixKey = "data.mix";
const char* const kDifficultiesKey = "data.difficulties";  // a JSON array, [] = the task's own
const char* const kTrainSeedKey = "data.train_seed";
const char* const kValSeedKey = "data.val_seed";
const char* const kDescriptionKey = "data.corpus";  // the normalised mixture, for people

std::vector<int> parse_difficulties(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text).get<std::vector<int>>();
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(where + ": metadata '" + kDifficultiesKey + "' is not a list of integers: '" + text + "'");
  }
}

}  // namespace

PretrainCorpus PretrainCorpus::for_pretrain(const std::string& task, const std::string& mix, uint64_t seed) {
  return PretrainCorpus{task, mix, {}, rng::bits(seed, kPretrainTrainStream), rng::bits(seed, kPretrainValStream)};
}

PretrainCorpus PretrainCorpus::for_run(const std::string& task, const std::string& mix,
                                       const std::vector<int>& difficulties, uint64_t seed) {
  return PretrainCorpus{task, mix, difficulties, rng::bits(seed, kRunTrainStream), rng::bits(seed, kRunValStream)};
}

data::CorpusConfig PretrainCorpus::config() const {
  data::CorpusConfig config = corpus_for_task(task, mix);
  if (!difficulties.empty()) {
    if (task == "all") throw std::runtime_error("corpus: difficulties are a single task's; the task is 'all'");
    config.difficulties[(int)data::parse_task(task)] = difficulties;
  }
  return config;
}

std::map<std::string, std::string> PretrainCorpus::metadata() const {
  return {{kSourceKey, "corpus"},
          {kTaskKey, task},
          {kMixKey, mix},
          {kDifficultiesKey, nlohmann::json(difficulties).dump()},
          // Strings: JSON readers lose 64-bit integers.
          {kTrainSeedKey, std::to_string(train_seed)},
          {kValSeedKey, std::to_string(val_seed)},
          {kDescriptionKey, data::describe_mix(config())}};
}

PretrainCorpus PretrainCorpus::from_checkpoint(const Checkpoint& ckpt) {
  const std::string where = "checkpoint '" + ckpt.path() + "'";
  const auto& meta = ckpt.metadata();
  const auto source = meta.find(kSourceKey);
  if (source == meta.end() || source->second != "corpus")
    throw std::runtime_error(where + " was not pretrained on the arithmetic corpus (metadata '" + kSourceKey + "' is " +
                             (source == meta.end() ? "missing" : "'" + source->second + "'") + ")");
  PretrainCorpus corpus;
  corpus.task = ckpt.metadata_value(kTaskKey);
  corpus.mix = ckpt.metadata_value(kMixKey);
  if (meta.count(kTrainSeedKey)) {
    corpus.difficulties = parse_difficulties(ckpt.metadata_value(kDifficultiesKey), where);
    corpus.train_seed = ckpt.metadata_u64(kTrainSeedKey);
    corpus.val_seed = ckpt.metadata_u64(kValSeedKey);
  } else if (meta.count(kDescriptionKey)) {
    // Written by an `aha pretrain` that did not record its streams yet: they
    // were its own, from the run's seed, at the task's own difficulties.
    const TrainConfig train = train_config_from_json(ckpt.metadata_value("train.config"));
    corpus = for_pretrain(corpus.task, corpus.mix, train.seed);
  } else {
    // Written by an older `aha run`: its difficulties (--difficulties or the
    // preset's) and streams are not recorded; guessing would silently train
    // on another distribution.
    throw std::runtime_error(where + " was pretrained by an older `aha run`, whose checkpoints do not record the "
                             "corpus's difficulties and streams (metadata '" + std::string(kTrainSeedKey) +
                             "'); it cannot be resumed exactly. Pretrain it anew with this aha (aha run, "
                             "--pretrain-steps N for a longer pretraining); its checkpoints can be resumed");
  }
  try {
    corpus.config();
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": its corpus metadata is invalid: " + e.what());
  }
  return corpus;
}

PretrainResult pretrain_on_corpus(GPTConfig model, const TrainConfig& train, const PretrainCorpus& corpus,
                                  Device device, PretrainOptions options) {
  const data::CorpusConfig config = corpus.config();
  CorpusSource train_data(config, corpus.train_seed, model.context + 1);
  CorpusSource val_data(config, corpus.val_seed, model.context + 1);
  model.vocab_size = train_data.vocab_size();
  for (const auto& [key, value] : corpus.metadata()) options.extra_metadata[key] = value;
  return pretrain(model, train, train_data, &val_data, device, options);
}

}  // namespace aha
