// Every worked solution follows its procedure and its own arithmetic: for
// 10,000 random problems of each task, each line of the `steps`, `verify` and
// `correct` solutions (and of `steps` with an uncaught slip) is parsed and
// recomputed here, with an evaluator written for this test (independent of the
// generators and of reward/). A countdown search is checked against its rules
// (first moves closest first, greedy steps, honest give-up) and shown not to
// depend on the generator's own answer.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/task.h"
#include "data/template.h"

using namespace aha;
using namespace aha::data;

namespace {

// ---- a tiny reference evaluator: + - * / and parentheses, exact integers ----
struct RefEval {
  const std::string& s;
  size_t i = 0;
  std::vector<int64_t> numbers;
  bool exact = true;
  int64_t expr() {
    int64_t v = term();
    while (i < s.size() && (s[i] == '+' || s[i] == '-')) v = s[i++] == '+' ? v + term() : v - term();
    return v;
  }
  int64_t term() {
    int64_t v = atom();
    while (i < s.size() && (s[i] == '*' || s[i] == '/')) {
      const char op = s[i++];
      const int64_t r = atom();
      if (op == '*') {
        v *= r;
      } else {
        if (r == 0 || v % r != 0) exact = false;
        v = r == 0 ? 0 : v / r;
      }
    }
    return v;
  }
  int64_t atom() {
    if (s[i] == '(') {
      ++i;
      const int64_t v = expr();
      if (s.at(i++) != ')') throw std::runtime_error("ref: missing ) in " + s);
      return v;
    }
    size_t used = 0;
    const int64_t v = std::stoll(s.substr(i), &used);
    if (!isdigit((unsigned char)s[i])) throw std::runtime_error("ref: bad number in " + s);
    i += used;
    numbers.push_back(v);
    return v;
  }
};

struct Evaluated {
  int64_t value;
  std::vector<int64_t> numbers;
};
Evaluated ref_eval(const std::string& text) {
  RefEval e{text, 0, {}, true};
  const int64_t v = e.expr();
  if (e.i != text.size() || !e.exact) throw std::runtime_error("ref: cannot evaluate '" + text + "'");
  return {v, e.numbers};
}

int64_t to_int(const std::string& text) {
  REQUIRE_MESSAGE(!text.empty(), "empty number");
  for (char c : text) REQUIRE_MESSAGE(isdigit((unsigned char)c), "not a number: ", text);
  return std::stoll(text);
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// "lhs=value" -> {lhs, value}
std::pair<std::string, int64_t> equation(const std::string& text) {
  const size_t eq = text.rfind('=');
  REQUIRE_MESSAGE(eq != std::string::npos, "no '=' in ", text);
  return {text.substr(0, eq), to_int(text.substr(eq + 1))};
}

// The completion's think lines and answer; REQUIREs the exact template.
struct Completion {
  std::vector<std::string> lines;
  std::string answer;
};
Completion read_completion(const std::string& completion) {
  const std::string open = "<think>", mid = "</think><answer>", close = "</answer><eos>";
  REQUIRE(starts_with(completion, open));
  const size_t m = completion.find(mid);
  REQUIRE(m != std::string::npos);
  REQUIRE(completion.size() >= close.size());
  REQUIRE(completion.substr(completion.size() - close.size()) == close);
  Completion c;
  const std::string think = completion.substr(open.size(), m - open.size());
  if (!think.empty()) c.lines = split(think, '\n');
  c.answer = completion.substr(m + mid.size(), completion.size() - close.size() - m - mid.size());
  return c;
}

int64_t digit(int64_t n, int col) { return (n / pow10(col)) % 10; }
int width(int64_t n) { return (int)std::to_string(n).size(); }

// ---- add: one pass of column lines ----
struct Pass {
  int64_t result = 0;
  int wrong = 0;                 // lines whose arithmetic or carry is wrong
  std::string wrong_lhs;         // the first wrong line, as written
  int64_t wrong_written = 0;
  int wrong_column = -1;
};

Pass check_add_pass(const Problem& p, const std::vector<std::string>& lines, size_t& at) {
  Pass pass;
  int64_t carry = 0;
  const int cols = width(p.numbers[0]);
  for (int col = 0; col < cols; ++col) {
    REQUIRE(at < lines.size());
    const std::string& line = lines[at++];
    const size_t carry_at = line.find(" carry ");
    const auto [lhs, value] = equation(line.substr(0, carry_at));
    // A carry is written exactly when the column sum reaches 10.
    if (value >= 10) {
      REQUIRE(carry_at != std::string::npos);
      CHECK(to_int(line.substr(carry_at + 7)) == value / 10);
    } else {
      CHECK(carry_at == std::string::npos);
    }
    const std::vector<std::string> terms = split(lhs, '+');
    const size_t k = p.numbers.size();
    REQUIRE((terms.size() == k || terms.size() == k + 1));
    int64_t sum = 0;
    for (size_t j = 0; j < terms.size(); ++j) {
      const int64_t term = to_int(terms[j]);
      if (j < k) CHECK(term == digit(p.numbers[j], col));  // the column's digits, in order
      sum += term;
    }
    const bool has_carry_term = terms.size() == k + 1;
    if (has_carry_term) CHECK(to_int(terms[k]) == carry);
    const bool ok = value == sum && has_carry_term == (carry > 0);
    if (!ok && pass.wrong++ == 0) {
      pass.wrong_lhs = lhs;
      pass.wrong_written = value;
      pass.wrong_column = col;
    }
    pass.result += (value % 10) * pow10(col);
    carry = value / 10;
  }
  pass.result += carry * pow10(cols);
  return pass;
}

// "check 1223-376=847 agrees": subtracting back from the concluded sum;
// "agrees" exactly when the first addend is what is left.
void check_add_check(const Problem& p, const std::string& line, int64_t concluded) {
  REQUIRE(starts_with(line, "check "));
  const bool agrees = line.size() > 7 && line.substr(line.size() - 7) == " agrees";
  const bool disagrees = line.size() > 10 && line.substr(line.size() - 10) == " disagrees";
  REQUIRE((agrees || disagrees));
  const std::vector<std::string> steps = split(line.substr(6, line.size() - 6 - (agrees ? 7 : 10)), ' ');
  REQUIRE(steps.size() == p.numbers.size() - 1);
  int64_t rest = concluded;
  for (size_t s = 0; s < steps.size(); ++s) {
    const auto [lhs, value] = equation(steps[s]);
    const std::vector<std::string> ab = split(lhs, '-');
    REQUIRE(ab.size() == 2);
    CHECK(to_int(ab[0]) == rest);
    CHECK(to_int(ab[1]) == p.numbers[p.numbers.size() - 1 - s]);
    CHECK(value == to_int(ab[0]) - to_int(ab[1]));
    rest = value;
  }
  CHECK(agrees == (rest == p.numbers[0]));
  CHECK(agrees == (concluded == p.target));
}

// "wait <the slipped line done right> not <what was written>"
void check_wait(const std::string& wait, const Pass& slipped) {
  REQUIRE(starts_with(wait, "wait "));
  const size_t not_at = wait.find(" not ");
  REQUIRE(not_at != std::string::npos);
  const auto [fix_lhs, fix_value] = equation(wait.substr(5, not_at - 5));
  CHECK(fix_lhs == slipped.wrong_lhs);  // names the line that slipped, as written
  CHECK(ref_eval(fix_lhs).value == fix_value);
  CHECK(to_int(wait.substr(not_at + 5)) == slipped.wrong_written);
}

void check_add(const Problem& p, Style style, bool slip, const Completion& c) {
  size_t at = 0;
  const std::string so_answer = "so " + p.answer;
  if (style == Style::Correct || slip) {
    const Pass slipped = check_add_pass(p, c.lines, at);
    CHECK(slipped.wrong == 1);
    REQUIRE(at < c.lines.size());
    CHECK(c.lines[at++] == "so " + std::to_string(slipped.result));
    CHECK(slipped.result != p.target);
    if (slip) {  // nothing catches it
      CHECK(c.answer == std::to_string(slipped.result));
      CHECK(at == c.lines.size());
      return;
    }
    REQUIRE(at + 1 < c.lines.size());
    check_add_check(p, c.lines[at++], slipped.result);  // disagrees: that is what triggers the wait
    check_wait(c.lines[at++], slipped);
  }
  CHECK(c.answer == p.answer);
  const Pass pass = check_add_pass(p, c.lines, at);
  CHECK(pass.wrong == 0);
  CHECK(pass.result == p.target);
  REQUIRE(at < c.lines.size());
  CHECK(c.lines[at++] == so_answer);
  if (style == Style::Verify) check_add_check(p, c.lines.at(at++), p.target);
  CHECK(at == c.lines.size());
}

// ---- mul: partial products, then running sums ----
Pass check_mul_pass(const Problem& p, const std::vector<std::string>& lines, size_t& at) {
  Pass pass;
  const int64_t a = p.numbers[0], b = p.numbers[1];
  auto note = [&](bool ok, const std::string& lhs, int64_t value) {
    if (!ok && pass.wrong++ == 0) {
      pass.wrong_lhs = lhs;
      pass.wrong_written = value;
    }
  };
  std::vector<int64_t> partials;
  for (int j = 0; j < width(b); ++j) {
    REQUIRE(at < lines.size());
    const auto [lhs, value] = equation(lines[at++]);
    const std::vector<std::string> f = split(lhs, '*');
    REQUIRE(f.size() == 2);
    CHECK(to_int(f[0]) == a);
    CHECK(to_int(f[1]) == digit(b, j) * pow10(j));  // b's digit at its place value
    note(value == a * to_int(f[1]), lhs, value);
    partials.push_back(value);
  }
  int64_t sum = partials[0];
  for (int j = 1; j < width(b); ++j) {
    REQUIRE(at < lines.size());
    const auto [lhs, value] = equation(lines[at++]);
    const std::vector<std::string> t = split(lhs, '+');
    REQUIRE(t.size() == 2);
    CHECK(to_int(t[0]) == sum);          // the running sum as written
    CHECK(to_int(t[1]) == partials[j]);  // the partial as written
    note(value == sum + partials[j], lhs, value);
    sum = value;
  }
  pass.result = sum;
  return pass;
}

// "check 29*347=29*300+29*40+29*7=8700+1160+203=10063 agrees": the product
// the other way round; "agrees" exactly when it is the concluded value.
void check_mul_check(const Problem& p, const std::string& line, int64_t concluded) {
  REQUIRE(starts_with(line, "check "));
  const bool agrees = line.size() > 7 && line.substr(line.size() - 7) == " agrees";
  const bool disagrees = line.size() > 10 && line.substr(line.size() - 10) == " disagrees";
  REQUIRE((agrees || disagrees));
  const std::vector<std::string> parts = split(line.substr(6, line.size() - 6 - (agrees ? 7 : 10)), '=');
  REQUIRE(parts.size() == 4);
  const int64_t a = p.numbers[0], b = p.numbers[1];
  CHECK(parts[0] == std::to_string(b) + "*" + std::to_string(a));  // the other order
  const std::vector<std::string> terms = split(parts[1], '+'), values = split(parts[2], '+');
  REQUIRE(terms.size() == (size_t)width(a));
  REQUIRE(values.size() == terms.size());
  int64_t sum = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const std::vector<std::string> f = split(terms[i], '*');
    REQUIRE(f.size() == 2);
    CHECK(to_int(f[0]) == b);
    CHECK(to_int(f[1]) == digit(a, width(a) - 1 - (int)i) * pow10(width(a) - 1 - (int)i));
    CHECK(to_int(values[i]) == b * to_int(f[1]));
    sum += to_int(values[i]);
  }
  CHECK(to_int(parts[3]) == sum);
  CHECK(sum == p.target);
  CHECK(agrees == (concluded == p.target));
}

void check_mul(const Problem& p, Style style, bool slip, const Completion& c) {
  size_t at = 0;
  if (style == Style::Correct || slip) {
    const Pass slipped = check_mul_pass(p, c.lines, at);
    CHECK(slipped.wrong == 1);
    REQUIRE(at < c.lines.size());
    CHECK(c.lines[at++] == "so " + std::to_string(slipped.result));
    CHECK(slipped.result != p.target);
    if (slip) {
      CHECK(c.answer == std::to_string(slipped.result));
      CHECK(at == c.lines.size());
      return;
    }
    REQUIRE(at + 1 < c.lines.size());
    check_mul_check(p, c.lines[at++], slipped.result);
    check_wait(c.lines[at++], slipped);
  }
  CHECK(c.answer == p.answer);
  const Pass pass = check_mul_pass(p, c.lines, at);
  CHECK(pass.wrong == 0);
  CHECK(pass.result == p.target);
  REQUIRE(at < c.lines.size());
  CHECK(c.lines[at++] == "so " + p.answer);
  if (style == Style::Verify) check_mul_check(p, c.lines.at(at++), p.target);
  CHECK(at == c.lines.size());
}

// ---- countdown: a search, "a op b=c c op d=e ... yes|no" ----
constexpr int64_t kMaxIntermediate = 999;  // the largest value a line writes
constexpr size_t kSearchLines = 8;         // lines before a search gives up

// a op b as a step a search may write: positive, at most 999, exact, never *1
// or /1 (they change nothing); 0 otherwise.
int64_t ref_step(int64_t a, char op, int64_t b) {
  if ((op == '*' || op == '/') && b == 1) return 0;
  int64_t v = 0;
  if (op == '+') v = a + b;
  if (op == '-') v = a - b;
  if (op == '*') v = a * b;
  if (op == '/') v = a % b == 0 ? a / b : 0;
  return v > 0 && v <= kMaxIntermediate ? v : 0;
}

int64_t dist(int64_t v, int64_t target) { return v > target ? v - target : target - v; }

struct Step {
  int64_t left, right, written;
  char op;
};

struct SearchLine {
  std::vector<Step> steps;
  bool says_yes = false;
  int wrong_steps = 0;  // steps whose written value is not left op right
  int first_wrong = -1;
  std::vector<int64_t> used;    // the given numbers it used, in order
  std::vector<int64_t> unused;  // the given numbers left
  int64_t last() const { return steps.back().written; }
  // The value of the chain written, recomputed truly (0 when a step is not allowed).
  int64_t truth() const {
    int64_t acc = steps[0].left;
    for (const Step& s : steps)
      if ((acc = ref_step(acc, s.op, s.right)) == 0) return 0;
    return acc;
  }
};

bool is_search_line(const std::string& line) {
  return line.size() > 3 && (line.substr(line.size() - 3) == " no" || line.substr(line.size() - 4) == " yes");
}

SearchLine read_search_line(const Problem& p, const std::string& line) {
  SearchLine t;
  std::vector<std::string> tokens = split(line, ' ');
  REQUIRE(tokens.size() >= 2);
  t.says_yes = tokens.back() == "yes";
  tokens.pop_back();
  t.unused = p.numbers;
  auto take = [&](int64_t n) {
    auto it = std::find(t.unused.begin(), t.unused.end(), n);
    REQUIRE_MESSAGE(it != t.unused.end(), "number ", n, " not given or used twice in: ", line);
    t.unused.erase(it);
    t.used.push_back(n);
  };
  for (size_t s = 0; s < tokens.size(); ++s) {
    const auto [lhs, value] = equation(tokens[s]);
    const size_t op_at = lhs.find_first_of("+-*/");
    REQUIRE(op_at != std::string::npos);
    const Step step{to_int(lhs.substr(0, op_at)), to_int(lhs.substr(op_at + 1)), value, lhs[op_at]};
    if (s == 0) {
      take(step.left);
      CHECK(step.left >= step.right);  // a first pair is written larger first
    } else {
      CHECK(step.left == t.steps.back().written);  // each step goes on from the value written
    }
    take(step.right);
    const int64_t truth = ref_step(step.left, step.op, step.right);
    CHECK(truth > 0);
    if (truth != value && t.wrong_steps++ == 0) t.first_wrong = (int)s;
    t.steps.push_back(step);
  }
  CHECK(t.says_yes == (t.last() == p.target));  // the verdict is about the value written
  return t;
}

// The line's rules: each step after the first is the remaining number and
// operation that lands closest to the target from the value written before
// it, and only when it lands closer than that value; the line stops where
// nothing lands closer (or at the target).
void check_greedy(const Problem& p, const SearchLine& t) {
  std::vector<int64_t> rest = p.numbers;
  for (int64_t n : {t.steps[0].left, t.steps[0].right}) rest.erase(std::find(rest.begin(), rest.end(), n));
  auto best_from = [&](int64_t acc) {
    int64_t best = -1;
    for (int64_t x : rest)
      for (char op : std::string("+-*/"))
        if (const int64_t v = ref_step(acc, op, x)) best = best < 0 || dist(v, p.target) < best ? dist(v, p.target) : best;
    return best;
  };
  for (size_t s = 1; s < t.steps.size(); ++s) {
    const Step& step = t.steps[s];
    const int64_t acc = t.steps[s - 1].written;
    CHECK(acc != p.target);
    const int64_t v = ref_step(step.left, step.op, step.right);
    CHECK(dist(v, p.target) < dist(acc, p.target));
    CHECK(dist(v, p.target) == best_from(acc));
    rest.erase(std::find(rest.begin(), rest.end(), step.right));
  }
  const int64_t last = t.last();
  if (last != p.target) {
    const int64_t best = best_from(last);
    CHECK((best < 0 || best >= dist(last, p.target)));
  }
}

// An expression written for a chain: its value, its numbers, and, without
// its parentheses, the chain's operands and operators in order.
void check_chain_expression(const SearchLine& t, const std::string& expr, int64_t value) {
  const Evaluated e = ref_eval(expr);
  CHECK(e.value == value);
  std::string flat, chain = std::to_string(t.steps[0].left);
  for (char ch : expr)
    if (ch != '(' && ch != ')') flat += ch;
  for (const Step& s : t.steps) chain += s.op + std::to_string(s.right);
  CHECK(flat == chain);
}

// "check E0=E1=...=V agrees|disagrees": E0 is the line's expression; every
// form has the line's true value; "agrees" exactly when that is the target.
bool check_countdown_check(const Problem& p, const SearchLine& t, const std::string& line, std::string& expr) {
  REQUIRE(starts_with(line, "check "));
  const bool agrees = line.substr(line.size() - 7) == " agrees";
  REQUIRE((agrees || line.substr(line.size() - 10) == " disagrees"));
  const std::vector<std::string> forms = split(line.substr(6, line.size() - 6 - (agrees ? 7 : 10)), '=');
  REQUIRE(forms.size() == t.steps.size() + 1);
  const int64_t truth = t.truth();
  REQUIRE(truth > 0);
  expr = forms.front();
  check_chain_expression(t, expr, truth);
  for (const std::string& form : forms) CHECK(ref_eval(form).value == truth);
  CHECK(to_int(forms.back()) == truth);
  CHECK(agrees == (truth == p.target));
  return agrees;
}

// The whole search document; returns the answer it concluded.
std::string check_countdown(const Problem& p, Style style, bool slip, const Completion& c) {
  size_t at = 0, searched = 0, slipped_lines = 0, waits = 0;
  std::vector<int64_t> first_distances;
  std::vector<std::string> first_moves;
  std::vector<SearchLine> believed;  // lines the writer still believes (for "closest")
  std::string concluded;
  bool found = false;
  while (at < c.lines.size() && is_search_line(c.lines[at])) {
    const SearchLine t = read_search_line(p, c.lines[at++]);
    ++searched;
    check_greedy(p, t);
    const Step& first = t.steps[0];
    first_distances.push_back(dist(ref_step(first.left, first.op, first.right), p.target));
    const std::string move = std::to_string(first.left) + first.op + std::to_string(first.right);
    CHECK(std::find(first_moves.begin(), first_moves.end(), move) == first_moves.end());  // a new start each line
    first_moves.push_back(move);
    if (t.wrong_steps > 0) {
      // A slip only ever makes a miss look like a hit.
      ++slipped_lines;
      CHECK(t.wrong_steps == 1);
      CHECK(t.says_yes);
      CHECK(t.truth() != p.target);
    }
    if (!t.says_yes) {
      believed.push_back(t);
      continue;
    }
    if (style == Style::Verify || style == Style::Correct) {
      REQUIRE(at < c.lines.size());
      std::string expr;
      const bool agrees = check_countdown_check(p, t, c.lines[at++], expr);
      CHECK(agrees == (t.wrong_steps == 0));
      if (!agrees) {  // the check caught the slip: name it, go on searching
        ++waits;
        REQUIRE(at < c.lines.size());
        const Step& s = t.steps[(size_t)t.first_wrong];
        CHECK(c.lines[at++] == "wait " + std::to_string(s.left) + s.op + std::to_string(s.right) + "=" +
                                   std::to_string(ref_step(s.left, s.op, s.right)) + " not " +
                                   std::to_string(s.written));
        continue;
      }
      concluded = expr;
    } else {
      concluded = "";
      REQUIRE(at < c.lines.size());
      const std::string& so = c.lines[at];
      REQUIRE(starts_with(so, "so "));
      check_chain_expression(t, so.substr(3), t.truth());
      concluded = so.substr(3);
    }
    found = true;
    break;
  }
  CHECK(searched >= 1);
  CHECK(searched <= kSearchLines);
  // The starts, closest to the target first; the first one as close as any.
  CHECK(std::is_sorted(first_distances.begin(), first_distances.end()));
  int64_t closest_start = -1;
  for (size_t j = 0; j < p.numbers.size(); ++j)
    for (size_t i = 0; i < p.numbers.size(); ++i)
      for (char op : std::string("+-*/"))
        if (i != j && p.numbers[i] >= p.numbers[j])
          if (const int64_t v = ref_step(p.numbers[i], op, p.numbers[j]))
            closest_start = closest_start < 0 || dist(v, p.target) < closest_start ? dist(v, p.target) : closest_start;
  CHECK(first_distances.front() == closest_start);

  REQUIRE(at < c.lines.size());
  if (found) {
    CHECK(c.lines[at++] == "so " + concluded);
  } else {
    // Gave up: the line (of those it still believes) that landed closest.
    REQUIRE(!believed.empty());
    const SearchLine* best = &believed[0];
    for (const SearchLine& t : believed)
      if (dist(t.last(), p.target) < dist(best->last(), p.target)) best = &t;
    REQUIRE(starts_with(c.lines[at], "closest "));
    concluded = c.lines[at++].substr(8);
    check_chain_expression(*best, concluded, best->truth());
    CHECK(ref_eval(concluded).value != p.target);
  }
  CHECK(at == c.lines.size());
  CHECK(c.answer == concluded);
  // Slips: exactly one, caught, in `correct`; one uncaught in `steps` with a
  // slip (then the wrong hit is the answer); none elsewhere.
  CHECK(slipped_lines == (style == Style::Correct || slip ? 1u : 0u));
  CHECK(waits == (style == Style::Correct ? 1u : 0u));
  CHECK((ref_eval(c.answer).value == p.target) == (found && !slip));
  return concluded;
}

void check_direct(const Problem& p, const Completion& c, const std::string& worked_answer) {
  if (p.task == TaskKind::Countdown) {
    CHECK(c.answer == worked_answer);  // the same search, done in the head
  } else {
    CHECK(c.answer == p.answer);
  }
  if (c.lines.empty()) return;
  REQUIRE(c.lines.size() == 1);
  const auto [lhs, value] = equation(c.lines[0]);
  if (p.task == TaskKind::Countdown) {
    CHECK(lhs == c.answer);
    CHECK(value == ref_eval(lhs).value);
  } else {
    CHECK(ref_eval(lhs).value == p.target);
    CHECK(value == p.target);
    CHECK("what is " + lhs + "?" == p.text);
  }
}

void check_worked(const Problem& p, Style style, bool slip, const Completion& c, std::string& answer) {
  switch (p.task) {
    case TaskKind::Add: check_add(p, style, slip, c); break;
    case TaskKind::Mul: check_mul(p, style, slip, c); break;
    case TaskKind::Countdown: answer = check_countdown(p, style, slip, c); break;
  }
}

void check_solutions(TaskKind task) {
  Generator rng(1000 + (int)task);
  int no_slip = 0, countdown_found = 0;
  for (int i = 0; i < 10000; ++i) {
    const int difficulty = 1 + i % 5;  // the training range and the OOD difficulty
    const Problem p = make_problem(task, difficulty, rng);
    const bool slips = can_slip(p);
    no_slip += !slips;
    std::string steps_answer;
    // Steps first: the direct answer of countdown is its result.
    for (int s : {1, 2, 3, 0}) {
      const Style style = (Style)s;
      if (style == Style::Correct && !slips) {
        CHECK_THROWS(write_solution(p, style, rng));
        continue;
      }
      const std::string completion = write_solution(p, style, rng);
      INFO(p.text, " ", style_name(style), "\n", completion);
      const Completion c = read_completion(completion);
      std::string answer;
      if (style == Style::Direct)
        check_direct(p, c, steps_answer);
      else
        check_worked(p, style, false, c, answer);
      if (style == Style::Steps) {
        steps_answer = task == TaskKind::Countdown ? answer : c.answer;
        countdown_found += task == TaskKind::Countdown && ref_eval(answer).value == p.target;
      }
      if (task == TaskKind::Countdown && style != Style::Direct) {
        // The writer never looks at the generator's answer: another one changes nothing.
        Problem other = p;
        other.answer = "1+1";
        Generator a(77 + i), b(77 + i);
        CHECK(write_solution(other, style, a) == write_solution(p, style, b));
      }
    }
    if (slips) {
      const std::string completion = write_solution(p, Style::Steps, rng, true);
      INFO(p.text, " steps with an uncaught slip\n", completion);
      std::string answer;
      check_worked(p, Style::Steps, true, read_completion(completion), answer);
    }
    CHECK_THROWS(write_solution(p, Style::Verify, rng, true));  // a slip is a steps document's
    // A noise document's answer is wrong.
    const Completion noise = read_completion(write_wrong_solution(p, rng));
    if (task == TaskKind::Countdown) {
      bool reaches = false;
      try {
        reaches = ref_eval(noise.answer).value == p.target;
      } catch (const std::exception&) {
      }
      CHECK(!reaches);
    } else {
      CHECK(noise.answer != p.answer);
      CHECK(to_int(noise.answer) >= 0);
    }
  }
  if (task == TaskKind::Countdown) {
    // A search that mostly finds, and a place for a slip in many of them.
    CHECK(countdown_found > 7000);
    CHECK(no_slip < 8000);
    CHECK(no_slip > 1000);
  } else {
    CHECK(no_slip == 0);
  }
}

}  // namespace

