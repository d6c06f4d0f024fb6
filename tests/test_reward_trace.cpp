// reward/trace.h: the trace checker. Hand-written traces cover every kind of
// claim both ways (true and false) and every kind of correction; then the
// corpus itself: no worked document claims a false thing except its planted
// slip, and every slip a document corrects is scored effective.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/task.h"
#include "reward/trace.h"

using namespace aha;
using namespace aha::reward;
using data::Problem;
using data::Style;
using data::TaskKind;

namespace {

std::string completion(const std::string& think, const std::string& answer) {
  return "<think>" + think + "</think><answer>" + answer + "</answer><eos>";
}

// The claims of one line, as "ok text" / "FALSE text", in order.
std::vector<std::string> marks(const TraceReport& r, int line) {
  std::vector<std::string> out;
  for (const Claim& c : r.claims)
    if (c.line == line) out.push_back((c.holds ? "ok " : "FALSE ") + c.text);
  return out;
}

const Claim& claim(const TraceReport& r, int line, const std::string& text) {
  for (const Claim& c : r.claims)
    if (c.line == line && c.text == text) return c;
  FAIL("no claim '" << text << "' on line " << line);
  return r.claims.front();
}

using Marks = std::vector<std::string>;

std::map<std::string, std::optional<double>> metric_map(const TraceTotals& t) {
  std::map<std::string, std::optional<double>> m;
  for (const auto& [key, value] : t.metrics()) m[key] = value;
  return m;
}

}  // namespace

TEST_CASE("trace: countdown search lines, every verdict both ways") {
  const Problem p = data::parse_problem("use 3 7 25 50 to make 104");
  REQUIRE(p.task == TaskKind::Countdown);
  // 1: a true miss. 2: a true hit. 3: a hit that is not one (a slip in the
  // last step; a verdict is about what the line's chain truly makes). 4: a "no" on a line that does reach the target (a slip hid
  // it). 5: a broken chain (the step does not start from the value before it).
  // 6: a number not given. 7: a verdict on a line whose steps are right but whose
  // "yes" is simply false.
  const std::string think =
      "50+25=75 75-7=68 no\n"
      "25-7=18 18*3=54 54+50=104 yes\n"
      "50+25=75 75+7=82 82+3=104 yes\n"
      "25-7=18 18*3=56 56+50=106 no\n"
      "25-7=18 19*3=57 no\n"
      "52*2=104 yes\n"
      "50+25=75 75+7=82 yes";
  const TraceReport r = check_trace(p, completion(think, "(25-7)*3+50"));
  REQUIRE(r.lines.size() == 7);
  CHECK(marks(r, 0) == Marks{"ok 50+25=75", "ok 75-7=68", "ok no"});
  CHECK(marks(r, 1) == Marks{"ok 25-7=18", "ok 18*3=54", "ok 54+50=104", "ok yes"});
  CHECK(marks(r, 2) == Marks{"ok 50+25=75", "ok 75+7=82", "FALSE 82+3=104", "FALSE yes"});
  CHECK(claim(r, 2, "82+3=104").truth == "82+3=85");
  CHECK(claim(r, 2, "yes").truth == "the line makes 85");
  // (25-7)*3+50 = 104 truly, whatever was written: the "no" is false.
  CHECK(marks(r, 3) == Marks{"ok 25-7=18", "FALSE 18*3=56", "ok 56+50=106", "FALSE no"});
  CHECK(marks(r, 4) == Marks{"ok 25-7=18", "ok 19*3=57", "ok no"});
  CHECK(marks(r, 5) == Marks{"ok 52*2=104", "FALSE yes"});
  CHECK(claim(r, 5, "yes").truth == "the line uses a number not given, or one twice");
  CHECK(marks(r, 6) == Marks{"ok 50+25=75", "ok 75+7=82", "FALSE yes"});
  CHECK(r.false_yes);
  CHECK(r.false_claims == 6);
  CHECK(r.corrected_claims == 0);
  CHECK(r.corrections.empty());
  CHECK(!r.conclusion);  // no "so" line
  CHECK(!r.faithful);
  CHECK(r.correct);
}

