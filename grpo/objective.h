// The GRPO objective and its two variants, Dr. GRPO (Liu et al. 2025) and
// DAPO (Yu et al. 2025). The per-token form used here, (1/G) sum_i (1/|o_i|)
// sum_t of a clipped ratio per token minus a per-token KL, is DeepSeekMath's
// (Shao et al. 2024, sec. 4.1.2, eq. 3); DeepSeek-R1 (eq. 1-3) writes the same
// objective per completion. docs/ARCHITECTURE.md maps the whole GRPO step.
//
// Everything is laid out per token: N completions, each right-padded to T
// positions. mask[i, t] = 1 where position t holds a token of completion o_i
// (the prompt and the padding are 0).
#pragma once

#include <string>
#include <vector>

#include "autograd/ops.h"

namespace aha {

enum class LossVariant {
  Grpo,    // DeepSeekMath eq. 3: mean over completions of the per-completion token mean; A scaled by std
  DrGrpo,  // no 1/|o_i| (a constant normaliser instead), no std scaling
  Dapo,    // token mean over the whole batch, asymmetric clip, drop uniform groups, overlong shaping
};
const char* loss_variant_name(LossVariant variant);  // "grpo", "dr_grpo", "dapo"
LossVariant parse_loss_variant(const std::string& name);  // throws naming the choices

struct ObjectiveConfig {
  float clip_low = 0.2f;   // epsilon_low:  rho is clipped below at 1 - clip_low
  float clip_high = 0.2f;  // epsilon_high: rho is clipped above at 1 + clip_high (DAPO: 0.28)
  float beta = 0.04f;      // weight of the KL penalty; 0 = no reference model at all
};

// The per-token weights w[i, t] that turn the sum over tokens into the
// variant's average (mask [N, T] row-major, lengths[i] = sum_t mask[i, t]):
//   grpo     w = mask / (|o_i| * N)           (DeepSeekMath eq. 3: mean_i 1/|o_i| sum_t)
//   dr_grpo  w = mask / (max_length * N)      (a constant: long and short answers weigh alike per token)
//   dapo     w = mask / sum_i |o_i|           (token-level mean over the batch)
// Rows with no token (an empty completion, or a group DAPO dropped: pass their
// mask as 0) get weight 0 and do not count in N.
std::vector<float> token_weights(LossVariant variant, const std::vector<float>& mask, int num_rows,
                                 int max_length);

struct ObjectiveInputs {
  Var logprobs;          // [N, T] log pi_theta(o_it | q, o_i<t), with gradient
  Tensor old_logprobs;   // [N, T] log pi_old, kept from sampling
  Tensor ref_logprobs;   // [N, T] log pi_ref (frozen base); undefined when beta = 0
  Tensor advantages;     // [N, T] A_i repeated over the tokens of o_i
  Tensor weights;        // [N, T] from token_weights(); 0 off the completions
  Tensor mask;           // [N, T] 1 on completion tokens
};

// The per-token terms of J, each [N, T]; off the completions rho = 1 and KL = 0.
struct ObjectiveTerms {
  Var ratio;      // rho_it = exp(log pi_theta - log pi_old)                         (R1 eq. 1)
  Var surrogate;  // min(rho_it A_i, clip(rho_it, 1 - eps_low, 1 + eps_high) A_i)      (R1 eq. 1)
  Var kl;         // KL_it = pi_ref/pi_theta - log(pi_ref/pi_theta) - 1 (R1 eq. 2, k3); undefined when beta = 0
  Var objective;  // surrogate - beta KL: the term under J's sum
};
ObjectiveTerms grpo_terms(const ObjectiveInputs& in, const ObjectiveConfig& config);

// The loss we minimise, -J(theta), the weighted sum of grpo_terms' objective:
//
//   J = sum_{i,t} w_it [ min(rho_it A_i, clip(rho_it, 1 - eps_low, 1 + eps_high) A_i) - beta KL_it ]
//   rho_it = exp(log pi_theta - log pi_old)                       (DeepSeekMath eq. 3, per token)
//   KL_it  = pi_ref/pi_theta - log(pi_ref/pi_theta) - 1           (DeepSeekMath eq. 4, R1 eq. 2: the k3 estimator)
//
// Returns a scalar Var; backward() gives the policy gradient.
Var grpo_loss(const ObjectiveInputs& in, const ObjectiveConfig& config);

// Diagnostics of one evaluation of the objective, averaged over completion tokens.
struct ObjectiveStats {
  double kl = 0.0;             // mean KL_it (0 when beta = 0: no reference)
  double clip_fraction = 0.0;  // share of tokens where the clip is active (its gradient is cut)
  double ratio_mean = 0.0;     // mean rho_it
};
ObjectiveStats objective_stats(const ObjectiveInputs& in, const ObjectiveConfig& config);

}  // namespace aha