TEST_CASE("solutions: add, 10,000 problems, every line checks") { check_solutions(TaskKind::Add); }
TEST_CASE("solutions: mul, 10,000 problems, every line checks") { check_solutions(TaskKind::Mul); }
TEST_CASE("solutions: countdown, 10,000 problems, every line checks") { check_solutions(TaskKind::Countdown); }

// The verify style's check line (data/add.cpp: check_line) on problems built by
// hand: the addends subtracted back off the concluded sum, last first.
TEST_CASE("solutions: add, the check line of verify and correct, by hand") {
  Generator rng(1);
  Problem two;
  two.task = TaskKind::Add;
  two.difficulty = 2;
  two.text = "what is 847+376?";
  two.numbers = {847, 376};
  two.target = 1223;
  two.answer = "1223";
  CHECK(split(solve_add(two, Style::Verify, rng, false).think, '\n').back() == "check 1223-376=847 agrees");

  Problem three = two;
  three.difficulty = 4;
  three.text = "what is 5432+1234+1111?";
  three.numbers = {5432, 1234, 1111};
  three.target = 7777;
  three.answer = "7777";
  CHECK(split(solve_add(three, Style::Verify, rng, false).think, '\n').back() ==
        "check 7777-1111=6666 6666-1234=5432 agrees");

  // correct: a slipped sum X is concluded first ("so X"), then checked the same way, and disagrees
  const std::vector<std::string> lines = split(solve_add(two, Style::Correct, rng, false).think, '\n');
  size_t so = 0;
  while (so < lines.size() && !starts_with(lines[so], "so ")) ++so;
  REQUIRE(so + 1 < lines.size());
  const int64_t slipped = to_int(lines[so].substr(3));
  REQUIRE(slipped != 1223);
  CHECK(lines[so + 1] == "check " + std::to_string(slipped) + "-376=" + std::to_string(slipped - 376) + " disagrees");
}

TEST_CASE("solutions: the reference evaluator itself") {
  CHECK(ref_eval("(25-7)*3+50").value == 104);
  CHECK(ref_eval("2+3*4").value == 14);
  CHECK(ref_eval("20/4/5").value == 1);
  CHECK(ref_eval("9-1-1").value == 7);
  CHECK_THROWS(ref_eval("7/2"));
  CHECK(ref_eval("(1+2)*(3+4)").numbers == std::vector<int64_t>{1, 2, 3, 4});
}
