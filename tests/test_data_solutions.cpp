// Every worked solution reaches the true answer by its own arithmetic: for
// 10,000 random problems of each task, each line of the `steps`, `verify` and
// `correct` solutions is parsed and recomputed here, with an evaluator written
// for this test (independent of the generators and of reward/).
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

// "check 1223-376=847 agrees"
void check_add_check(const Problem& p, const std::string& line) {
  REQUIRE(starts_with(line, "check "));
  REQUIRE(line.size() > 13);
  REQUIRE(line.substr(line.size() - 7) == " agrees");
  const std::vector<std::string> steps = split(line.substr(6, line.size() - 13), ' ');
  REQUIRE(steps.size() == p.numbers.size() - 1);
  int64_t rest = p.target;
  for (size_t s = 0; s < steps.size(); ++s) {
    const auto [lhs, value] = equation(steps[s]);
    const std::vector<std::string> ab = split(lhs, '-');
    REQUIRE(ab.size() == 2);
    CHECK(to_int(ab[0]) == rest);
    CHECK(to_int(ab[1]) == p.numbers[p.numbers.size() - 1 - s]);
    CHECK(value == to_int(ab[0]) - to_int(ab[1]));
    rest = value;
  }
  CHECK(rest == p.numbers[0]);
}

void check_add(const Problem& p, Style style, const Completion& c) {
  size_t at = 0;
  const std::string so_answer = "so " + p.answer;
  if (style == Style::Correct) {
    const Pass slipped = check_add_pass(p, c.lines, at);
    CHECK(slipped.wrong == 1);
    REQUIRE(at + 1 < c.lines.size());
    CHECK(c.lines[at++] == "so " + std::to_string(slipped.result));
    CHECK(slipped.result != p.target);
    // "wait <the slipped column done right> not <what was written>"
    const std::string& wait = c.lines[at++];
    REQUIRE(starts_with(wait, "wait "));
    const size_t not_at = wait.find(" not ");
    REQUIRE(not_at != std::string::npos);
    const auto [fix_lhs, fix_value] = equation(wait.substr(5, not_at - 5));
    CHECK(ref_eval(fix_lhs).value == fix_value);
    CHECK(to_int(wait.substr(not_at + 5)) == slipped.wrong_written);
    // The fix is the slipped column: the same digits, plus the true carry.
    const std::vector<std::string> fix_terms = split(fix_lhs, '+');
    for (size_t j = 0; j < p.numbers.size(); ++j)
      CHECK(to_int(fix_terms.at(j)) == digit(p.numbers[j], slipped.wrong_column));
  }
  const Pass pass = check_add_pass(p, c.lines, at);
  CHECK(pass.wrong == 0);
  CHECK(pass.result == p.target);
  REQUIRE(at < c.lines.size());
  CHECK(c.lines[at++] == so_answer);
  if (style == Style::Verify) check_add_check(p, c.lines.at(at++));
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

// "check 29*347=29*300+29*40+29*7=8700+1160+203=10063 agrees"
void check_mul_check(const Problem& p, const std::string& line) {
  REQUIRE(starts_with(line, "check "));
  REQUIRE(line.size() > 13);
  REQUIRE(line.substr(line.size() - 7) == " agrees");
  const std::vector<std::string> parts = split(line.substr(6, line.size() - 13), '=');
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
}

void check_mul(const Problem& p, Style style, const Completion& c) {
  size_t at = 0;
  if (style == Style::Correct) {
    const Pass slipped = check_mul_pass(p, c.lines, at);
    CHECK(slipped.wrong == 1);
    REQUIRE(at + 1 < c.lines.size());
    CHECK(c.lines[at++] == "so " + std::to_string(slipped.result));
    CHECK(slipped.result != p.target);
    const std::string& wait = c.lines[at++];
    REQUIRE(starts_with(wait, "wait "));
    const size_t not_at = wait.find(" not ");
    REQUIRE(not_at != std::string::npos);
    const auto [fix_lhs, fix_value] = equation(wait.substr(5, not_at - 5));
    CHECK(fix_lhs == slipped.wrong_lhs);  // names the line that slipped
    CHECK(ref_eval(fix_lhs).value == fix_value);
    CHECK(to_int(wait.substr(not_at + 5)) == slipped.wrong_written);
  }
  const Pass pass = check_mul_pass(p, c.lines, at);
  CHECK(pass.wrong == 0);
  CHECK(pass.result == p.target);
  REQUIRE(at < c.lines.size());
  CHECK(c.lines[at++] == "so " + p.answer);
  if (style == Style::Verify) check_mul_check(p, c.lines.at(at++));
  CHECK(at == c.lines.size());
}

// ---- countdown: search trace lines "x+y=z z*w=v ... yes|no" ----
struct TraceLine {
  bool says_yes = false;
  int wrong_steps = 0;
  std::string wrong_step_lhs;
  int64_t wrong_written = 0;
  int64_t final_value = 0;
  std::vector<int64_t> used;  // the given numbers the line used
};

TraceLine check_trace_line(const Problem& p, const std::string& line) {
  TraceLine t;
  std::vector<std::string> tokens = split(line, ' ');
  REQUIRE(tokens.size() >= 2);
  const std::string verdict = tokens.back();
  REQUIRE((verdict == "yes" || verdict == "no"));
  t.says_yes = verdict == "yes";
  tokens.pop_back();
  std::vector<int64_t> pool = p.numbers;
  auto take = [&](int64_t n) {
    auto it = std::find(pool.begin(), pool.end(), n);
    REQUIRE_MESSAGE(it != pool.end(), "number ", n, " not given or used twice in: ", line);
    pool.erase(it);
    t.used.push_back(n);
  };
  int64_t previous = 0;
  for (size_t s = 0; s < tokens.size(); ++s) {
    const auto [lhs, value] = equation(tokens[s]);
    const size_t op_at = lhs.find_first_of("+-*/");
    REQUIRE(op_at != std::string::npos);
    const int64_t x = to_int(lhs.substr(0, op_at)), y = to_int(lhs.substr(op_at + 1));
    if (s == 0)
      take(x);
    else
      CHECK(x == previous);  // each step starts from the last value written
    take(y);
    const Evaluated truth = ref_eval(lhs);
    CHECK(truth.value > 0);
    if (truth.value != value && t.wrong_steps++ == 0) {
      t.wrong_step_lhs = lhs;
      t.wrong_written = value;
    }
    previous = value;
  }
  t.final_value = previous;
  CHECK(t.says_yes == (t.final_value == p.target));  // the verdict matches the written value
  return t;
}

void check_countdown_answer(const Problem& p, const std::string& expr) {
  const Evaluated e = ref_eval(expr);
  CHECK(e.value == p.target);
  std::vector<int64_t> pool = p.numbers;
  for (int64_t n : e.numbers) {
    auto it = std::find(pool.begin(), pool.end(), n);
    REQUIRE_MESSAGE(it != pool.end(), "answer ", expr, " uses ", n, " not given (or twice)");
    pool.erase(it);
  }
}

void check_countdown(const Problem& p, Style style, const Completion& c) {
  size_t at = 0;
  // Misses first: right arithmetic, "no".
  while (at < c.lines.size() && !starts_with(c.lines[at], "so ") && !starts_with(c.lines[at], "wait ")) {
    const bool next_is_wait = at + 1 < c.lines.size() && starts_with(c.lines[at + 1], "wait ");
    const TraceLine t = check_trace_line(p, c.lines[at]);
    if (next_is_wait || t.says_yes) break;
    CHECK(t.wrong_steps == 0);
    ++at;
  }
  REQUIRE(at < c.lines.size());
  if (style == Style::Correct) {
    // The hit with one step slipped, so it missed; then the wait line names the step.
    const TraceLine slipped = check_trace_line(p, c.lines[at++]);
    CHECK(slipped.wrong_steps >= 1);
    CHECK(!slipped.says_yes);
    REQUIRE(at < c.lines.size());
    const std::string& wait = c.lines[at++];
    REQUIRE(starts_with(wait, "wait "));
    const size_t not_at = wait.find(" not ");
    REQUIRE(not_at != std::string::npos);
    const auto [fix_lhs, fix_value] = equation(wait.substr(5, not_at - 5));
    CHECK(fix_lhs == slipped.wrong_step_lhs);
    CHECK(ref_eval(fix_lhs).value == fix_value);
    CHECK(to_int(wait.substr(not_at + 5)) == slipped.wrong_written);
  }
  REQUIRE(at < c.lines.size());
  const TraceLine hit = check_trace_line(p, c.lines[at++]);
  CHECK(hit.says_yes);
  CHECK(hit.wrong_steps == 0);
  REQUIRE(at < c.lines.size());
  CHECK(c.lines[at++] == "so " + p.answer);
  check_countdown_answer(p, p.answer);
  // The expression uses the numbers the hit line used.
  std::vector<int64_t> expr_numbers = ref_eval(p.answer).numbers, hit_numbers = hit.used;
  std::sort(expr_numbers.begin(), expr_numbers.end());
  std::sort(hit_numbers.begin(), hit_numbers.end());
  CHECK(expr_numbers == hit_numbers);
  if (style == Style::Verify) {
    // "check E0=E1=...=target agrees": each form evaluates to the target.
    const std::string& line = c.lines.at(at++);
    REQUIRE(starts_with(line, "check "));
    REQUIRE(line.size() > 13);
    REQUIRE(line.substr(line.size() - 7) == " agrees");
    const std::vector<std::string> forms = split(line.substr(6, line.size() - 13), '=');
    REQUIRE(forms.size() == hit.used.size());
    CHECK(forms.front() == p.answer);
    for (const std::string& form : forms) CHECK(ref_eval(form).value == p.target);
    CHECK(to_int(forms.back()) == p.target);
  }
  CHECK(at == c.lines.size());
}

void check_direct(const Problem& p, const Completion& c) {
  CHECK(c.answer == p.answer);
  if (c.lines.empty()) return;
  REQUIRE(c.lines.size() == 1);
  const auto [lhs, value] = equation(c.lines[0]);
  if (p.task == TaskKind::Countdown) {
    CHECK(lhs == p.answer);
    CHECK(value == p.target);
  } else {
    CHECK(ref_eval(lhs).value == p.target);
    CHECK(value == p.target);
    CHECK("what is " + lhs + "?" == p.text);
  }
}

void check_solutions(TaskKind task) {
  Generator rng(1000 + (int)task);
  for (int i = 0; i < 10000; ++i) {
    const int difficulty = 1 + i % 5;  // the training range and the OOD difficulty
    const Problem p = make_problem(task, difficulty, rng);
    if (p.task == TaskKind::Countdown) check_countdown_answer(p, p.answer);
    for (int s = 0; s < kNumStyles; ++s) {
      const Style style = (Style)s;
      const std::string completion = write_solution(p, style, rng);
      INFO(p.text, " ", style_name(style), "\n", completion);
      const Completion c = read_completion(completion);
      if (style == Style::Direct) {
        check_direct(p, c);
        continue;
      }
      CHECK(c.answer == p.answer);
      switch (task) {
        case TaskKind::Add: check_add(p, style, c); break;
        case TaskKind::Mul: check_mul(p, style, c); break;
        case TaskKind::Countdown: check_countdown(p, style, c); break;
      }
    }
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
}

}  // namespace

TEST_CASE("solutions: add, 10,000 problems, every line checks") { check_solutions(TaskKind::Add); }
TEST_CASE("solutions: mul, 10,000 problems, every line checks") { check_solutions(TaskKind::Mul); }
TEST_CASE("solutions: countdown, 10,000 problems, every line checks") { check_solutions(TaskKind::Countdown); }

TEST_CASE("solutions: the reference evaluator itself") {
  CHECK(ref_eval("(25-7)*3+50").value == 104);
  CHECK(ref_eval("2+3*4").value == 14);
  CHECK(ref_eval("20/4/5").value == 1);
  CHECK(ref_eval("9-1-1").value == 7);
  CHECK_THROWS(ref_eval("7/2"));
  CHECK(ref_eval("(1+2)*(3+4)").numbers == std::vector<int64_t>{1, 2, 3, 4});
}
