// Task `countdown` (as in TinyZero): make the target from the given numbers
// with + - * / and parentheses, each number used at most once.
//
//   difficulty       1      2       3       4       | OOD 5
//   numbers given    3      3       4       4       | 5
//   each in          1..9   1..25   1..25   1..50   | 1..50
//   target in        1..50  1..100  1..100  1..200  | 1..200
//   solution uses    2-3    2-3     3-4     3-4     | 4-5
//
// A problem is made backwards so it always has a solution: pick the numbers,
// then a random chain ((a op b) op c) op d over all of them or all but one,
// whose every step is a positive integer (division only when exact) no larger
// than kMaxIntermediate, and whose value is not one of the numbers; that value
// is the target.
//
// Worked solution (style `steps`): a search trace. Each line tries one chain,
// computes it step by step, and says "no" on a miss or "yes" at the hit; the
// last line turns the hit into an expression:
//
//   use 3 7 25 50 to make 104    50+25=75 75-7=68 no
//                                25-7=18 18*3=54 54+50=104 yes
//                                so (25-7)*3+50
//
// `verify` re-evaluates the answer expression as written, one operation at a
// time: "check (25-7)*3+50=18*3+50=54+50=104 agrees". `correct` slips on one
// step of the hit, so the hit looks like a miss, then "wait 18*3=54 not 56" and
// the hit redone.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/task.h"
#include "data/template.h"
#include "data/tokenizer.h"

