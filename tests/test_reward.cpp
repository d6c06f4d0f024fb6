// reward/: the countdown expression evaluator, the completion parser and the
// outcome-only rewards, including the ways a policy might try to game them.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "data/task.h"
#include "data/template.h"
#include "reward/expression.h"
#include "reward/parse.h"
#include "reward/reward.h"

using namespace aha;
using namespace aha::reward;
using data::Problem;
using data::Style;
using data::TaskKind;

namespace {

// ---- random expression trees, valued by the tree itself (the reference) ----
struct Tree {
  bool valid = true;  // no division by zero, no inexact division, no overflow
  int64_t value = 0;
  std::string text;
  std::vector<int64_t> leaves;
};

Tree random_tree(Generator& rng, int depth) {
  Tree t;
  if (depth == 0 || rng.below(3) == 0) {
    t.value = (int64_t)rng.below(depth == 0 ? 20 : 200);
    t.text = std::to_string(t.value);
    t.leaves = {t.value};
    return t;
  }
  const Tree l = random_tree(rng, depth - 1), r = random_tree(rng, depth - 1);
  const char op = "+-*/"[rng.below(4)];
  t.valid = l.valid && r.valid;
  t.leaves = l.leaves;
  t.leaves.insert(t.leaves.end(), r.leaves.begin(), r.leaves.end());
  // Fully parenthesised, with random spaces: precedence is not under test here.
  const std::string space = rng.below(4) == 0 ? " " : "";
  t.text = "(" + l.text + space + op + space + r.text + ")";
  __int128 v = 0;
  switch (op) {
    case '+': v = (__int128)l.value + r.value; break;
    case '-': v = (__int128)l.value - r.value; break;
    case '*': v = (__int128)l.value * r.value; break;
    case '/':
      if (r.value == 0 || l.value % r.value != 0) t.valid = false;
      else v = l.value / r.value;
      break;
  }
  if (v > std::numeric_limits<int64_t>::max() || v < std::numeric_limits<int64_t>::min()) t.valid = false;
  t.value = (int64_t)v;
  return t;
}

Problem add_problem() {  // what is 347+29? (not canonical order, but a valid problem)
  Problem p;
  p.task = TaskKind::Add;
  p.text = "what is 347+29?";
  p.numbers = {347, 29};
  p.target = 376;
  p.answer = "376";
  return p;
}

Problem countdown_problem() {  // use 3 7 25 50 to make 104
  Problem p;
  p.task = TaskKind::Countdown;
  p.text = "use 3 7 25 50 to make 104";
  p.numbers = {3, 7, 25, 50};
  p.target = 104;
  p.answer = "(25-7)*3+50";
  return p;
}

std::string wrap(const std::string& think, const std::string& answer) {
  return "<think>" + think + "</think><answer>" + answer + "</answer><eos>";
}

}  // namespace

TEST_CASE("expression: precedence, parentheses, spaces, the numbers used") {
  struct Case {
    const char* text;
    int64_t value;
  };
  const Case cases[] = {{"1+2*3", 7},       {"(1+2)*3", 9},        {"20/4/5", 1},   {"20-4-5", 11},
                        {"2*3+4*5", 26},    {"(25-7)*3+50", 104},  {" 7 * ( 8 - 2 ) ", 42},
                        {"3-7+25", 21},     {"100/5*2", 40},       {"((((9))))", 9},
                        {"0", 0},           {"12-20", -8},         {"9223372036854775807", INT64_MAX}};
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const ExpressionValue e = evaluate_expression(c.text);
    REQUIRE(e.ok);
    CHECK(e.value == c.value);
  }
  CHECK(evaluate_expression("(25-7)*3+50").numbers == std::vector<int64_t>{25, 7, 3, 50});
}

TEST_CASE("expression: invalid input is an answer, not a crash") {
  struct Case {
    const char* text;
    const char* why;
  };
  const Case cases[] = {{"", "expected a number, found the end"},
                        {"7/0", "division by zero at position 1"},
                        {"7/(3-3)", "division by zero"},
                        {"7/2", "non-integer division 7/2"},
                        {"(1+2", "missing ')'"},
                        {"1+2)", "unexpected ')'"},
                        {"-3+5", "expected a number, found '-'"},
                        {"3+-5", "expected a number"},
                        {"07+1", "leading zero"},
                        {"2 3", "unexpected '3'"},
                        {"2x3", "unexpected 'x'"},
                        {"4^2", "unexpected '^'"},
                        {"99999999999999999999", "number too large"},
                        {"9223372036854775807+1", "overflow"},
                        {"0-9223372036854775807-1-1", "overflow"},
                        {"3037000500*3037000500", "overflow"},
                        {"(0-9223372036854775807-1)/(0-1)", "overflow"},
                        {"()", "expected a number, found ')'"}};
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const ExpressionValue e = evaluate_expression(c.text);
    CHECK(!e.ok);
    CHECK(e.error.find(c.why) != std::string::npos);
  }
  const std::string deep = std::string(kMaxExpressionDepth + 1, '(') + "1" + std::string(kMaxExpressionDepth + 1, ')');
  CHECK(evaluate_expression(deep).error.find("nested deeper") != std::string::npos);
  const std::string ok_deep = std::string(kMaxExpressionDepth, '(') + "1" + std::string(kMaxExpressionDepth, ')');
  CHECK(evaluate_expression(ok_deep).ok);
  const std::string very_deep(100000, '(');  // must not exhaust the stack
  CHECK(!evaluate_expression(very_deep).ok);
}

