// The adapters between the arithmetic "web" (data/) and the model layer's
// interfaces (model/text_codec.h, model/sequence_source.h): model/ knows
// nothing of tasks, data/ nothing of models, and these two classes are the
// only place the two meet for pretraining and sampling.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "model/sequence_source.h"
#include "model/text_codec.h"

namespace aha {

// data::Tokenizer as a TextCodec: special tokens are written literally
// ("<bos>", "<eos>", ...), eos is data::Tokenizer::kEos.
class TokenizerCodec : public TextCodec {
 public:
  std::vector<int> encode(const std::string& text) const override { return tokenizer_.encode(text); }
  std::string decode(const std::vector<int>& tokens) const override { return tokenizer_.decode(tokens); }
  int vocab_size() const override { return tokenizer_.vocab_size(); }
  int eos_token() const override { return data::Tokenizer::kEos; }
  std::string version() const override { return data::Tokenizer::kVersion; }

 private:
  data::Tokenizer tokenizer_;
};

// Pretraining sequences packed from corpus documents:
//
//   <bos>what is 12+34?\n<think>..</think><answer>46</answer><eos><bos>what is ...<eos>
//   \_________________________ document 1 _____________________/\____ document 2 ___/
//
// Whole documents, one after another from position 0, until the next drawn
// document would not fit in `length` (= context + 1) tokens; that one is
// dropped. A document is never cut, so every prompt the model sees in
// pretraining starts a document, and the first starts at position 0, as an RL
// prompt does. Packing matters on CPU: documents are 20-250 tokens long.
//
// The sequence is returned unpadded (length <= context + 1): make_batch
// right-pads it with token 0, which is <pad>, and loss mask 0. Every real
// token has loss mask 1 (the separator <bos> too: the model learns that a
// document follows <eos>).
//
// Every random choice comes from the generator passed to next(): it draws a
// 64-bit document index and the corpus makes document_at(index), a pure
// function of (corpus seed, index). So the pretraining loop's checkpointed RNG
// state is the whole state of the data stream, and a resumed run continues
// exactly.
class CorpusSource : public SequenceSource {
 public:
  // `length` = context + 1. Throws on an invalid corpus config.
  CorpusSource(const data::CorpusConfig& config, uint64_t seed, int length);

  // Throws, naming both lengths, when a drawn document alone is longer than
  // `length` tokens.
  TokenSequence next(Generator& rng) override;
  int vocab_size() const override { return tokenizer_.vocab_size(); }
  std::string tokenizer_version() const override { return data::Tokenizer::kVersion; }

  const data::Corpus& corpus() const { return corpus_; }

 private:
  data::Corpus corpus_;
  data::Tokenizer tokenizer_;
  int length_;
};

// The corpus of `aha pretrain --task T --mix SPEC`: task "all" keeps the
// three tasks; "add", "mul" or "countdown" sets the other tasks' shares to 0.
// `mix` (may be empty) then sets shares as data::parse_corpus_mix reads them;
// with a single task it may not give another task a share. Throws naming the
// bad value.
data::CorpusConfig corpus_for_task(const std::string& task_or_all, const std::string& mix);

}  // namespace aha
