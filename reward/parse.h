// Reading a completion the way the rewards do: where the answer block is and
// whether the whole completion has the required shape. Nothing here looks at
// what the think block says (R1 sec. 2.2.2: outcome-only, rule-based rewards).
#pragma once

#include <string>

namespace aha {
namespace reward {

struct ParsedCompletion {
  // Exactly "<think>T</think>", optional whitespace, "<answer>A</answer>",
  // optional "<eos>", then nothing; T and A contain no special tokens and A
  // is not blank.
  bool well_formed = false;
  // Complete "<answer>...</answer>" blocks found anywhere. The answer is read
  // only when there is exactly one: several blocks are a hedge, not an answer.
  int answer_blocks = 0;
  bool has_answer = false;  // exactly one block, and it is properly closed
  std::string answer;       // its content, surrounding spaces and newlines removed
};

ParsedCompletion parse_completion(const std::string& completion);

// A plain non-negative integer in canonical form: digits only, no sign, no
// leading zero (except "0" itself). Any length: compared as text, never parsed.
bool is_plain_integer(const std::string& text);

}  // namespace reward
}  // namespace aha