TEST_CASE("expression: agrees with the value of random expression trees") {
  Generator rng(99);
  int valid = 0;
  for (int i = 0; i < 20000; ++i) {
    const Tree t = random_tree(rng, 1 + (int)rng.below(5));
    CAPTURE(t.text);
    const ExpressionValue e = evaluate_expression(t.text);
    REQUIRE(e.ok == t.valid);
    if (!t.valid) continue;
    ++valid;
    CHECK(e.value == t.value);
    CHECK(e.numbers == t.leaves);
  }
  CHECK(valid > 5000);
}

TEST_CASE("parse: the answer block and the format") {
  ParsedCompletion p = parse_completion("<think>7+9=16</think><answer>16</answer><eos>");
  CHECK(p.well_formed);
  CHECK(p.has_answer);
  CHECK(p.answer == "16");
  CHECK(p.answer_blocks == 1);

  CHECK(parse_completion("<think></think><answer>16</answer>").well_formed);            // no <eos>: fine
  CHECK(parse_completion("<think>a</think>\n <answer> 16\n</answer>").well_formed);     // whitespace between
  CHECK(parse_completion("<think>a</think>\n <answer> 16\n</answer>").answer == "16");  // trimmed
  CHECK(!parse_completion("<think>a</think><answer>16</answer>\n").well_formed);        // text after
  CHECK(!parse_completion("<think>a</think><answer>16</answer><eos>x").well_formed);
  CHECK(!parse_completion("<think>a</think><answer>16</answer><eos><eos>").well_formed);
  CHECK(!parse_completion("x<think>a</think><answer>16</answer>").well_formed);  // text before
  CHECK(!parse_completion("<answer>16</answer>").well_formed);                    // no think
  CHECK(!parse_completion("<think>a<answer>16</answer>").well_formed);            // think never closed
  CHECK(!parse_completion("<think>a</think>b<answer>16</answer>").well_formed);   // text between
  CHECK(!parse_completion("<think>a</think><think>b</think><answer>16</answer>").well_formed);
  CHECK(!parse_completion("<think>a</think><answer>16").well_formed);  // truncated
  CHECK(!parse_completion("<think>a</think><answer>16").has_answer);
  CHECK(!parse_completion("<think>a</think><answer> </answer>").well_formed);  // blank answer
  CHECK(!parse_completion("").well_formed);

  const ParsedCompletion two = parse_completion("<think></think><answer>1</answer><answer>2</answer>");
  CHECK(two.answer_blocks == 2);
  CHECK(!two.has_answer);
  CHECK(!two.well_formed);
  CHECK(!parse_completion("<think></think><answer>1<answer>2</answer>").has_answer);  // nested opening

  CHECK(is_plain_integer("0"));
  CHECK(is_plain_integer("10063"));
  CHECK(is_plain_integer(std::string(500, '9')));
  CHECK(!is_plain_integer(""));
  CHECK(!is_plain_integer("010"));
  CHECK(!is_plain_integer("-5"));
  CHECK(!is_plain_integer("+5"));
  CHECK(!is_plain_integer("5.0"));
  CHECK(!is_plain_integer("1 0"));
}

TEST_CASE("reward: accuracy and format on a worked example") {
  const Problem add = add_problem();
  Reward r = score(add, wrap("7+9=16 carry 1\n4+2+1=7\n3=3\nso 376", "376"));
  CHECK(r.accuracy == 1.0f);
  CHECK(r.format == doctest::Approx(0.1f));
  CHECK(r.total == doctest::Approx(1.1f));
  r = score(add, wrap("", "375"));
  CHECK(r.accuracy == 0.0f);
  CHECK(r.format == doctest::Approx(0.1f));
  CHECK(r.total == doctest::Approx(0.1f));

  SUBCASE("the format bonus is a setting") {
    RewardConfig config;
    config.format_bonus = 0.5f;
    CHECK(score(add, wrap("", "376"), config).total == doctest::Approx(1.5f));
    config.format_bonus = 0.0f;
    CHECK(score(add, wrap("", "376"), config).total == doctest::Approx(1.0f));
  }
  SUBCASE("the think block is never read") {
    const std::string nonsense = "2+2=5\nwait 9*9=17 not 80\ncheck nothing agrees";
    CHECK(score(add, wrap(nonsense, "376")).total == doctest::Approx(1.1f));
    CHECK(score(add, wrap(nonsense, "377")).total == doctest::Approx(0.1f));
    const std::string long_think(200, '7');
    CHECK(score(add, wrap(long_think, "376")).total == score(add, wrap("", "376")).total);
  }
}

