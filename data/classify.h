// Which style a completion follows, for the RL metrics (how often the policy
// works step by step, checks itself, corrects itself). The corpus writes each
// style with fixed wording, so the rules are short:
//   a line of the think that starts with "wait"  -> a correction
//   a line of the think that starts with "check" -> a self-check
//   style: Correct if any correction, else Verify if any check,
//          else Steps if the think has two or more lines, else Direct.
// Only the think block is read; a completion without one counts as Direct.
#pragma once

#include <string>

#include "data/task.h"

namespace aha {
namespace data {

struct StyleReport {
  Style style = Style::Direct;
  int think_lines = 0;   // non-blank lines inside <think> ... </think>
  int checks = 0;        // lines starting with "check"
  int corrections = 0;   // lines starting with "wait"
};

StyleReport classify(const std::string& completion);

// The think text: after the first <think>, up to </think> or, when the block
// was never closed, up to <answer> or the end. Empty without a <think>.
std::string think_block(const std::string& completion);

}  // namespace data
}  // namespace aha
