// The tasks: how hard a problem is, how it is made and how it is solved in each
// style. Each task lives in its own file (add.cpp, mul.cpp, countdown.cpp) and
// knows three things: how to generate a problem from a seed and a difficulty,
// the true answer, and how to write a solution in each style.
// The types a task makes (Problem, Solution, the styles) are in data/problem.h.
//
// Difficulty is one integer per task (table in task.cpp and README):
//   add        d -> (count of numbers, digits each)   1:(2,2) 2:(2,3) 3:(2,4) 4:(3,4) | OOD 5:(3,5)
//   mul        d -> (digits of a, digits of b)         1:(2,1) 2:(2,2) 3:(3,2) 4:(3,3) | OOD 5:(4,3)
//   countdown  d -> (count of numbers, largest number, largest target)
//                                                      1:(3,9,50) 2:(3,25,100) 3:(4,25,100)
//                                                      4:(4,50,200) | OOD 5:(5,50,200)
// The corpus and RL use the training difficulties 1..4; the OOD set uses 5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/problem.h"
#include "tensor/random.h"

namespace aha {
namespace data {

struct TaskSpec {
  TaskKind task;
  const char* name;                     // "add", "mul", "countdown"
  std::vector<int> train_difficulties;  // what the corpus and RL prompts use
  int ood_difficulty;                   // one above the training range
};

const TaskSpec& task_spec(TaskKind task);
const char* task_name(TaskKind task);
const char* style_name(Style style);
// Parse "add" / "direct" ...; throws naming the value and the choices.
TaskKind parse_task(const std::string& name);
Style parse_style(const std::string& name);

// A fresh problem; deterministic given the generator's state. Throws when
// `difficulty` is outside 1..ood_difficulty.
Problem make_problem(TaskKind task, int difficulty, Generator& rng);
// The completion "<think>...</think><answer>...</answer><eos>" in `style`.
// `slip` (style Steps only): the work carries one slip that nothing catches,
// so the answer is wrong (the imperfect web, CorpusConfig::slip_share).
// Throws when the style needs a slip and the problem offers none (can_slip).
std::string write_solution(const Problem& problem, Style style, Generator& rng, bool slip = false);
// Whether the worked solution of `problem` has a place for the slip of style
// Correct (and of Steps with `slip`). Always for add and mul; for countdown
// only when its search passes a line that a slip can make seem to hit.
bool can_slip(const Problem& problem);
// The completion of write_solution (no slip) with a wrong final answer: the
// work, any check and correction unchanged, then an answer one digit off the
// one the work concluded (near_miss). Right structure, wrong content: the
// corpus knob CorpusConfig::wrong_end_share (issue 14, Gandhi et al. 2025).
// Add and mul only (a countdown answer is an expression); throws otherwise.
std::string write_solution_wrong_end(const Problem& problem, Style style, Generator& rng);
// A noise document's completion: a direct answer that is wrong, as on the web.
std::string write_wrong_solution(const Problem& problem, Generator& rng);

// The problem a prompt's text states, as make_problem would have written it
// ("what is 347+29?", "what is 347*29?", "use 3 7 25 50 to make 104"; a
// leading "<bos>" and a trailing newline are allowed). The difficulty is not
// recovered (0); a countdown problem's `answer` is left empty (the text does
// not say which expression the generator had in mind). Throws, quoting the
// text, when it is none of the three forms.
Problem parse_problem(const std::string& text);

// Per-task entry points (add.cpp, mul.cpp, countdown.cpp).
Problem make_add_problem(int difficulty, Generator& rng);
Solution solve_add(const Problem& problem, Style style, Generator& rng, bool slip);
Solution wrong_add(const Problem& problem, Generator& rng);

Problem make_mul_problem(int difficulty, Generator& rng);
Solution solve_mul(const Problem& problem, Style style, Generator& rng, bool slip);
Solution wrong_mul(const Problem& problem, Generator& rng);

Problem make_countdown_problem(int difficulty, Generator& rng);
Solution solve_countdown(const Problem& problem, Style style, Generator& rng, bool slip);
Solution wrong_countdown(const Problem& problem, Generator& rng);
bool countdown_can_slip(const Problem& problem);

// Small integer helpers shared by the task files.
int64_t pow10(int exponent);                          // 10^exponent, exponent in 0..18
int64_t random_with_digits(int digits, Generator& rng);  // uniform over the n-digit numbers
// An integer near `value` but not equal: one digit changed (see task.cpp).
int64_t near_miss(int64_t value, Generator& rng);
// Lines joined by '\n' (the think text of a worked solution).
std::string join_lines(const std::vector<std::string>& lines);

}  // namespace data
}  // namespace aha