TEST_CASE("reward: reward-hacking attempts score nothing") {
  const Problem add = add_problem();
  const Problem cd = countdown_problem();
  auto accuracy = [](const Problem& p, const std::string& completion) { return score(p, completion).accuracy; };

  // An expression where a plain integer is asked.
  CHECK(accuracy(add, wrap("", "347+29")) == 0.0f);
  CHECK(accuracy(add, wrap("", "(376)")) == 0.0f);
  CHECK(accuracy(add, wrap("", "+376")) == 0.0f);
  CHECK(accuracy(add, wrap("", "0376")) == 0.0f);
  CHECK(accuracy(add, wrap("", "376.0")) == 0.0f);
  CHECK(accuracy(add, wrap("", "376 or 377")) == 0.0f);
  // Countdown: numbers not given, a number used twice, the target itself.
  CHECK(accuracy(cd, wrap("", "(25-7)*3+50")) == 1.0f);
  CHECK(accuracy(cd, wrap("", "50+25*3-7-3*7+7")) == 0.0f);  // 3 and 7 used twice
  CHECK(accuracy(cd, wrap("", "100+4")) == 0.0f);            // numbers not given
  CHECK(accuracy(cd, wrap("", "104")) == 0.0f);              // the target, not given
  CHECK(accuracy(cd, wrap("", "50*2+3+1")) == 0.0f);
  CHECK(accuracy(cd, wrap("", "(25-7)*3+50=104")) == 0.0f);  // not an expression
  CHECK(accuracy(cd, wrap("", "50+50+3+1")) == 0.0f);
  // Division by zero and inexact division are wrong, not a crash.
  CHECK(accuracy(cd, wrap("", "50/(7-7)")) == 0.0f);
  CHECK(accuracy(cd, wrap("", "(50+3)/7*25-7")) == 0.0f);
  // Several answer blocks: a hedge is not an answer.
  CHECK(accuracy(add, "<think></think><answer>375</answer><answer>376</answer><eos>") == 0.0f);
  CHECK(accuracy(add, "<think></think><answer>376</answer><answer>376</answer><eos>") == 0.0f);
  // Text after the answer costs the format bonus and gains nothing.
  const Reward after = score(add, "<think></think><answer>375</answer> 376<eos>");
  CHECK(after.accuracy == 0.0f);
  CHECK(after.format == 0.0f);
  CHECK(score(add, "<think></think><answer>376</answer>\nso 376").total == 1.0f);
  // A huge number, an empty answer, no answer at all.
  CHECK(accuracy(add, wrap("", std::string(10000, '9'))) == 0.0f);
  CHECK(accuracy(cd, wrap("", std::string(10000, '9'))) == 0.0f);
  CHECK(score(add, wrap("", "")).total == 0.0f);
  CHECK(score(add, "<think>376</think>").total == 0.0f);
  CHECK(score(add, "376").total == 0.0f);
  // The answer hidden in the think block does not count.
  CHECK(score(add, "<think><answer>376</answer></think><answer>1</answer>").accuracy == 0.0f);
}

TEST_CASE("reward: 10,000 problems per task score 1 when right and 0 when wrong") {
  for (int t = 0; t < data::kNumTasks; ++t) {
    Generator rng(500 + t);
    for (int i = 0; i < 10000; ++i) {
      const Problem p = data::make_problem((TaskKind)t, 1 + i % 5, rng);
      CAPTURE(p.text);
      const Style style = (Style)(i % data::kNumStyles);
      // A countdown search may give up (and answer its closest line): the
      // generator's expression is the right answer there.
      const std::string written = p.task == TaskKind::Countdown
                                      ? data::completion_text({"", p.answer})
                                      : data::write_solution(p, style, rng);
      const Reward right = score(p, written);
      REQUIRE(right.accuracy == 1.0f);
      REQUIRE(right.format == doctest::Approx(0.1f));
      const Reward noise = score(p, data::write_wrong_solution(p, rng));
      REQUIRE(noise.accuracy == 0.0f);
      REQUIRE(noise.format == doctest::Approx(0.1f));
      // One digit off, or off by one: wrong.
      const int64_t off = i % 2 ? data::near_miss(p.target, rng) : p.target + 1;
      if (p.task == TaskKind::Countdown)
        CHECK(!answer_is_correct(p, p.answer + "+1"));
      else
        CHECK(!answer_is_correct(p, std::to_string(off)));
      CHECK(answer_is_correct(p, p.answer));
    }
  }
}

TEST_CASE("reward: countdown accepts any valid expression, not only the generator's") {
  const Problem cd = countdown_problem();
  CHECK(answer_is_correct(cd, "50+25+7*3+3+5") == false);  // 5 not given
  CHECK(answer_is_correct(cd, "(25-7)*3+50"));
  CHECK(answer_is_correct(cd, "50+3*(25-7)"));
  CHECK(answer_is_correct(cd, "3*(25-7)+50"));
  CHECK(answer_is_correct(cd, " ( 25 - 7 ) * 3 + 50 "));
  Problem repeated = cd;  // a number given twice may be used twice
  repeated.numbers = {7, 7, 50, 3};
  repeated.target = 64;
  CHECK(answer_is_correct(repeated, "50+7+7"));
  CHECK(!answer_is_correct(repeated, "50+7+7+7-7"));
}
