#include "data/task.h"

#include <stdexcept>

#include "data/template.h"

namespace aha {
namespace data {

namespace {

// Training difficulties 1..4, OOD 5, for every task (the tables are in task.h
// and in each task's file). Keeping the same numbering across tasks lets a
// config say "difficulty 3" and mean "middle of the training range" everywhere.
const TaskSpec kSpecs[kNumTasks] = {
    {TaskKind::Add, "add", {1, 2, 3, 4}, 5},
    {TaskKind::Mul, "mul", {1, 2, 3, 4}, 5},
    {TaskKind::Countdown, "countdown", {1, 2, 3, 4}, 5},
};
const char* const kStyleNames[kNumStyles] = {"direct", "steps", "verify", "correct"};

void check_difficulty(TaskKind task, int difficulty) {
  const TaskSpec& spec = task_spec(task);
  if (difficulty < 1 || difficulty > spec.ood_difficulty)
    throw std::runtime_error(std::string(spec.name) + ": difficulty " + std::to_string(difficulty) +
                             " out of range 1.." + std::to_string(spec.ood_difficulty) +
                             " (training 1.." + std::to_string(spec.train_difficulties.back()) +
                             ", OOD " + std::to_string(spec.ood_difficulty) + ")");
}

}  // namespace

const TaskSpec& task_spec(TaskKind task) { return kSpecs[(int)task]; }
const char* task_name(TaskKind task) { return kSpecs[(int)task].name; }
const char* style_name(Style style) { return kStyleNames[(int)style]; }

TaskKind parse_task(const std::string& name) {
  for (const TaskSpec& spec : kSpecs)
    if (name == spec.name) return spec.task;
  throw std::runtime_error("unknown task '" + name + "' (choices: add, mul, countdown)");
}

Style parse_style(const std::string& name) {
  for (int s = 0; s < kNumStyles; ++s)
    if (name == kStyleNames[s]) return (Style)s;
  throw std::runtime_error("unknown style '" + name + "' (choices: direct, steps, verify, correct)");
}

Problem make_problem(TaskKind task, int difficulty, Generator& rng) {
  check_difficulty(task, difficulty);
  switch (task) {
    case TaskKind::Add: return make_add_problem(difficulty, rng);
    case TaskKind::Mul: return make_mul_problem(difficulty, rng);
    case TaskKind::Countdown: return make_countdown_problem(difficulty, rng);
  }
  throw std::runtime_error("make_problem: invalid task kind " + std::to_string((int)task));
}

std::string write_solution(const Problem& problem, Style style, Generator& rng, bool slip) {
  if (slip && style != Style::Steps)
    throw std::runtime_error(std::string("write_solution: an uncaught slip is a `steps` document, not `") +
                             style_name(style) + "`");
  switch (problem.task) {
    case TaskKind::Add: return completion_text(solve_add(problem, style, rng, slip));
    case TaskKind::Mul: return completion_text(solve_mul(problem, style, rng, slip));
    case TaskKind::Countdown: return completion_text(solve_countdown(problem, style, rng, slip));
  }
  throw std::runtime_error("write_solution: invalid task kind " + std::to_string((int)problem.task));
}

std::string write_solution_wrong_end(const Problem& problem, Style style, Generator& rng) {
  Solution solution;
  switch (problem.task) {
    case TaskKind::Add: solution = solve_add(problem, style, rng, false); break;
    case TaskKind::Mul: solution = solve_mul(problem, style, rng, false); break;
    case TaskKind::Countdown:
      throw std::runtime_error("write_solution_wrong_end: add and mul only (a countdown answer is an expression)");
  }
  solution.answer = std::to_string(near_miss(problem.target, rng));
  return completion_text(solution);
}

namespace {

// "347" -> 347; false unless plain digits (no sign, no leading zero) that fit.
bool read_number(const std::string& text, int64_t& value) {
  if (text.empty() || text.size() > 18 || (text[0] == '0' && text.size() > 1)) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

}  // namespace

Problem parse_problem(const std::string& text) {
  std::string body = text;
  if (body.rfind(kBosText, 0) == 0) body.erase(0, std::string(kBosText).size());
  while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
  const auto fail = [&]() -> Problem {
    throw std::runtime_error("parse_problem: '" + text +
                             "' is not a problem of aha's tasks (\"what is 12+34?\", \"what is 12*34?\", "
                             "\"use 3 7 25 50 to make 104\")");
  };
  Problem problem;
  problem.text = body;
  const std::string what = "what is ", use = "use ", make = " to make ";
  if (body.rfind(what, 0) == 0 && body.size() > what.size() + 1 && body.back() == '?') {
    const std::string expr = body.substr(what.size(), body.size() - what.size() - 1);
    const bool product = expr.find('*') != std::string::npos;
    problem.task = product ? TaskKind::Mul : TaskKind::Add;
    size_t start = 0;
    for (;;) {
      const size_t end = expr.find(product ? '*' : '+', start);
      int64_t n = 0;
      if (!read_number(expr.substr(start, end == std::string::npos ? std::string::npos : end - start), n)) fail();
      problem.numbers.push_back(n);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    if (problem.numbers.size() < 2 || (product && problem.numbers.size() != 2)) fail();
    if (product && __builtin_mul_overflow(problem.numbers[0], problem.numbers[1], &problem.target)) fail();
    if (!product)
      for (int64_t n : problem.numbers)
        if (__builtin_add_overflow(problem.target, n, &problem.target)) fail();
    problem.answer = std::to_string(problem.target);
    return problem;
  }
  const size_t at = body.find(make);
  if (body.rfind(use, 0) == 0 && at != std::string::npos) {
    problem.task = TaskKind::Countdown;
    const std::string given = body.substr(use.size(), at - use.size());
    size_t start = 0;
    while (start < given.size()) {
      size_t end = given.find(' ', start);
      if (end == std::string::npos) end = given.size();
      int64_t n = 0;
      if (!read_number(given.substr(start, end - start), n)) fail();
      problem.numbers.push_back(n);
      start = end + 1;
    }
    if (problem.numbers.size() < 2 || !read_number(body.substr(at + make.size()), problem.target)) fail();
    return problem;
  }
  return fail();
}

bool can_slip(const Problem& problem) {
  return problem.task != TaskKind::Countdown || countdown_can_slip(problem);
}

std::string write_wrong_solution(const Problem& problem, Generator& rng) {
  switch (problem.task) {
    case TaskKind::Add: return completion_text(wrong_add(problem, rng));
    case TaskKind::Mul: return completion_text(wrong_mul(problem, rng));
    case TaskKind::Countdown: return completion_text(wrong_countdown(problem, rng));
  }
  throw std::runtime_error("write_wrong_solution: invalid task kind " +
                           std::to_string((int)problem.task));
}

int64_t pow10(int exponent) {
  if (exponent < 0 || exponent > 18)
    throw std::runtime_error("pow10: exponent " + std::to_string(exponent) + " outside 0..18");
  int64_t p = 1;
  for (int i = 0; i < exponent; ++i) p *= 10;
  return p;
}

int64_t random_with_digits(int digits, Generator& rng) {
  int64_t low = pow10(digits - 1);
  return low + (int64_t)rng.below((uint64_t)(9 * low));
}

// A slip a person makes: one digit of the result changed. The result stays
// non-negative and keeps its number of digits: a leading digit only goes up,
// and when it is already 9 the units digit changes instead.
int64_t near_miss(int64_t value, Generator& rng) {
  if (value < 0) throw std::runtime_error("near_miss: negative value " + std::to_string(value));
  int digits = 1;
  while (digits < 18 && value >= pow10(digits)) ++digits;
  int position = (int)rng.below((uint64_t)digits);
  bool leading = digits > 1 && position == digits - 1;
  if (leading && (value / pow10(position)) % 10 == 9) {
    position = 0;
    leading = false;
  }
  int64_t place = pow10(position);
  int digit = (int)((value / place) % 10);
  // The new digit is uniform over [lowest, 9] without the old digit.
  int lowest = leading ? digit + 1 : 0;
  int choices = 10 - lowest - (leading ? 0 : 1);
  int pick = lowest + (int)rng.below((uint64_t)choices);
  if (!leading && pick >= digit) ++pick;
  return value + (int64_t)(pick - digit) * place;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (size_t i = 0; i < lines.size(); ++i) text += (i ? "\n" : "") + lines[i];
  return text;
}

}  // namespace data
}  // namespace aha
