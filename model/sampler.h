// Choosing the next token from the logits: greedy, or a draw from the softmax
// at temperature T, optionally cut to the k most likely tokens (top-k, Fan et
// al. 2018) and then to the smallest set holding probability mass >= p (top-p,
// the nucleus, Holtzman et al. 2020).
//
// Two log-probabilities come back per token, because GRPO needs the second:
//   logprobs:        log q(token), q the distribution actually sampled from
//                    (after temperature, top-k and top-p, renormalised); 0 for greedy.
//   policy_logprobs: log softmax(logits / T)[token], the policy at temperature T
//                    with no truncation (T = 1 for greedy). This is the
//                    pi_old(o_t | q, o_<t) of R1 eq. 1 when rollouts use temperature T.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace aha {

struct SamplingConfig {
  float temperature = 1.0f;  // > 0; 0 means greedy
  int top_k = 0;             // keep the k most likely tokens; 0 = all
  float top_p = 1.0f;        // keep the smallest nucleus with mass >= top_p; 1 = all
  bool greedy = false;       // argmax (lowest id on ties); no random draw

  bool is_greedy() const { return greedy || temperature == 0.0f; }
  void validate() const;  // throws naming the bad field
};

struct Samples {
  std::vector<int> tokens;             // [B]
  std::vector<float> logprobs;         // [B] under the sampling distribution
  std::vector<float> policy_logprobs;  // [B] under softmax(logits / T)
};

// logits [B, V] on any device (copied to the host). Draws one uniform from
// `gen` per row, in row order, unless greedy.
Samples sample(const Tensor& logits, const SamplingConfig& config, Generator& gen);

}  // namespace aha
