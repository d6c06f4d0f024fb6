#include "grpo/corpus_source.h"

#include <stdexcept>

#include "data/task.h"

namespace aha {

// make_batch (model/pretrain.h) pads with token 0 and mask 0; that must be <pad>.
static_assert(data::Tokenizer::kPad == 0, "CorpusSource relies on make_batch padding with <pad>");

CorpusSource::CorpusSource(const data::CorpusConfig& config, uint64_t seed, int length)
    : corpus_(config, seed), length_(length) {
  if (length < 2)
    throw std::runtime_error("CorpusSource: sequence length " + std::to_string(length) +
                             " must be >= 2 (context + 1)");
}

TokenSequence CorpusSource::next(Generator& rng) {
  TokenSequence seq;
  while (true) {
    const uint64_t index = rng.next_u64();
    const std::vector<int> doc = tokenizer_.encode(corpus_.document_at(index).text());
    if ((int)doc.size() > length_)
      throw std::runtime_error("CorpusSource: document " + std::to_string(index) + " has " +
                               std::to_string(doc.size()) + " tokens, more than the context " +
                               std::to_string(length_ - 1) + " + 1; raise --context");
    if (seq.tokens.size() + doc.size() > (size_t)length_) break;
    seq.tokens.insert(seq.tokens.end(), doc.begin(), doc.end());
  }
  seq.loss_mask.assign(seq.tokens.size(), 1.0f);
  return seq;
}

data::CorpusConfig corpus_for_task(const std::string& task_or_all, const std::string& mix) {
  data::CorpusConfig config;
  int only = -1;  // the one task kept, or -1 for all
  if (task_or_all != "all") {
    try {
      only = (int)data::parse_task(task_or_all);
    } catch (const std::exception&) {
      throw std::runtime_error("unknown task '" + task_or_all + "' (choices: add, mul, countdown, all)");
    }
    for (int t = 0; t < data::kNumTasks; ++t)
      if (t != only) config.task_shares[t] = 0.0;
  }
  config = data::parse_corpus_mix(mix, config);
  if (only >= 0)
    for (int t = 0; t < data::kNumTasks; ++t)
      if (t != only && config.task_shares[t] != 0.0)
        throw std::runtime_error("corpus mix '" + mix + "' gives " + data::task_name((data::TaskKind)t) +
                                 " a share, but the task is " + task_or_all +
                                 " alone (use --task all to mix tasks)");
  return config;
}

}  // namespace aha
