#include "reward/expression.h"

#include <limits>
#include <optional>

namespace aha {
namespace reward {

namespace {

struct Invalid {
  std::string why;
  bool arithmetic = false;  // the expression is well formed; a value is not (ExpressionValue::well_formed)
};

class Parser {
 public:
  Parser(const std::string& text, std::vector<int64_t>& numbers) : text_(text), numbers_(numbers) {}

  int64_t parse_all() {
    const int64_t value = expr(0);
    skip_spaces();
    if (pos_ != text_.size()) fail(std::string("unexpected '") + text_[pos_] + "'");
    return value;
  }

 private:
  int64_t expr(int depth) {
    int64_t value = term(depth);
    for (;;) {
      const char op = peek();
      if (op != '+' && op != '-') return value;
      const size_t at = pos_++;
      const int64_t rhs = term(depth);
      int64_t out;
      if (op == '+' ? __builtin_add_overflow(value, rhs, &out) : __builtin_sub_overflow(value, rhs, &out))
        arithmetic_fail(at, "overflow");
      value = out;
    }
  }

  int64_t term(int depth) {
    int64_t value = factor(depth);
    for (;;) {
      const char op = peek();
      if (op != '*' && op != '/') return value;
      const size_t at = pos_++;
      const int64_t rhs = factor(depth);
      if (op == '*') {
        if (__builtin_mul_overflow(value, rhs, &value)) arithmetic_fail(at, "overflow");
        continue;
      }
      if (rhs == 0) {
        arithmetic_fail(at, "division by zero");
        continue;
      }
      // INT64_MIN / -1 does not fit in int64.
      if (value == std::numeric_limits<int64_t>::min() && rhs == -1) {
        arithmetic_fail(at, "overflow");
        continue;
      }
      if (value % rhs != 0)
        arithmetic_fail(at, "non-integer division " + std::to_string(value) + "/" + std::to_string(rhs));
      value /= rhs;
    }
  }

  int64_t factor(int depth) {
    const char c = peek();
    if (c == '(') {
      if (depth >= kMaxExpressionDepth) fail("parentheses nested deeper than " + std::to_string(kMaxExpressionDepth));
      ++pos_;
      const int64_t value = expr(depth + 1);
      if (peek() != ')') fail("missing ')'");
      ++pos_;
      return value;
    }
    if (c < '0' || c > '9') fail(c ? std::string("expected a number, found '") + c + "'" : "expected a number, found the end");
    const size_t start = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      if (__builtin_mul_overflow(value, (int64_t)10, &value) ||
          __builtin_add_overflow(value, (int64_t)(text_[pos_] - '0'), &value))
        arithmetic_fail(start, "number too large");
      ++pos_;
    }
    if (text_[start] == '0' && pos_ - start > 1) fail_at(start, "number with a leading zero");
    numbers_.push_back(value);
    return value;
  }

  void skip_spaces() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n')) ++pos_;
  }
  // The next non-space character, or '\0' at the end.
  char peek() {
    skip_spaces();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  [[noreturn]] void fail(const std::string& why) { fail_at(pos_, why); }
  [[noreturn]] void fail_at(size_t at, const std::string& why) {
    throw Invalid{why + " at position " + std::to_string(at), false};
  }
  // A fault in the arithmetic of a well-formed expression. The parse goes on
  // to the end first, so a syntax error later in the text still wins.
  void arithmetic_fail(size_t at, const std::string& why) {
    if (!arithmetic_error_) arithmetic_error_ = Invalid{why + " at position " + std::to_string(at), true};
  }

  const std::string& text_;
  std::vector<int64_t>& numbers_;
  size_t pos_ = 0;

 public:
  std::optional<Invalid> arithmetic_error_;  // the first arithmetic fault, if any
};

}  // namespace

ExpressionValue evaluate_expression(const std::string& text) {
  ExpressionValue result;
  try {
    Parser parser(text, result.numbers);
    result.value = parser.parse_all();
    result.well_formed = true;
    if (parser.arithmetic_error_) throw *parser.arithmetic_error_;
    result.ok = true;
  } catch (const Invalid& invalid) {
    result.error = invalid.why;
    result.well_formed = invalid.arithmetic;
    result.value = 0;
  }
  return result;
}

}  // namespace reward
}  // namespace aha