TEST_CASE("trace: check verdicts both ways, on countdown and on mul and add") {
  SUBCASE("countdown: agrees / disagrees about the expression checked") {
    const Problem p = data::parse_problem("use 17 18 23 to make 12");
    const TraceReport r = check_trace(p, completion("check 18+17-23=35-23=12 agrees\n"
                                                    "check 23-18+17=5+17=22 disagrees\n"
                                                    "check 23-18+17=5+17=22 agrees\n"
                                                    "check 18+17-23=35-23=12 disagrees\n"
                                                    "check 18*18-23=324-23=301 disagrees",
                                                    "18+17-23"));
    CHECK(marks(r, 0) == Marks{"ok 18+17-23=35-23", "ok 35-23=12", "ok agrees"});
    CHECK(marks(r, 1) == Marks{"ok 23-18+17=5+17", "ok 5+17=22", "ok disagrees"});
    CHECK(marks(r, 2) == Marks{"ok 23-18+17=5+17", "ok 5+17=22", "FALSE agrees"});
    CHECK(marks(r, 3) == Marks{"ok 18+17-23=35-23", "ok 35-23=12", "FALSE disagrees"});
    // 18 used twice, and 301 anyway: "disagrees" holds.
    CHECK(marks(r, 4).back() == "ok disagrees");
  }
  SUBCASE("mul: the verdict is about the last conclusion") {
    const Problem p = data::parse_problem("what is 347*29?");
    REQUIRE(p.target == 10063);
    const TraceReport r = check_trace(p, completion("347*9=3113\n347*20=6940\n3113+6940=10053\nso 10053\n"
                                                    "check 29*347=29*300+29*40+29*7=8700+1160+203=10063 disagrees\n"
                                                    "so 10053\ncheck 29*347=10063 agrees",
                                                    "10053"));
    CHECK(marks(r, 0) == Marks{"FALSE 347*9=3113"});
    CHECK(claim(r, 0, "347*9=3113").truth == "347*9=3123");
    CHECK(marks(r, 2) == Marks{"ok 3113+6940=10053"});
    CHECK(marks(r, 4).back() == "ok disagrees");
    CHECK(marks(r, 6) == Marks{"ok 29*347=10063", "FALSE agrees"});
    CHECK(r.conclusion == std::optional<std::string>("10053"));
    CHECK(r.faithful);
    CHECK(!r.correct);
    CHECK(!r.false_yes);  // yes/no verdicts belong to countdown
  }
  SUBCASE("add: carries, a check before any conclusion is no claim") {
    const Problem p = data::parse_problem("<bos>what is 847+376?\n");
    REQUIRE(p.target == 1223);
    const TraceReport r =
        check_trace(p, completion("check 1223-376=847 agrees\n7+6=13 carry 1\n4+7+1=12 carry 2\n"
                                  "8+3+1=12 carry 1\nso 1223\ncheck 1223-376=847 agrees",
                                  "1223"));
    CHECK(marks(r, 0) == Marks{"ok 1223-376=847"});  // no conclusion yet: the verdict is not judged
    CHECK(marks(r, 1) == Marks{"ok 7+6=13", "ok carry 1"});
    CHECK(marks(r, 2) == Marks{"ok 4+7+1=12", "FALSE carry 2"});
    CHECK(marks(r, 5) == Marks{"ok 1223-376=847", "ok agrees"});
    CHECK(r.correct);
    CHECK(r.faithful);
  }
}

TEST_CASE("trace: an effective correction fixes a value really written, and the slip it caused") {
  const Problem p = data::parse_problem("use 17 18 23 to make 12");
  const std::string think =
      "23-17=6 6+18=24 no\n"
      "23-18=5 5+17=12 yes\n"
      "check 23-18+17=5+17=22 disagrees\n"
      "wait 5+17=22 not 12\n"
      "18+17=35 35-23=12 yes\n"
      "check 18+17-23=35-23=12 agrees\n"
      "so 18+17-23";
  const TraceReport r = check_trace(p, completion(think, "18+17-23"));
  REQUIRE(r.corrections.size() == 1);
  CHECK(r.corrections[0].effective);
  CHECK(r.corrections[0].why == "fixes 12, written for 5+17 on line 2");
  CHECK(r.effective_correction);
  CHECK(!r.superficial_correction);
  CHECK(claim(r, 1, "5+17=12").corrected);
  CHECK(claim(r, 1, "yes").corrected);  // the false hit that slip made
  CHECK(claim(r, 3, "5+17=22").holds);  // the correction's own equation
  CHECK(r.false_claims == 2);
  CHECK(r.corrected_claims == 2);
  CHECK(r.false_yes);  // it did declare a false hit, before catching it
  CHECK(r.conclusion == std::optional<std::string>("18+17-23"));
  CHECK(r.faithful);
  CHECK(r.correct);
}

