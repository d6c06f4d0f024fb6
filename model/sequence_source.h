// The one interface between training data and the pretraining loop: a stream
// of token sequences. The character-level text source (model/char_text.h)
// implements it here; the arithmetic corpus (data/) plugs in through an
// adapter, grpo/corpus_source.h.
#pragma once

#include <string>
#include <vector>

#include "tensor/random.h"

namespace aha {

struct TokenSequence {
  std::vector<int> tokens;       // length >= 2 and <= context + 1
  // Same length as tokens: loss_mask[i] = 1 when predicting tokens[i] counts
  // in the loss (0 for a prompt the model is not asked to write, or padding).
  // loss_mask[0] is ignored: the first token is never predicted.
  std::vector<float> loss_mask;
};

class SequenceSource {
 public:
  virtual ~SequenceSource() = default;
  // The next training sequence. Every random choice must come from `rng`:
  // the pretraining loop owns and checkpoints it, which is what makes a
  // resumed run continue exactly where the interrupted one would have gone.
  virtual TokenSequence next(Generator& rng) = 0;
  virtual int vocab_size() const = 0;
  // Names the tokenizer (and its vocabulary) exactly; stored in checkpoints so
  // `aha sample` can decode, and so a resume with other data is refused.
  virtual std::string tokenizer_version() const = 0;
};

}  // namespace aha
