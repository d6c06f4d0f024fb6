// libFuzzer target: the countdown evaluator on arbitrary text. No crash, no
// undefined behaviour (overflow, division by zero, deep nesting), and an
// accepted expression evaluates the same with spaces added around it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "reward/expression.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const aha::reward::ExpressionValue e = aha::reward::evaluate_expression(text);
  if (e.ok == !e.error.empty()) std::abort();
  if (e.ok) {
    if (e.numbers.empty()) std::abort();
    const aha::reward::ExpressionValue spaced = aha::reward::evaluate_expression(" " + text + " ");
    if (!spaced.ok || spaced.value != e.value || spaced.numbers != e.numbers) std::abort();
  }
  return 0;
}
