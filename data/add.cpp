// Task `add`: the sum of two or three n-digit numbers.
//
//   difficulty  1      2      3      4      | OOD 5
//   numbers     2      2      2      3      | 3
//   digits      2      3      4      4      | 5
//
// Worked solution (style `steps`): column addition from the units up, one line
// per column, the carry written out and added into the next column:
//
//   what is 847+376?          7+6=13 carry 1
//                             4+7+1=12 carry 1
//                             8+3+1=12 carry 1
//                             so 1223
//
// `verify` adds "check 1223-376=847 agrees" (subtracting back to the first
// number); `correct` drops a carry or misadds one column, states the wrong sum,
// checks it the same way ("check 1123-376=747 disagrees"), recomputes the
// columns until one differs ("wait 4+7+1=12 not 11") and redoes them. `steps`
// with an uncaught slip stops at the wrong sum.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/task.h"

namespace aha {
namespace data {

namespace {

struct AddShape {
  int count;
  int digits;
};
const AddShape kAddShapes[] = {{2, 2}, {2, 3}, {2, 4}, {3, 4}, {3, 5}};  // index = difficulty - 1

enum class Slip { None, DroppedCarry, WrongSum };

// The column lines of one pass of column addition. With a slip at
// `slip_column` the written sum there is wrong and every later column carries
// on from it, as a person's pencil would.
struct ColumnWork {
  std::vector<std::string> lines;
  std::vector<int64_t> carries_in;  // per column, before any slip
  std::vector<int64_t> sums;        // per column, as written
  int64_t result = 0;               // the number the written lines spell
  std::string fix;                  // the slipped column done right: "4+7+1=12 not 11"
};

int digit_count(int64_t value) {
  int digits = 1;
  while (value >= pow10(digits)) ++digits;
  return digits;
}

ColumnWork add_columns(const std::vector<int64_t>& numbers, int slip_column = -1,
                       Slip slip = Slip::None, int slip_delta = 0) {
  const int width = digit_count(numbers[0]);  // every operand has the same width
  ColumnWork work;
  int64_t carry = 0;
  for (int col = 0; col < width; ++col) {
    std::string digits_lhs;
    int64_t digit_sum = 0;
    for (size_t k = 0; k < numbers.size(); ++k) {
      int64_t digit = (numbers[k] / pow10(col)) % 10;
      digits_lhs += (k ? "+" : "") + std::to_string(digit);
      digit_sum += digit;
    }
    const std::string lhs = carry ? digits_lhs + "+" + std::to_string(carry) : digits_lhs;
    const int64_t sum = digit_sum + carry;
    int64_t written = sum;
    if (col == slip_column) {
      if (slip == Slip::DroppedCarry) {  // the carry is written down but not added
        written = digit_sum;
      } else {
        written = sum + slip_delta;
      }
      work.fix = lhs + "=" + std::to_string(sum) + " not " + std::to_string(written);
    }
    std::string line = lhs + "=" + std::to_string(written);
    if (written >= 10) line += " carry " + std::to_string(written / 10);
    work.lines.push_back(line);
    work.carries_in.push_back(carry);
    work.sums.push_back(written);
    work.result += (written % 10) * pow10(col);
    carry = written / 10;
  }
  work.result += carry * pow10(width);  // the last carry becomes the leading digits
  return work;
}

std::string sum_expression(const Problem& problem) {
  std::string expr;
  for (size_t k = 0; k < problem.numbers.size(); ++k)
    expr += (k ? "+" : "") + std::to_string(problem.numbers[k]);
  return expr;
}

// "check 1223-376=847 agrees": subtract the addends back off the concluded
// sum, last first; it agrees when the first addend is what is left.
std::string check_line(const Problem& problem, int64_t concluded) {
  // BEGIN EXERCISE add_check_line: the check line above, for two or three addends
  std::string line = "check";
  int64_t rest = concluded;
  for (size_t k = problem.numbers.size() - 1; k >= 1; --k) {
    int64_t next = rest - problem.numbers[k];
    line += " " + std::to_string(rest) + "-" + std::to_string(problem.numbers[k]) + "=" +
            std::to_string(next);
    rest = next;
  }
  return line + (rest == problem.numbers[0] ? " agrees" : " disagrees");
  // END EXERCISE add_check_line
}

}  // namespace

Problem make_add_problem(int difficulty, Generator& rng) {
  const AddShape shape = kAddShapes[difficulty - 1];
  Problem problem;
  problem.task = TaskKind::Add;
  problem.difficulty = difficulty;
  for (int k = 0; k < shape.count; ++k) problem.numbers.push_back(random_with_digits(shape.digits, rng));
  // Descending order is the canonical form: 29+347 and 347+29 are one problem.
  std::sort(problem.numbers.rbegin(), problem.numbers.rend());
  for (int64_t n : problem.numbers) problem.target += n;
  problem.text = "what is " + sum_expression(problem) + "?";
  problem.answer = std::to_string(problem.target);
  return problem;
}

Solution solve_add(const Problem& problem, Style style, Generator& rng, bool slip) {
  if (problem.task != TaskKind::Add) throw std::runtime_error("solve_add: not an add problem: " + problem.text);
  Solution solution{"", problem.answer};
  if (style == Style::Direct) {
    if (rng.below(2)) solution.think = sum_expression(problem) + "=" + problem.answer;
    return solution;
  }
  const ColumnWork work = add_columns(problem.numbers);
  std::vector<std::string> lines;
  if (style == Style::Correct || slip) {
    // One slip in a random column: a dropped carry where there was one to
    // drop (half the time), otherwise a column sum off by one.
    const int column = (int)rng.below(work.lines.size());
    const bool can_drop = work.carries_in[column] > 0;
    const Slip kind = can_drop && rng.below(2) ? Slip::DroppedCarry : Slip::WrongSum;
    const int delta = work.sums[column] == 0 || rng.below(2) ? 1 : -1;
    const ColumnWork slipped = add_columns(problem.numbers, column, kind, delta);
    lines = slipped.lines;
    lines.push_back("so " + std::to_string(slipped.result));
    if (style == Style::Steps) {  // nothing checks it: the wrong sum is the answer
      solution.answer = std::to_string(slipped.result);
      solution.think = join_lines(lines);
      return solution;
    }
    lines.push_back(check_line(problem, slipped.result));
    lines.push_back("wait " + slipped.fix);
  }
  lines.insert(lines.end(), work.lines.begin(), work.lines.end());
  lines.push_back("so " + problem.answer);
  if (style == Style::Verify) lines.push_back(check_line(problem, problem.target));
  solution.think = join_lines(lines);
  return solution;
}

Solution wrong_add(const Problem& problem, Generator& rng) {
  Solution solution{"", std::to_string(near_miss(problem.target, rng))};
  if (rng.below(2)) solution.think = sum_expression(problem) + "=" + solution.answer;
  return solution;
}

}  // namespace data
}  // namespace aha
