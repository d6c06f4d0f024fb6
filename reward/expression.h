// The countdown answer checker's evaluator: integers, + - * /, parentheses,
// spaces. Exact 64-bit integer arithmetic:
//   - every intermediate must fit in int64 (overflow is an invalid answer);
//   - a / b needs b != 0 and b dividing a exactly (Countdown has no fractions);
//   - no unary minus, no leading zeros ("07"), no other characters.
// Negative intermediates are allowed (3-7+25 is a valid way to make 21).
// An invalid expression is an ordinary outcome of RL sampling, not an
// exception: the result says ok = false and why.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aha {
namespace reward {

struct ExpressionValue {
  bool ok = false;
  // The text is a well-formed expression: when not ok, the fault is in its
  // arithmetic (overflow, division by zero, a non-integer division), not in
  // how it is written. The trace checker counts such an equation as false.
  bool well_formed = false;
  int64_t value = 0;
  std::vector<int64_t> numbers;  // the literals, in the order written
  std::string error;             // why not ok: "division by zero at position 5"
};

// Grammar (recursive descent, precedence climbing by level):
//   expr   := term (('+' | '-') term)*
//   term   := factor (('*' | '/') factor)*
//   factor := number | '(' expr ')'
ExpressionValue evaluate_expression(const std::string& text);

// Parentheses nested deeper than this are refused (bounds the recursion).
constexpr int kMaxExpressionDepth = 64;

}  // namespace reward
}  // namespace aha