namespace aha {
namespace data {

namespace {

struct CountdownShape {
  int count;
  int64_t max_number;
  int64_t max_target;
  size_t min_used;  // the solution uses at least this many of the numbers
  int max_misses;   // candidates a search trace tries before the hit
};
// The solution uses all the numbers or all but one, so more numbers make a
// longer solution, not just a larger haystack with an easy pair in it.
const CountdownShape kCountdownShapes[] = {
    {3, 9, 50, 2, 3}, {3, 25, 100, 2, 3}, {4, 25, 100, 3, 2}, {4, 50, 200, 3, 2}, {5, 50, 200, 4, 2}};

// Keeps every line of a trace short (each step at most "999*50=999").
constexpr int64_t kMaxIntermediate = 999;
// Random chains tried before giving up (a fresh set of numbers is then drawn).
constexpr int kMaxTries = 1000;

// A left-deep chain: ((operands[0] ops[0] operands[1]) ops[1] operands[2]) ...
struct Chain {
  std::vector<int64_t> operands;
  std::string ops;
};

// The values after each step, or empty when a step is not a positive integer
// no larger than kMaxIntermediate.
std::vector<int64_t> chain_values(const Chain& chain) {
  std::vector<int64_t> values;
  int64_t acc = chain.operands[0];
  for (size_t i = 0; i < chain.ops.size(); ++i) {
    const int64_t x = chain.operands[i + 1];
    switch (chain.ops[i]) {
      case '+': acc += x; break;
      case '-': acc -= x; break;
      case '*': acc *= x; break;
      case '/':
        if (acc % x != 0) return {};
        acc /= x;
        break;
    }
    if (acc <= 0 || acc > kMaxIntermediate) return {};
    values.push_back(acc);
  }
  return values;
}

int precedence(char op) { return op == '+' || op == '-' ? 1 : 2; }

// The chain from step `from` on, starting at `start`, with only the
// parentheses it needs: a sum is wrapped when a product or quotient follows.
// Because the chain is left-deep, removing every parenthesis leaves the
// operands and operators in chain order (read_chain relies on it).
std::string chain_expression(const Chain& chain, size_t from, int64_t start) {
  std::string expr = std::to_string(start);
  int expr_precedence = 3;  // a bare number binds tightest
  for (size_t i = from; i < chain.ops.size(); ++i) {
    if (precedence(chain.ops[i]) > expr_precedence) expr = "(" + expr + ")";
    expr += chain.ops[i] + std::to_string(chain.operands[i + 1]);
    expr_precedence = precedence(chain.ops[i]);
  }
  return expr;
}

std::string expression(const Chain& chain) { return chain_expression(chain, 0, chain.operands[0]); }

// The problem's answer back as a chain: drop the parentheses and read
// number, operator, number, ... (see chain_expression).
Chain read_chain(const Problem& problem) {
  Chain chain;
  std::string number;
  for (char c : problem.answer + "+") {
    if (c >= '0' && c <= '9') {
      number += c;
    } else if (c == '+' || c == '-' || c == '*' || c == '/') {
      if (number.empty())
        throw std::runtime_error("countdown: answer '" + problem.answer + "' has an operator without a number");
      chain.operands.push_back(std::stoll(number));
      chain.ops += c;
      number.clear();
    }
  }
  chain.ops.pop_back();  // the sentinel '+'
  const std::vector<int64_t> values = chain_values(chain);
  if (values.empty() || values.back() != problem.target)
    throw std::runtime_error("countdown: answer '" + problem.answer + "' is not a chain reaching " +
                             std::to_string(problem.target));
  return chain;
}

// A random chain over min_length..count of the numbers, each used at most once.
Chain random_chain(const std::vector<int64_t>& numbers, size_t min_length, Generator& rng) {
  std::vector<int64_t> pool = numbers;
  const size_t length = min_length + rng.below(pool.size() - min_length + 1);
  Chain chain;
  for (size_t i = 0; i < length; ++i) {
    const size_t pick = i + rng.below(pool.size() - i);  // partial Fisher-Yates
    std::swap(pool[i], pool[pick]);
    chain.operands.push_back(pool[i]);
    if (i > 0) chain.ops += "+-*/"[rng.below(4)];
  }
  return chain;
}

// "25-7=18 18*3=54 54+50=104", from the values as written.
std::string trace_line(const Chain& chain, const std::vector<int64_t>& written) {
  std::string line;
  int64_t acc = chain.operands[0];
  for (size_t i = 0; i < chain.ops.size(); ++i) {
    line += (i ? " " : "") + std::to_string(acc) + chain.ops[i] + std::to_string(chain.operands[i + 1]) +
            "=" + std::to_string(written[i]);
    acc = written[i];
  }
  return line;
}

// A candidate the search rejects: a valid chain that misses the target.
bool random_miss(const Problem& problem, Generator& rng, Chain& miss) {
  for (int t = 0; t < kMaxTries; ++t) {
    miss = random_chain(problem.numbers, 2, rng);
    const std::vector<int64_t> values = chain_values(miss);
    if (!values.empty() && values.back() != problem.target) return true;
  }
  return false;
}

// The hit with one step written wrong (a digit off) and the later steps
// carried on from it, still valid and still missing the target. Returns the
// written values and the step that slipped.
std::vector<int64_t> slipped_values(const Chain& hit, Generator& rng, size_t& slip_step) {
  const std::vector<int64_t> truth = chain_values(hit);
  for (int t = 0; t < kMaxTries; ++t) {
    slip_step = rng.below(truth.size());
    Chain rest{{near_miss(truth[slip_step], rng)}, hit.ops.substr(slip_step + 1)};
    rest.operands.insert(rest.operands.end(), hit.operands.begin() + slip_step + 2, hit.operands.end());
    if (rest.operands[0] <= 0) continue;
    std::vector<int64_t> written(truth.begin(), truth.begin() + slip_step);
    written.push_back(rest.operands[0]);
    if (!rest.ops.empty()) {
      const std::vector<int64_t> later = chain_values(rest);
      if (later.empty()) continue;
      written.insert(written.end(), later.begin(), later.end());
    }
    if (written.back() != truth.back()) return written;
  }
  throw std::runtime_error("countdown: found no slip for the hit " + expression(hit));
}

}  // namespace

Problem make_countdown_problem(int difficulty, Generator& rng) {
  const CountdownShape shape = kCountdownShapes[difficulty - 1];
  for (;;) {
    Problem problem;
    problem.task = TaskKind::Countdown;
    problem.difficulty = difficulty;
    for (int k = 0; k < shape.count; ++k)
      problem.numbers.push_back(1 + (int64_t)rng.below((uint64_t)shape.max_number));
    std::sort(problem.numbers.begin(), problem.numbers.end());
    for (int t = 0; t < kMaxTries; ++t) {
      const Chain chain = random_chain(problem.numbers, shape.min_used, rng);
      const std::vector<int64_t> values = chain_values(chain);
      if (values.empty() || values.back() > shape.max_target) continue;
      // A target that is one of the numbers would be solved by writing it down.
      if (std::count(problem.numbers.begin(), problem.numbers.end(), values.back())) continue;
      problem.target = values.back();
      problem.answer = expression(chain);
      std::string given;
      for (int64_t n : problem.numbers) given += std::to_string(n) + " ";
      problem.text = "use " + given + "to make " + std::to_string(problem.target);
      return problem;
    }
  }
}

Solution solve_countdown(const Problem& problem, Style style, Generator& rng) {
  if (problem.task != TaskKind::Countdown)
    throw std::runtime_error("solve_countdown: not a countdown problem: " + problem.text);
  const CountdownShape shape = kCountdownShapes[problem.difficulty - 1];
  Solution solution{"", problem.answer};
  const std::string target = std::to_string(problem.target);
  if (style == Style::Direct) {
    if (rng.below(2)) solution.think = problem.answer + "=" + target;
    return solution;
  }
  const Chain hit = read_chain(problem);
  const std::vector<int64_t> hit_values = chain_values(hit);

  std::vector<std::string> misses;
  const size_t miss_count = rng.below((uint64_t)shape.max_misses + 1);
  Chain miss;
  for (size_t t = 0; t < 4 * miss_count && misses.size() < miss_count; ++t) {
    if (!random_miss(problem, rng, miss)) break;
    const std::string line = trace_line(miss, chain_values(miss)) + " no";
    if (std::find(misses.begin(), misses.end(), line) == misses.end()) misses.push_back(line);
  }

  std::vector<std::string> tail;  // everything after the misses
  if (style == Style::Correct) {
    size_t slip_step = 0;
    const std::vector<int64_t> written = slipped_values(hit, rng, slip_step);
    tail.push_back(trace_line(hit, written) + " no");
    const int64_t left = slip_step == 0 ? hit.operands[0] : hit_values[slip_step - 1];
    tail.push_back("wait " + std::to_string(left) + hit.ops[slip_step] +
                   std::to_string(hit.operands[slip_step + 1]) + "=" +
                   std::to_string(hit_values[slip_step]) + " not " + std::to_string(written[slip_step]));
  }
  tail.push_back(trace_line(hit, hit_values) + " yes");
  tail.push_back("so " + problem.answer);
  if (style == Style::Verify) {
    std::string check = "check " + problem.answer;
    for (size_t i = 0; i < hit_values.size(); ++i) check += "=" + chain_expression(hit, i + 1, hit_values[i]);
    tail.push_back(check + " agrees");
  }

  // A search that tried fewer candidates is still a search: drop misses until
  // the document fits the context (in practice only at the OOD difficulty).
  static const Tokenizer tokenizer;
  const int prompt_tokens = tokenizer.count(prompt_text(problem));
  for (;;) {
    std::vector<std::string> lines = misses;
    lines.insert(lines.end(), tail.begin(), tail.end());
    solution.think = join_lines(lines);
    if (prompt_tokens + tokenizer.count(completion_text(solution)) <= kMaxDocumentTokens) break;
    if (misses.empty())
      throw std::runtime_error("countdown: the solution of '" + problem.text + "' needs more than " +
                               std::to_string(kMaxDocumentTokens) + " tokens");
    misses.pop_back();
  }
  return solution;
}

Solution wrong_countdown(const Problem& problem, Generator& rng) {
  Chain miss;
  Solution solution;
  // A valid expression over the numbers that misses; failing that, a wrong number.
  solution.answer = random_miss(problem, rng, miss) ? expression(miss)
                                                    : std::to_string(near_miss(problem.target, rng));
  if (rng.below(2)) solution.think = solution.answer + "=" + std::to_string(problem.target);
  return solution;
}

}  // namespace data
}  // namespace aha
