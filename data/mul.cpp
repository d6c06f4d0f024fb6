// Task `mul`: an n-digit number times an m-digit number.
//
//   difficulty  1      2      3      4      | OOD 5
//   digits a    2      2      3      3      | 4
//   digits b    1      2      2      3      | 3
//
// Worked solution (style `steps`): one partial product per digit of b, its
// place value written out, then the partial products summed one at a time:
//
//   what is 347*29?           347*9=3123
//                             347*20=6940
//                             3123+6940=10063
//                             so 10063
//
// `verify` recomputes the product the other way round, splitting a instead of b:
// "check 29*347=29*300+29*40+29*7=8700+1160+203=10063 agrees". `correct` gets
// one partial product wrong by a digit or drops a carry in a sum, states the
// wrong product, checks it the other way round ("... =10063 disagrees"),
// recomputes the lines until one differs ("wait 347*9=3123 not 3113") and
// redoes the work from there. `steps` with an uncaught slip stops at the
// wrong product.
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "data/task.h"

namespace aha {
namespace data {

namespace {

struct MulShape {
  int digits_a;
  int digits_b;
};
const MulShape kMulShapes[] = {{2, 1}, {2, 2}, {3, 2}, {3, 3}, {4, 3}};  // index = difficulty - 1

int digit_count(int64_t value) {
  int digits = 1;
  while (value >= pow10(digits)) ++digits;
  return digits;
}

// The lines of one pass: partial products first, then the running sums. With
// a slip the line `slip_line` shows `slip_value` and later lines build on it.
struct MulWork {
  std::vector<std::string> lines;
  std::vector<int64_t> truths;  // the right value of each line given the lines before it
  std::vector<int64_t> addends; // a running-sum line: the partial it adds; a partial product: 0
  int64_t result = 0;
  std::string fix;              // "347*9=3123 not 3113"
};

MulWork mul_lines(int64_t a, int64_t b, int slip_line = -1, int64_t slip_value = 0) {
  MulWork work;
  auto write = [&](const std::string& lhs, int64_t truth, int64_t addend) {
    int64_t written = truth;
    if ((int)work.lines.size() == slip_line) {
      written = slip_value;
      work.fix = lhs + "=" + std::to_string(truth) + " not " + std::to_string(written);
    }
    work.lines.push_back(lhs + "=" + std::to_string(written));
    work.truths.push_back(truth);
    work.addends.push_back(addend);
    return written;
  };
  std::vector<int64_t> partials;
  const int digits_b = digit_count(b);
  for (int j = 0; j < digits_b; ++j) {
    const int64_t factor = (b / pow10(j)) % 10 * pow10(j);  // digit of b times its place value
    partials.push_back(write(std::to_string(a) + "*" + std::to_string(factor), a * factor, 0));
  }
  int64_t sum = partials[0];
  for (int j = 1; j < digits_b; ++j)
    sum = write(std::to_string(sum) + "+" + std::to_string(partials[j]), sum + partials[j], partials[j]);
  work.result = sum;
  return work;
}

// A dropped carry in x + y: the sum less 10^k for a column k that received a
// carry. Returns -1 when no column did.
int64_t dropped_carry(int64_t x, int64_t y, Generator& rng) {
  std::vector<int> carried;
  for (int k = 1; k < 18 && pow10(k) <= x + y; ++k)
    if (x % pow10(k) + y % pow10(k) >= pow10(k)) carried.push_back(k);
  if (carried.empty()) return -1;
  return x + y - pow10(carried[rng.below(carried.size())]);
}

// "check 29*347=29*300+29*40+29*7=8700+1160+203=10063 agrees": the product
// recomputed by splitting a; it agrees when it equals `concluded`.
std::string check_line(int64_t a, int64_t b, int64_t concluded) {
  std::string terms, values;
  for (int i = digit_count(a) - 1; i >= 0; --i) {
    const int64_t part = (a / pow10(i)) % 10 * pow10(i);
    const std::string plus = terms.empty() ? "" : "+";
    terms += plus + std::to_string(b) + "*" + std::to_string(part);
    values += plus + std::to_string(b * part);
  }
  return "check " + std::to_string(b) + "*" + std::to_string(a) + "=" + terms + "=" + values + "=" +
         std::to_string(a * b) + (a * b == concluded ? " agrees" : " disagrees");
}

std::string product_expression(const Problem& problem) {
  return std::to_string(problem.numbers[0]) + "*" + std::to_string(problem.numbers[1]);
}

}  // namespace

Problem make_mul_problem(int difficulty, Generator& rng) {
  const MulShape shape = kMulShapes[difficulty - 1];
  int64_t a = random_with_digits(shape.digits_a, rng);
  int64_t b = random_with_digits(shape.digits_b, rng);
  // Canonical form: the longer (or, at equal length, larger) factor first.
  if (shape.digits_a == shape.digits_b && a < b) std::swap(a, b);
  Problem problem;
  problem.task = TaskKind::Mul;
  problem.difficulty = difficulty;
  problem.numbers = {a, b};
  problem.target = a * b;
  problem.text = "what is " + product_expression(problem) + "?";
  problem.answer = std::to_string(problem.target);
  return problem;
}

Solution solve_mul(const Problem& problem, Style style, Generator& rng, bool slip) {
  if (problem.task != TaskKind::Mul) throw std::runtime_error("solve_mul: not a mul problem: " + problem.text);
  const int64_t a = problem.numbers[0], b = problem.numbers[1];
  Solution solution{"", problem.answer};
  if (style == Style::Direct) {
    if (rng.below(2)) solution.think = product_expression(problem) + "=" + problem.answer;
    return solution;
  }
  const MulWork work = mul_lines(a, b);
  std::vector<std::string> lines;
  if (style == Style::Correct || slip) {
    // The slip goes on a line with something to get wrong (not "347*0=0"): a
    // partial product off by one digit, or a running sum that dropped a carry.
    std::vector<int> candidates;
    for (size_t i = 0; i < work.lines.size(); ++i)
      if (work.truths[i] != 0) candidates.push_back((int)i);
    const int line = candidates[rng.below(candidates.size())];
    int64_t wrong = -1;
    const int64_t addend = work.addends[line];
    if (addend > 0) wrong = dropped_carry(work.truths[line] - addend, addend, rng);
    if (wrong < 0) wrong = near_miss(work.truths[line], rng);
    const MulWork slipped = mul_lines(a, b, line, wrong);
    lines = slipped.lines;
    lines.push_back("so " + std::to_string(slipped.result));
    if (style == Style::Steps) {  // nothing checks it: the wrong product is the answer
      solution.answer = std::to_string(slipped.result);
      solution.think = join_lines(lines);
      return solution;
    }
    lines.push_back(check_line(a, b, slipped.result));
    lines.push_back("wait " + slipped.fix);
  }
  lines.insert(lines.end(), work.lines.begin(), work.lines.end());
  lines.push_back("so " + problem.answer);
  if (style == Style::Verify) lines.push_back(check_line(a, b, problem.target));
  solution.think = join_lines(lines);
  return solution;
}

Solution wrong_mul(const Problem& problem, Generator& rng) {
  Solution solution{"", std::to_string(near_miss(problem.target, rng))};
  if (rng.below(2)) solution.think = product_expression(problem) + "=" + solution.answer;
  return solution;
}

}  // namespace data
}  // namespace aha
