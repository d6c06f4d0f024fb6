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
// is the target. The writer of a solution never sees that chain.
//
// Worked solution (style `steps`): a search that does not know the answer.
// Each line starts from another pair of numbers, the pairs taken in order of
// how close their result lands to the target, and goes on greedily: the next
// step is the remaining number and operation that lands closest, while that
// is closer than the line already is; the line ends when it hits the target
// ("yes") or nothing gets closer ("no"). The first "yes"
// ends the search; after kSearchLines lines without one it gives up and
// answers its closest line ("closest ..."), which is wrong, honestly:
//
//   use 3 7 25 50 to make 104    50+25=75 75+7=82 82+3=85 no
//                                50*3=150 150-25=125 125-7=118 no
//                                25*3=75 75+7=82 82+50=132 no
//                                ... (more lines) ...
//                                50+7=57 57*3=171 171-25=146 no
//                                25-7=18 18*3=54 54+50=104 yes
//                                so (25-7)*3+50
//
// `verify` checks every "yes" before it answers, by evaluating the line's
// expression again from the inside out:
// "check (25-7)*3+50=18*3+50=54+50=104 agrees". `correct` is the same
// checking search in which the writer slipped: on a line that misses, one step
// is written a digit off (or an addition drops a carry) so that the line seems
// to hit. The check recomputes, disagrees, names the step ("wait 18*3=54 not
// 56") and the search goes on. In `steps` a slip of that kind goes uncaught
// when the corpus asks for one (CorpusConfig::slip_share): the document then
// answers a wrong expression, as the web sometimes does.
#include <algorithm>
#include <cstdlib>
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
  size_t min_used;  // the generator's chain uses at least this many of the numbers
};
// The chain uses all the numbers or all but one, so more numbers make a
// longer solution, not just a larger haystack with an easy pair in it.
const CountdownShape kCountdownShapes[] = {
    {3, 9, 50, 2}, {3, 25, 100, 2}, {4, 25, 100, 3}, {4, 50, 200, 3}, {5, 50, 200, 4}};

// Keeps every line of a trace short (each step at most "999*50=999").
constexpr int64_t kMaxIntermediate = 999;
// Random chains tried before giving up (a fresh set of numbers is then drawn).
constexpr int kMaxTries = 1000;
// Lines a search writes before it gives up and answers its closest line. With
// 8 the search solves nearly every 3-number problem and about four in five
// 4-number ones (`aha data stats` measures it).
constexpr int kSearchLines = 8;
// The page: a search starts another line only while this many tokens are left
// on it (kMaxDocumentTokens), room for the longest line, its check, a "wait"
// and the answer; so no document is cut.
constexpr int kPageReserve = 150;

// ---- the generator's chains ----

// A left-deep chain: ((operands[0] ops[0] operands[1]) ops[1] operands[2]) ...
struct Chain {
  std::vector<int64_t> operands;
  std::string ops;
};

// a op b when it is a step a trace may write: a positive integer no larger
// than kMaxIntermediate (division only when exact); otherwise 0.
int64_t apply(int64_t a, char op, int64_t b) {
  int64_t value = 0;
  switch (op) {
    case '+': value = a + b; break;
    case '-': value = a - b; break;
    case '*': value = a * b; break;
    case '/': value = b != 0 && a % b == 0 ? a / b : 0; break;
  }
  return value > 0 && value <= kMaxIntermediate ? value : 0;
}

// The values after each step, or empty when a step is not allowed (apply).
std::vector<int64_t> chain_values(const Chain& chain) {
  std::vector<int64_t> values;
  int64_t acc = chain.operands[0];
  for (size_t i = 0; i < chain.ops.size(); ++i) {
    acc = apply(acc, chain.ops[i], chain.operands[i + 1]);
    if (acc == 0) return {};
    values.push_back(acc);
  }
  return values;
}

int precedence(char op) { return op == '+' || op == '-' ? 1 : 2; }

// The chain from step `from` on, starting at `start`, with only the
// parentheses it needs: a sum is wrapped when a product or quotient follows.
// Because the chain is left-deep, removing every parenthesis leaves the
// operands and operators in chain order.
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

// A valid chain over the numbers that misses the target (for noise documents).
bool random_miss(const Problem& problem, Generator& rng, Chain& miss) {
  for (int t = 0; t < kMaxTries; ++t) {
    miss = random_chain(problem.numbers, 2, rng);
    const std::vector<int64_t> values = chain_values(miss);
    if (!values.empty() && values.back() != problem.target) return true;
  }
  return false;
}

// ---- the search ----

// One step of a line as written: left op right = value. Without a slip the
// value is the true one.
struct Step {
  int64_t left;
  char op;
  int64_t right;
  int64_t value;
};

struct Line {
  std::vector<Step> steps;
  int slip_step = -1;  // the step written wrong, -1 when none
  int64_t last() const { return steps.back().value; }
  Chain chain() const {
    Chain c{{steps[0].left}, ""};
    for (const Step& s : steps) {
      c.operands.push_back(s.right);
      c.ops += s.op;
    }
    return c;
  }
};

