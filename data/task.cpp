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

std::string write_solution(const Problem& problem, Style style, Generator& rng) {
  switch (problem.task) {
    case TaskKind::Add: return completion_text(solve_add(problem, style, rng));
    case TaskKind::Mul: return completion_text(solve_mul(problem, style, rng));
    case TaskKind::Countdown: return completion_text(solve_countdown(problem, style, rng));
  }
  throw std::runtime_error("write_solution: invalid task kind " + std::to_string((int)problem.task));
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
