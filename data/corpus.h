// The pretraining corpus: an endless, seeded stream of documents that mixes
// tasks x difficulties x styles, plus a share of wrong answers, like the web
// R1-Zero's base model was trained on. Only Train-split problems appear.
//
// Default mixture (why: see README "The corpus"): styles direct 70%, steps 20%,
// verify 5%, correct 5%; 5% of all documents are noise (a direct answer that
// is wrong); one `steps` document in ten carries a slip nothing catches; the
// three tasks equally; difficulties uniform over 1..4. Reasoning is present
// but rare, so RL has behaviours to find and amplify.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/task.h"
#include "data/template.h"

namespace aha {
namespace data {

struct CorpusConfig {
  // Relative weights (normalised when the corpus is made).
  std::array<double, kNumTasks> task_shares{{1.0, 1.0, 1.0}};                 // add, mul, countdown
  std::array<double, kNumStyles> style_shares{{0.70, 0.20, 0.05, 0.05}};      // direct, steps, verify, correct
  double noise_share = 0.05;  // probability that a document's answer is wrong
  // Probability that a `steps` document carries one slip that nothing catches
  // (its answer is then wrong): the web is not perfect. `verify` documents
  // never slip; `correct` ones always do, and catch it.
  double slip_share = 0.1;
  // Probability that a `verify` or `correct` document ends on a wrong answer
  // (its work, check and correction unchanged): the structure of checking
  // without its content (issue 14's structure-vs-content experiment, Gandhi
  // et al. 2025). Add and mul only. 0 draws nothing, so the default corpus is
  // the same document for document.
  double wrong_end_share = 0;
  // Difficulties per task, drawn uniformly; empty means the task's training
  // difficulties. Anything outside the training range is refused (the OOD set
  // must stay unseen).
  std::array<std::vector<int>, kNumTasks> difficulties;
  int max_tokens = kMaxDocumentTokens;  // a longer document is an error, never truncated
};

// "direct=0.5,steps=0.3,noise=0,countdown=2": set the named shares of `base`
// (keys: add mul countdown direct steps verify correct noise slip wrong_end;
// noise, slip and wrong_end are probabilities, the others relative weights). Throws on an unknown
// key or a value that is not a non-negative number.
CorpusConfig parse_corpus_mix(const std::string& spec, CorpusConfig base = CorpusConfig());
// One line describing the mixture, for logs: "add=0.333 mul=0.333 ... noise=0.05".
std::string describe_mix(const CorpusConfig& config);

struct Document {
  Problem problem;
  Style style = Style::Direct;  // Direct for noise documents
  bool noise = false;
  bool slipped = false;         // a `steps` document whose one slip nothing catches
  bool wrong_end = false;       // a `verify` or `correct` document with a wrong final answer (wrong_end_share)
  std::string prompt;           // "<bos>...\n"
  std::string completion;       // "<think>...<eos>"
  std::string text() const { return prompt + completion; }
};

class Corpus {
 public:
  // Throws on an invalid config (negative or all-zero shares, a difficulty
  // outside the training range, noise outside [0, 1]).
  Corpus(CorpusConfig config, uint64_t seed);

  // Document number position() (then position() advances). Each document is
  // drawn from its own stream, Generator(bits(seed, index)), so seek() resumes
  // exactly and documents can be made in any order.
  Document next();
  std::string next_document() { return next().text(); }
  Document document_at(uint64_t index) const;

  uint64_t position() const { return position_; }
  void seek(uint64_t position) { position_ = position; }
  const CorpusConfig& config() const { return config_; }

 private:
  CorpusConfig config_;
  uint64_t seed_;
  uint64_t position_ = 0;
};

}  // namespace data
}  // namespace aha