// How a line starts: numbers[i] op numbers[j].
struct FirstMove {
  size_t i, j;
  char op;
  int64_t value;
};

int64_t distance(int64_t value, int64_t target) { return std::llabs(value - target); }

// Every pair of the numbers (the larger first), every operation a search would
// write (never *1 or /1: they change nothing), closest to the target first;
// ties keep the order of the loops (numbers in order, then + - * /).
std::vector<FirstMove> first_moves(const Problem& problem) {
  const std::vector<int64_t>& n = problem.numbers;  // ascending
  std::vector<FirstMove> moves;
  std::vector<std::pair<int64_t, int64_t>> pairs_seen;  // a repeated number gives a pair twice
  for (size_t j = 0; j < n.size(); ++j)
    for (size_t i = j + 1; i < n.size(); ++i) {
      const std::pair<int64_t, int64_t> pair{n[i], n[j]};
      if (std::find(pairs_seen.begin(), pairs_seen.end(), pair) != pairs_seen.end()) continue;
      pairs_seen.push_back(pair);
      for (char op : std::string("+-*/")) {
        if ((op == '*' || op == '/') && n[j] == 1) continue;
        const int64_t value = apply(n[i], op, n[j]);
        if (value) moves.push_back({i, j, op, value});
      }
    }
  std::stable_sort(moves.begin(), moves.end(), [&](const FirstMove& a, const FirstMove& b) {
    return distance(a.value, problem.target) < distance(b.value, problem.target);
  });
  return moves;
}

// The line that starts with `first` and goes on greedily (the header). With slip_step >= 0
// the writer picks that step from the true values, as always, but writes
// `slip_value` for its result and carries on from what it wrote.
Line search_line(const Problem& problem, const FirstMove& first, int slip_step = -1, int64_t slip_value = 0) {
  const std::vector<int64_t>& n = problem.numbers;
  std::vector<int64_t> rest;
  for (size_t k = n.size(); k-- > 0;)  // largest first: the order ties are broken in
    if (k != first.i && k != first.j) rest.push_back(n[k]);
  Line line;
  line.slip_step = slip_step;
  auto write = [&](Step step) {
    if ((int)line.steps.size() == slip_step) step.value = slip_value;
    line.steps.push_back(step);
  };
  write({n[first.i], first.op, n[first.j], first.value});
  while (line.last() != problem.target && !rest.empty()) {
    const int64_t acc = line.last();
    Step best{0, 0, 0, 0};
    size_t best_k = 0;
    for (size_t k = 0; k < rest.size(); ++k)
      for (char op : std::string("+-*/")) {
        if ((op == '*' || op == '/') && rest[k] == 1) continue;
        const int64_t value = apply(acc, op, rest[k]);
        if (value && (best.op == 0 || distance(value, problem.target) < distance(best.value, problem.target))) {
          best = {acc, op, rest[k], value};
          best_k = k;
        }
      }
    // Nothing lands closer than where the line is: it stops here.
    if (best.op == 0 || distance(best.value, problem.target) >= distance(acc, problem.target)) break;
    rest.erase(rest.begin() + (long)best_k);
    write(best);
  }
  return line;
}

// "25-7=18 18*3=54 54+50=104 yes", from the values as written.
std::string line_text(const Line& line, int64_t target) {
  std::string text;
  for (const Step& s : line.steps)
    text += std::to_string(s.left) + s.op + std::to_string(s.right) + "=" + std::to_string(s.value) + " ";
  return text + (line.last() == target ? "yes" : "no");
}

// "check (25-7)*3+50=18*3+50=54+50=104 agrees": the line's expression,
// evaluated again from the inside out with the true values. Empty when the
// expression is not a valid chain (a slipped line carried on into a step that
// is not, truly, a positive integer).
std::string check_text(const Line& line, int64_t target) {
  const Chain chain = line.chain();
  const std::vector<int64_t> truth = chain_values(chain);
  if (truth.empty()) return "";
  std::string check = "check " + expression(chain);
  for (size_t i = 0; i < truth.size(); ++i) check += "=" + chain_expression(chain, i + 1, truth[i]);
  return check + (truth.back() == target ? " agrees" : " disagrees");
}

// What a slip may write for `value`: one digit changed (the number keeps its
// length), or, for a sum that carried, the sum with that carry dropped.
std::vector<int64_t> slips_of(const Step& step) {
  std::vector<int64_t> out;
  const std::string digits = std::to_string(step.value);
  for (size_t p = 0; p < digits.size(); ++p)
    for (char d = '0'; d <= '9'; ++d) {
      if (d == digits[p] || (p == 0 && d == '0' && digits.size() > 1)) continue;
      std::string changed = digits;
      changed[p] = d;
      const int64_t v = std::stoll(changed);
      if (v > 0) out.push_back(v);
    }
  if (step.op == '+')
    for (int64_t place = 10; place <= step.value; place *= 10)
      if (step.left % place + step.right % place >= place && step.value - place > 0)
        out.push_back(step.value - place);
  return out;
}

