// The trace checker: reads a completion's think block claim by claim and
// checks every claim with exact integer arithmetic. It measures; it never
// rewards (reward.cpp does not include it: R1's rewards read the answer and
// the format only, and so do ours).
//
// What a think block can claim, in the corpus's own wording (data/):
//   equation        "18*3=54", "4+7+1=12", "(25-7)*3+50=18*3+50=54+50=104":
//                   each '=' between two expressions is one claim, true when
//                   both sides have the same exact value
//   carry           "carry 1" after a column sum: the tens of the sum written
//   search verdict  "yes" / "no" ending a countdown line of steps
//                   ("25-7=18 18*3=54 54+50=104 yes"): does the line's chain,
//                   recomputed exactly from the numbers it uses (each given,
//                   at most once), really reach / miss the target?
//   check verdict   "check ... agrees" / "check ... disagrees": is the thing
//                   checked right? countdown: the check's first expression
//                   makes the target with the given numbers; add and mul: the
//                   last "so N" before the check is the true answer
// and two kinds of line that are not claims of their own:
//   correction      "wait X=Y not Z": EFFECTIVE when this completion earlier
//                   wrote Z as the value of the very expression X, Z is false
//                   and Y is true; SUPERFICIAL otherwise (Z never written for
//                   X, Z already true, or Y false). Its "X=Y" is an equation.
//   conclusion      "so X" or "closest X": what the trace concludes; the
//                   completion is faithful when its answer block says X.
// Anything else (a word the corpus never writes, an expression that does not
// parse) is not a claim and is skipped: the checker never throws on a
// completion, whatever the policy wrote.
//
// A false claim is corrected when a later effective correction names it; a
// false verdict or carry counts as corrected with the false equation on its
// line that caused it (a slip that made a miss look like a hit is one
// mistake, fixed once).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/task.h"

namespace aha {
namespace reward {

enum class ClaimKind { Equation, Carry, SearchVerdict, CheckVerdict };
const char* claim_kind_name(ClaimKind kind);  // "equation", "carry", "search verdict", "check verdict"

struct Claim {
  ClaimKind kind = ClaimKind::Equation;
  int line = 0;            // index into TraceReport::lines
  std::string text;        // as written: "18*3=56", "carry 1", "yes", "agrees"
  bool holds = false;
  std::string truth;       // when it does not hold, what is true: "18*3=54", "the line makes 104"
  bool corrected = false;  // false, and later corrected effectively
  // Equations whose right side is a plain integer: the left side as written
  // and that value (what a correction "wait X=Y not Z" refers to).
  std::string lhs;
  std::optional<int64_t> written;
};

struct Correction {
  int line = 0;
  bool effective = false;
  std::string why;  // "fixes 56, written for 18*3 on line 1" or why it is superficial
};

struct TraceReport {
  std::vector<std::string> lines;  // the think block's lines, trimmed, blank ones dropped
  std::vector<Claim> claims;
  std::vector<Correction> corrections;
  int false_claims = 0;
  int corrected_claims = 0;        // false claims later corrected effectively
  bool false_yes = false;          // a "yes" on a line that does not really reach the target
  bool effective_correction = false;    // at least one
  bool superficial_correction = false;  // at least one
  std::optional<std::string> conclusion;  // the last "so X" / "closest X", spaces removed
  bool faithful = false;           // the answer block says the conclusion (false without one)
  bool correct = false;            // the answer is right (answer_is_correct)
};

TraceReport check_trace(const data::Problem& problem, const std::string& completion);

// The think block with every claim marked, for a reader:
//    1  23-18=5 5+17=12 yes
//         ok 23-18=5 | FALSE 5+17=12 (5+17=22), corrected | FALSE yes (the line makes 22), corrected
// then the corrections, the conclusion and a one-line verdict.
std::string annotate_trace(const TraceReport& report);

// Totals over many completions and the metrics made of them. The metric
// names are the keys of the `trace` object of eval JSON (and, prefixed
// "trace_", of every grpo.jsonl line), in this order:
//   claims_per_completion        claims / completions
//   false_claim_rate             false claims / claims
//   false_yes_share              completions with a false "yes"
//   effective_correction_share   completions with at least one effective correction
//   superficial_correction_share completions with at least one superficial correction
//   caught_rate                  false claims later corrected effectively / false claims
//   faithful_share               completions whose answer is their conclusion / completions with a conclusion
//   accuracy_with_correction     accuracy of completions with a "wait" line
//   accuracy_without_correction  accuracy of the others
// A metric whose denominator is zero has no value (JSON null).
struct TraceTotals {
  int64_t completions = 0, claims = 0, false_claims = 0, corrected_claims = 0, false_yes = 0;
  int64_t effective = 0, superficial = 0, with_conclusion = 0, faithful = 0;
  int64_t with_correction = 0, correct_with_correction = 0, without_correction = 0, correct_without_correction = 0;

  void add(const TraceReport& report);
  std::vector<std::pair<std::string, std::optional<double>>> metrics() const;
};

}  // namespace reward
}  // namespace aha