TEST_CASE("trace: superficial corrections, each reason") {
  const Problem p = data::parse_problem("use 17 18 23 to make 12");
  const std::string think =
      "23-17=6 6+18=24 yes\n"      // 0: a false hit
      "wait 6+18=24 not 12\n"      // correction 0: 12 was never written for 6+18
      "wait 6+18=25 not 24\n"      // 1: 24 is the true value
      "wait 22+50=72 not 111\n"    // 2: an expression never written at all
      "23-18=5 5+17=21 no\n"       // (a false equation)
      "wait 5+17=23 not 21\n"      // 3: replaces a false value by another false one
      "wait 5+17 is 22\n"          // 4: not of the form
      "wait 18/0=1 not 2\n"        // 5: no exact value
      "so 23-17+18";
  const TraceReport r = check_trace(p, completion(think, "23-17+18"));
  REQUIRE(r.corrections.size() == 6);
  for (const Correction& fix : r.corrections) CHECK(!fix.effective);
  CHECK(r.corrections[0].why == "12 was never written for 6+18");
  CHECK(r.corrections[1].why == "24 is already the value of 6+18");
  CHECK(r.corrections[2].why == "111 was never written for 22+50");
  CHECK(r.corrections[3].why == "23 is not the value of 5+17 either (22)");
  CHECK(r.corrections[4].why == "not of the form 'wait X=Y not Z'");
  CHECK(r.corrections[5].why == "18/0 has no exact value");
  CHECK(r.superficial_correction);
  CHECK(!r.effective_correction);
  CHECK(r.corrected_claims == 0);
  CHECK(!claim(r, 4, "5+17=21").corrected);
  CHECK(r.faithful);
  CHECK(!r.correct);
}

TEST_CASE("trace: faithfulness, equations without an exact value, unreadable text") {
  const Problem p = data::parse_problem("use 3 7 25 50 to make 104");
  SUBCASE("an answer that is not the conclusion") {
    const TraceReport r = check_trace(p, completion("25-7=18 18*3=54 54+50=104 yes\nso (25-7)*3+50", "50+54"));
    CHECK(r.conclusion == std::optional<std::string>("(25-7)*3+50"));
    CHECK(!r.faithful);
  }
  SUBCASE("spaces do not matter; the last conclusion counts") {
    const TraceReport r =
        check_trace(p, completion("closest 50+25\nso ( 25-7 )*3+50", "(25-7) * 3+50"));
    CHECK(r.faithful);
  }
  SUBCASE("7/2, 5/0, and numbers too large are false claims; garbage is no claim") {
    const TraceReport r = check_trace(p, completion("7/2=3 5/0=1 99999999999999999999=1\nzz=3 =4 3= 1+=2 ++ yes",
                                                    "1"));
    CHECK(marks(r, 0) == Marks{"FALSE 7/2=3", "FALSE 5/0=1", "FALSE 99999999999999999999=1"});
    CHECK(marks(r, 1).empty());  // nothing readable, so no verdict either
  }
  SUBCASE("no think block, an unclosed one, newlines and spaces around lines") {
    CHECK(check_trace(p, "<answer>1</answer>").claims.empty());
    const TraceReport r = check_trace(p, "<think>  25-7=18 no  \n\n\n 3+4=8");
    CHECK(r.lines == std::vector<std::string>{"25-7=18 no", "3+4=8"});
    CHECK(marks(r, 1) == Marks{"FALSE 3+4=8"});
    CHECK(!r.correct);
  }
}

