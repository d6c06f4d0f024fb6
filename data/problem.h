// What a problem and its solution are: the plain types every task (data/task.h)
// makes and writes, and the prompt template (data/template.h) wraps. Apart from
// task.h so that the template needs only these types, not the tasks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aha {
namespace data {

enum class TaskKind { Add, Mul, Countdown };
constexpr int kNumTasks = 3;

// The four kinds of text on our arithmetic "web" (solution styles):
//   Direct  - an empty or one-line think, then the answer;
//   Steps   - a worked solution (columns, partial products, a search trace);
//   Verify  - Steps that check every conclusion with a "check ..." line that
//             recomputes it another way ("... agrees");
//   Correct - Verify in which the writer slipped: the check really recomputes,
//             disagrees ("... disagrees"), "wait X=Y not Z" names the slip, and
//             the work goes on from the corrected value.
// Every worked solution is written by a procedure that does not know the
// answer (the columns, the partial products, a search); a slip is a digit
// changed or a carry dropped, and everything after it builds on what was
// written, as a person's pencil would.
enum class Style { Direct, Steps, Verify, Correct };
constexpr int kNumStyles = 4;

struct Problem {
  TaskKind task = TaskKind::Add;
  int difficulty = 1;
  // Canonical text, the problem's identity (it decides the split): operands of
  // add/mul in descending order, countdown numbers ascending.
  //   "what is 347+29?"   "what is 347*29?"   "use 3 7 25 50 to make 104"
  std::string text;
  // add/mul: the true result in decimal; countdown: one valid expression.
  std::string answer;
  std::vector<int64_t> numbers;  // operands (add/mul) or the given numbers (countdown)
  int64_t target = 0;            // add/mul: the true result; countdown: the number to make
};

// A completion's two parts, before the template wraps them in special tokens.
struct Solution {
  std::string think;   // lines joined by '\n', no leading or trailing newline
  std::string answer;
};

}  // namespace data
}  // namespace aha