// Whether a search may start another line after `think` (the lines so far).
bool page_has_room(const Problem& problem, const std::vector<std::string>& think) {
  static const Tokenizer tokenizer;
  int tokens = tokenizer.count(prompt_text(problem)) + 1;  // + <think>
  for (const std::string& line : think) tokens += tokenizer.count(line) + 1;  // + the newline
  return tokens + kPageReserve <= kMaxDocumentTokens;
}

// The search as the writer runs it: lines until one hits, kSearchLines, or
// the page is full.
std::vector<Line> clean_search(const Problem& problem) {
  std::vector<Line> lines;
  std::vector<std::string> think;
  for (const FirstMove& move : first_moves(problem)) {
    if ((int)lines.size() == kSearchLines || !page_has_room(problem, think)) break;
    lines.push_back(search_line(problem, move));
    think.push_back(line_text(lines.back(), problem.target));
    if (lines.back().last() == problem.target) break;
  }
  return lines;
}

// Every slip that makes a missing line of the search seem to hit: (line
// index, the slipped line). The slipped line's true value misses and its
// check can be written.
std::vector<std::pair<size_t, Line>> wishful_slips(const Problem& problem, const std::vector<Line>& lines) {
  const std::vector<FirstMove> moves = first_moves(problem);
  std::vector<std::pair<size_t, Line>> out;
  for (size_t l = 0; l < lines.size(); ++l) {
    if (lines[l].last() == problem.target) break;  // the hit: slips come before it
    for (size_t s = 0; s < lines[l].steps.size(); ++s)
      for (int64_t wrong : slips_of(lines[l].steps[s])) {
        const Line slipped = search_line(problem, moves[l], (int)s, wrong);
        if (slipped.last() != problem.target) continue;
        const std::vector<int64_t> truth = chain_values(slipped.chain());
        if (truth.empty() || truth.back() == problem.target) continue;
        out.push_back({l, slipped});
      }
  }
  return out;
}

// The line whose last value lands closest to the target (the first of equals).
const Line& closest(const std::vector<Line>& lines, int64_t target) {
  if (lines.empty()) throw std::runtime_error("countdown: a search with no line has no closest line");
  size_t best = 0;
  for (size_t l = 1; l < lines.size(); ++l)
    if (distance(lines[l].last(), target) < distance(lines[best].last(), target)) best = l;
  return lines[best];
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

bool countdown_can_slip(const Problem& problem) {
  return !wishful_slips(problem, clean_search(problem)).empty();
}

Solution solve_countdown(const Problem& problem, Style style, Generator& rng, bool slip) {
  if (problem.task != TaskKind::Countdown)
    throw std::runtime_error("solve_countdown: not a countdown problem: " + problem.text);
  const int64_t target = problem.target;
  std::vector<Line> lines = clean_search(problem);

  // Correct: the checking search with one slip; steps with `slip`: the same
  // slip, unchecked. The slipped line replaces the clean line it came from.
  const bool slips = style == Style::Correct || (style == Style::Steps && slip);
  if (slips) {
    const std::vector<std::pair<size_t, Line>> options = wishful_slips(problem, lines);
    if (options.empty())
      throw std::runtime_error("countdown: the search of '" + problem.text +
                               "' has no line a slip could make seem to hit (see countdown_can_slip)");
    const auto& [at, slipped] = options[rng.below(options.size())];
    lines[at] = slipped;
    if (style == Style::Steps) lines.resize(at + 1);  // the false hit ends an unchecked search
  }

  const bool checks = style == Style::Verify || style == Style::Correct;
  std::vector<std::string> think;
  const Line* answer_line = nullptr;
  size_t written = 0;  // search lines written before the page filled
  for (const Line& line : lines) {
    // The lines before a slip are the clean search's, so a slipped line
    // always fits; a "check" and a "wait" can push the lines after it off.
    if (!page_has_room(problem, think)) break;
    ++written;
    think.push_back(line_text(line, target));
    if (line.last() != target) continue;
    if (checks) {
      const std::string check = check_text(line, target);
      think.push_back(check);
      if (line.slip_step >= 0) {
        const Step& s = line.steps[(size_t)line.slip_step];
        const int64_t truth = apply(s.left, s.op, s.right);
        think.push_back("wait " + std::to_string(s.left) + s.op + std::to_string(s.right) + "=" +
                        std::to_string(truth) + " not " + std::to_string(s.value));
        continue;  // the search goes on
      }
    }
    answer_line = &line;
    break;
  }
  std::vector<Line> honest;  // the lines written that the writer still believes, for "closest"
  for (size_t l = 0; l < written; ++l)
    if (lines[l].slip_step < 0 || style == Style::Steps) honest.push_back(lines[l]);
  const bool found = answer_line != nullptr;
  if (!found) answer_line = &closest(honest, target);
  Solution solution{"", expression(answer_line->chain())};

  if (style == Style::Direct) {
    // The same search done in the head: only its result is written.
    if (rng.below(2)) solution.think = solution.answer + "=" + std::to_string(answer_line->last());
    return solution;
  }
  think.push_back((found ? "so " : "closest ") + solution.answer);
  solution.think = join_lines(think);
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