TEST_CASE("trace: the metrics, counted by hand over three completions") {
  const Problem p = data::parse_problem("use 17 18 23 to make 12");
  TraceTotals totals;
  // A: catches its slip and answers right: 19 claims, 2 false, 2 corrected.
  totals.add(check_trace(p, completion("23-17=6 6+18=24 no\n23-18=5 5+17=12 yes\ncheck 23-18+17=5+17=22 disagrees\n"
                                       "wait 5+17=22 not 12\n18-17=1 1*23=23 no\n18+17=35 35-23=12 yes\n"
                                       "check 18+17-23=35-23=12 agrees\nso 18+17-23",
                                       "18+17-23")));
  // B: a false hit, answered: 3 claims, 2 false (6+18=12, yes); faithful, wrong.
  totals.add(check_trace(p, completion("23-17=6 6+18=12 yes\nso 23-17+18", "23-17+18")));
  // C: a superficial wait, then a direct right answer with no conclusion: 2 claims, 1 false.
  totals.add(check_trace(p, completion("wait 6+18=25 not 24", "18+17-23")));
  const auto m = metric_map(totals);
  REQUIRE(m.size() == 9);
  CHECK(*m.at("claims_per_completion") == doctest::Approx((19.0 + 3 + 1) / 3));
  CHECK(*m.at("false_claim_rate") == doctest::Approx(5.0 / 23));
  CHECK(*m.at("false_yes_share") == doctest::Approx(2.0 / 3));
  CHECK(*m.at("effective_correction_share") == doctest::Approx(1.0 / 3));
  CHECK(*m.at("superficial_correction_share") == doctest::Approx(1.0 / 3));
  CHECK(*m.at("caught_rate") == doctest::Approx(2.0 / 5));
  CHECK(*m.at("faithful_share") == doctest::Approx(1.0));  // A and B conclude, both faithfully
  CHECK(*m.at("accuracy_with_correction") == doctest::Approx(1.0));  // A and C: both right
  CHECK(*m.at("accuracy_without_correction") == doctest::Approx(0.0));  // B
  CHECK(totals.completions == 3);
  TraceTotals empty;
  for (const auto& [key, value] : empty.metrics()) CHECK_MESSAGE(!value, key);
}

TEST_CASE("trace: annotate marks every claim and the verdict of the whole") {
  const Problem p = data::parse_problem("use 17 18 23 to make 12");
  const std::string text = annotate_trace(
      check_trace(p, completion("23-18=5 5+17=12 yes\ncheck 23-18+17=5+17=22 disagrees\nwait 5+17=22 not 12\n"
                                "so 23-18+17",
                                "23-18+17")));
  CHECK(text.find("FALSE 5+17=12 (5+17=22), corrected") != std::string::npos);
  CHECK(text.find("FALSE yes (the line makes 22), corrected") != std::string::npos);
  CHECK(text.find("EFFECTIVE correction: fixes 12, written for 5+17 on line 1") != std::string::npos);
  CHECK(text.find("faithful to '23-18+17'; answer wrong") != std::string::npos);
}

// The corpus's claims: a worked document claims nothing false but its planted
// slip; a `correct` document catches that slip with an effective correction;
// an uncaught slip stays uncaught; a wrong (noise) document is wrong.
TEST_CASE("trace: every corpus document is true except its planted slips, and caught slips are effective") {
  for (int t = 0; t < data::kNumTasks; ++t) {
    data::CorpusConfig config;
    config.task_shares = {0, 0, 0};
    config.task_shares[t] = 1;
    config.style_shares = {1, 1, 1, 1};
    config.slip_share = 0.3;
    data::Corpus corpus(config, 7);
    int seen[data::kNumStyles] = {}, slipped = 0, noise = 0;
    for (int i = 0; i < 3000; ++i) {
      const data::Document doc = corpus.next();
      const TraceReport r = check_trace(doc.problem, doc.completion);
      INFO(doc.text());
      CHECK(r.faithful == (doc.style != Style::Direct));  // every worked document concludes what it answers
      if (doc.noise) {
        ++noise;
        CHECK(!r.correct);
        continue;
      }
      ++seen[(int)doc.style];
      if (doc.slipped) {  // steps with an uncaught slip
        ++slipped;
        CHECK(r.false_claims > 0);
        CHECK(r.corrected_claims == 0);
        CHECK(r.corrections.empty());
        CHECK(!r.correct);
        if (doc.problem.task == TaskKind::Countdown) CHECK(r.false_yes);
        continue;
      }
      if (doc.style == Style::Correct) {
        REQUIRE(r.corrections.size() == 1);
        CHECK(r.corrections[0].effective);
        CHECK(r.false_claims > 0);
        CHECK(r.corrected_claims == r.false_claims);  // the slip and what it caused, all caught
        continue;
      }
      CHECK(r.false_claims == 0);
      CHECK(r.corrections.empty());
      CHECK(!r.false_yes);
      if (doc.problem.task != TaskKind::Countdown) CHECK(r.correct);  // a countdown search may give up
    }
    for (int s = 0; s < data::kNumStyles; ++s) CHECK(seen[s] > 500);
    CHECK(slipped > 100);
    CHECK(noise > 50);
  }
}
