// One hand-written case of the GRPO objective, JSON in and JSON out: every
// quantity of R1 eq. 1-3 that grpo_loss computes, laid out per completion and
// per token, so a reader can check the code against a hand computation (the
// paper-to-code notebook, notebooks/paper_to_code.ipynb, does; `aha objective`
// is the command line around it).
//
// The case, a JSON object (only the rows' numbers are required):
//
//   "loss"          "grpo" | "dr_grpo" | "dapo" (default "grpo"): the token weights, and the
//                   variant's defaults for "scale_by_std" and the clip range (GrpoConfig)
//   "rewards"       r_i, one per completion, group after group   } one of the two
//   "group_size"    G (with "rewards")                            }
//   "advantages"    A_i, one per completion, given directly       }
//   "scale_by_std", "eps"   override the advantage's std scaling and its epsilon
//   "logprobs"      log pi_theta of each completion's tokens: [[-0.5, -1.0], [-0.2], ...]
//                   (rows may differ in length: the mask is built from them)
//   "old_logprobs"  log pi_old, the same lengths (default: logprobs, i.e. mu = 1, on-policy)
//   "ref_logprobs"  log pi_ref, the same lengths (needed when beta > 0)
//   "beta", "clip_low", "clip_high"   the ObjectiveConfig (defaults: its own and the variant's)
//   "max_length"    Dr. GRPO's constant normaliser (default: the longest row)
//
// The answer: "advantages" always; with "logprobs" also "weights", "ratio",
// "surrogate", "kl" (when beta > 0), "objective" per token (ragged like the
// input), "loss" (-J), "grad" (d loss / d logprobs) and "stats"
// (objective_stats). Rewards are used as given: DAPO's overlong shaping and its
// dropping of uniform groups are the trainer's, not applied here.
//
// Example: {"advantages": [1], "logprobs": [[-1]], "old_logprobs": [[-1.5]],
// "ref_logprobs": [[-1.3]], "beta": 0.1} gives ratio e^0.5 = 1.6487, clipped to
// 1.2, kl e^-0.3 + 0.3 - 1 = 0.0408182, loss -(1.2 - 0.1 * 0.0408182) = -1.19592.
#pragma once

#include <string>

namespace aha {

// Throws std::runtime_error naming the field at fault (unknown field, wrong
// type, ragged rows that disagree, a log-probability above 0, ...).
std::string evaluate_objective_case(const std::string& case_json);

}  // namespace aha
