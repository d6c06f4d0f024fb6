// data/: the tokenizer, the tasks' problems, the splits, the corpus and the
// style classifier. The worked solutions are checked line by line in
// tests/test_data_solutions.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/classify.h"
#include "data/corpus.h"
#include "data/split.h"
#include "data/task.h"
#include "data/template.h"
#include "data/tokenizer.h"

using namespace aha;
using namespace aha::data;

namespace {

// The vocabulary aha-char-v1 written out independently of tokenizer.cpp: if
// an id changes, this test fails and the version must be bumped.
std::vector<std::string> expected_vocabulary() {
  std::vector<std::string> pieces = {"<pad>", "<bos>", "<eos>", "<think>", "</think>", "<answer>", "</answer>",
                                     "\n", " "};
  for (char c = '0'; c <= '9'; ++c) pieces.push_back(std::string(1, c));
  for (char c = 'a'; c <= 'z'; ++c) pieces.push_back(std::string(1, c));
  for (char c : std::string("+-*/=(),.:?")) pieces.push_back(std::string(1, c));
  return pieces;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

int digits_of(int64_t v) { return (int)std::to_string(v).size(); }

}  // namespace

TEST_CASE("tokenizer: the vocabulary is aha-char-v1") {
  Tokenizer tok;
  const std::vector<std::string> expected = expected_vocabulary();
  CHECK(std::string(Tokenizer::kVersion) == "aha-char-v1");
  REQUIRE(tok.vocab_size() == (int)expected.size());
  CHECK(tok.vocab_size() == 56);
  for (int id = 0; id < tok.vocab_size(); ++id) CHECK(tok.piece(id) == expected[id]);
  CHECK(tok.piece(Tokenizer::kPad) == "<pad>");
  CHECK(tok.piece(Tokenizer::kBos) == "<bos>");
  CHECK(tok.piece(Tokenizer::kEos) == "<eos>");
  CHECK(tok.piece(Tokenizer::kThink) == "<think>");
  CHECK(tok.piece(Tokenizer::kThinkEnd) == "</think>");
  CHECK(tok.piece(Tokenizer::kAnswer) == "<answer>");
  CHECK(tok.piece(Tokenizer::kAnswerEnd) == "</answer>");
}

TEST_CASE("tokenizer: encode maps special tokens to one id and round-trips") {
  Tokenizer tok;
  const std::vector<std::string> vocab = expected_vocabulary();
  auto id = [&](const std::string& piece) {
    return (int)(std::find(vocab.begin(), vocab.end(), piece) - vocab.begin());
  };
  const std::string text = "<bos>what is 12+3?\n<think>2+3=5</think><answer>15</answer><eos>";
  std::vector<int> expected = {1};
  for (char c : std::string("what is 12+3?\n")) expected.push_back(id(std::string(1, c)));
  expected.push_back(3);
  for (char c : std::string("2+3=5")) expected.push_back(id(std::string(1, c)));
  expected.insert(expected.end(), {4, 5});
  for (char c : std::string("15")) expected.push_back(id(std::string(1, c)));
  expected.insert(expected.end(), {6, 2});
  CHECK(tok.encode(text) == expected);
  CHECK(tok.decode(expected) == text);
  CHECK(tok.count(text) == (int)expected.size());
  CHECK(tok.encode("").empty());

  SUBCASE("random id sequences survive decode then encode") {
    Generator rng(5);
    for (int trial = 0; trial < 500; ++trial) {
      std::vector<int> ids(rng.below(40));
      for (int& i : ids) i = (int)rng.below((uint64_t)tok.vocab_size());
      CHECK(tok.encode(tok.decode(ids)) == ids);
    }
  }
}

TEST_CASE("tokenizer: an unknown character is an error naming it and its position") {
  Tokenizer tok;
  const std::string upper = error_of([&] { tok.encode("what is 3%4?"); });
  CHECK(upper.find("'%'") != std::string::npos);
  CHECK(upper.find("position 9") != std::string::npos);
  CHECK(error_of([&] { tok.encode("Abc"); }).find("'A'") != std::string::npos);
  CHECK(error_of([&] { tok.encode("ab\tc"); }).find("byte 0x09 at position 2") != std::string::npos);
  CHECK(error_of([&] { tok.encode("x<thinks>"); }).find("position 1") != std::string::npos);
  CHECK(error_of([&] { tok.encode("1 < 2"); }).find("special token") != std::string::npos);
  CHECK(error_of([&] { tok.decode({3, 56}); }).find("token id 56") != std::string::npos);
  CHECK(error_of([&] { tok.decode({-1}); }).find("token id -1") != std::string::npos);
}

TEST_CASE("tasks: names parse, bad names and difficulties are clear errors") {
  CHECK(parse_task("add") == TaskKind::Add);
  CHECK(parse_task("mul") == TaskKind::Mul);
  CHECK(parse_task("countdown") == TaskKind::Countdown);
  CHECK(parse_style("direct") == Style::Direct);
  CHECK(parse_style("correct") == Style::Correct);
  CHECK(error_of([] { parse_task("div"); }).find("'div'") != std::string::npos);
  CHECK(error_of([] { parse_style("fast"); }).find("choices: direct, steps, verify, correct") !=
        std::string::npos);
  Generator rng(1);
  CHECK(error_of([&] { make_problem(TaskKind::Mul, 6, rng); }).find("mul: difficulty 6 out of range 1..5") !=
        std::string::npos);
  CHECK(!error_of([&] { make_problem(TaskKind::Add, 0, rng); }).empty());
  for (int t = 0; t < kNumTasks; ++t) {
    const TaskSpec& spec = task_spec((TaskKind)t);
    CHECK(spec.ood_difficulty == spec.train_difficulties.back() + 1);
  }
}

TEST_CASE("tasks: problems are deterministic given the seed") {
  for (int t = 0; t < kNumTasks; ++t) {
    for (int d = 1; d <= 5; ++d) {
      Generator a(42), b(42), c(43);
      const Problem pa = make_problem((TaskKind)t, d, a), pb = make_problem((TaskKind)t, d, b);
      CHECK(pa.text == pb.text);
      const Style style = can_slip(pa) ? Style::Correct : Style::Verify;  // a slip needs a place
      CHECK(write_solution(pa, style, a) == write_solution(pb, style, b));
      // A different seed gives a different problem (nearly always: check a few).
      int same = 0;
      for (int i = 0; i < 5; ++i) same += make_problem((TaskKind)t, d, c).text == pa.text;
      CHECK(same < 5);
    }
  }
}

TEST_CASE("tasks: problems follow the difficulty table and know their answer") {
  const int add_count[] = {2, 2, 2, 3, 3}, add_digits[] = {2, 3, 4, 4, 5};
  const int mul_a[] = {2, 2, 3, 3, 4}, mul_b[] = {1, 2, 2, 3, 3};
  const int cd_count[] = {3, 3, 4, 4, 5}, cd_max[] = {9, 25, 25, 50, 50}, cd_target[] = {50, 100, 100, 200, 200};
  Generator rng(7);
  for (int d = 1; d <= 5; ++d) {
    for (int i = 0; i < 300; ++i) {
      const Problem add = make_problem(TaskKind::Add, d, rng);
      REQUIRE(add.numbers.size() == (size_t)add_count[d - 1]);
      int64_t sum = 0;
      std::string expr;
      for (size_t k = 0; k < add.numbers.size(); ++k) {
        CHECK(digits_of(add.numbers[k]) == add_digits[d - 1]);
        if (k) CHECK(add.numbers[k - 1] >= add.numbers[k]);  // canonical: descending
        sum += add.numbers[k];
        expr += (k ? "+" : "") + std::to_string(add.numbers[k]);
      }
      CHECK(add.target == sum);
      CHECK(add.answer == std::to_string(sum));
      CHECK(add.text == "what is " + expr + "?");

      const Problem mul = make_problem(TaskKind::Mul, d, rng);
      REQUIRE(mul.numbers.size() == 2);
      CHECK(digits_of(mul.numbers[0]) == mul_a[d - 1]);
      CHECK(digits_of(mul.numbers[1]) == mul_b[d - 1]);
      CHECK(mul.numbers[0] >= mul.numbers[1]);
      CHECK(mul.answer == std::to_string(mul.numbers[0] * mul.numbers[1]));
      CHECK(mul.text == "what is " + std::to_string(mul.numbers[0]) + "*" + std::to_string(mul.numbers[1]) + "?");

      const Problem cd = make_problem(TaskKind::Countdown, d, rng);
      REQUIRE(cd.numbers.size() == (size_t)cd_count[d - 1]);
      std::string given;
      for (size_t k = 0; k < cd.numbers.size(); ++k) {
        CHECK(cd.numbers[k] >= 1);
        CHECK(cd.numbers[k] <= cd_max[d - 1]);
        if (k) CHECK(cd.numbers[k - 1] <= cd.numbers[k]);  // canonical: ascending
        given += std::to_string(cd.numbers[k]) + " ";
      }
      CHECK(cd.target >= 1);
      CHECK(cd.target <= cd_target[d - 1]);
      CHECK(std::count(cd.numbers.begin(), cd.numbers.end(), cd.target) == 0);
      CHECK(cd.text == "use " + given + "to make " + std::to_string(cd.target));
      // (the answer expression is evaluated in test_data_solutions.cpp)
    }
  }
}

TEST_CASE("template: prompt and completion") {
  Problem p;
  p.text = "what is 2+3?";
  p.answer = "5";
  CHECK(prompt_text(p) == "<bos>what is 2+3?\n");
  CHECK(completion_text(Solution{"2+3=5", "5"}) == "<think>2+3=5</think><answer>5</answer><eos>");
  CHECK(document_text(p, "X") == "<bos>what is 2+3?\nX");
}

TEST_CASE("split: 100,000 training problems, none in the test split") {
  // The split rule written out again, independently of split.cpp: FNV-1a 64,
  // SplitMix64 finaliser, one bucket in ten is test.
  auto reference_is_test = [](const std::string& text) {
    uint64_t h = 14695981039346656037ULL;
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
    return rng::mix64(h) % 10 == 0;
  };
  Generator rng(2024);
  std::set<std::string> train_texts;
  int drawn = 0;
  for (int t = 0; t < kNumTasks; ++t)
    for (int d : task_spec((TaskKind)t).train_difficulties)
      for (int i = 0; i < 8400; ++i, ++drawn) {
        const Problem p = sample_problem((TaskKind)t, d, Split::Train, rng);
        REQUIRE(!reference_is_test(p.text));
        REQUIRE(split_of(p) == Split::Train);
        train_texts.insert(p.text);
      }
  CHECK(drawn >= 100000);
  // Draw test problems at the same difficulties: none was ever drawn for training.
  int test_drawn = 0;
  for (int t = 0; t < kNumTasks; ++t)
    for (int d : task_spec((TaskKind)t).train_difficulties)
      for (int i = 0; i < 500; ++i, ++test_drawn) {
        const Problem p = sample_problem((TaskKind)t, d, Split::Test, rng);
        REQUIRE(reference_is_test(p.text));
        REQUIRE(train_texts.count(p.text) == 0);
      }
  CHECK(test_drawn == 6000);
}

TEST_CASE("split: about one problem in ten is test") {
  Generator rng(3);
  int test = 0;
  const int n = 30000;
  for (int i = 0; i < n; ++i) test += split_of(make_problem((TaskKind)(i % 3), 4, rng)) == Split::Test;
  CHECK(test > n * 0.09);
  CHECK(test < n * 0.11);
}

TEST_CASE("lengths: every document fits the context at the training difficulties") {
  Tokenizer tok;
  Generator rng(11);
  // The longest problems: add and mul with every digit 9 (longest sums and
  // carries), plus random draws for countdown and for all.
  auto nines = [](int digits) { return pow10(digits) - 1; };
  std::vector<Problem> worst;
  const int add_count[] = {2, 2, 2, 3}, add_digits[] = {2, 3, 4, 4};
  const int mul_a[] = {2, 2, 3, 3}, mul_b[] = {1, 2, 2, 3};
  for (int d = 1; d <= 4; ++d) {
    Problem add;
    add.task = TaskKind::Add;
    add.difficulty = d;
    add.numbers.assign(add_count[d - 1], nines(add_digits[d - 1]));
    add.target = add_count[d - 1] * nines(add_digits[d - 1]);
    add.answer = std::to_string(add.target);
    add.text = "what is ";
    for (int k = 0; k < add_count[d - 1]; ++k) add.text += (k ? "+" : "") + std::to_string(add.numbers[k]);
    add.text += "?";
    worst.push_back(add);
    Problem mul;
    mul.task = TaskKind::Mul;
    mul.difficulty = d;
    mul.numbers = {nines(mul_a[d - 1]), nines(mul_b[d - 1])};
    mul.target = mul.numbers[0] * mul.numbers[1];
    mul.answer = std::to_string(mul.target);
    mul.text = "what is " + std::to_string(mul.numbers[0]) + "*" + std::to_string(mul.numbers[1]) + "?";
    worst.push_back(mul);
  }
  for (int t = 0; t < kNumTasks; ++t)
    for (int d : task_spec((TaskKind)t).train_difficulties)
      for (int i = 0; i < 300; ++i) worst.push_back(make_problem((TaskKind)t, d, rng));
  int longest = 0;
  for (const Problem& p : worst)
    for (int s = 0; s < kNumStyles + 1; ++s)  // the four styles, then steps with an uncaught slip
      for (int trial = 0; trial < 8; ++trial) {  // slips vary
        const bool slip = s == kNumStyles;
        const Style style = slip ? Style::Steps : (Style)s;
        if ((slip || style == Style::Correct) && !can_slip(p)) continue;
        const int n = tok.count(document_text(p, write_solution(p, style, rng, slip)));
        longest = std::max(longest, n);
        REQUIRE(n <= kMaxDocumentTokens);
      }
  CHECK(longest > kMaxDocumentTokens * 3 / 4);  // the measurement saw long documents
}

TEST_CASE("classify: every corpus style is recognised, with its checks and corrections") {
  Generator rng(9);
  for (int t = 0; t < kNumTasks; ++t)
    for (int d = 1; d <= 5; ++d)
      for (int i = 0; i < 100; ++i) {
        const Problem p = make_problem((TaskKind)t, d, rng);
        for (int s = 0; s < kNumStyles; ++s) {
          const Style style = (Style)s;
          if (style == Style::Correct && !can_slip(p)) continue;
          const std::string completion = write_solution(p, style, rng);
          const StyleReport report = classify(completion);
          // A countdown search that gives up has no hit to check: it reads as steps.
          const bool gave_up = completion.find("closest ") != std::string::npos;
          REQUIRE(report.style == (style == Style::Verify && gave_up ? Style::Steps : style));
          if (style == Style::Verify) CHECK(report.checks == (gave_up ? 0 : 1));  // the one hit, checked
          if (style == Style::Correct) CHECK(report.checks >= 1);  // the check that caught the slip
          if (style == Style::Direct || style == Style::Steps) CHECK(report.checks == 0);
          CHECK(report.corrections == (style == Style::Correct ? 1 : 0));
          if (style == Style::Direct) CHECK(report.think_lines <= 1);
        }
        CHECK(classify(write_wrong_solution(p, rng)).style == Style::Direct);
      }
}

TEST_CASE("classify: hand-written completions") {
  StyleReport r = classify("<think>1+1=2\ncheck 2-1=1 agrees\nwait no\ncheck again\n</think><answer>2</answer>");
  CHECK(r.style == Style::Correct);
  CHECK(r.checks == 2);
  CHECK(r.corrections == 1);
  CHECK(r.think_lines == 4);
  CHECK(classify("<think></think><answer>2</answer>").style == Style::Direct);
  CHECK(classify("<think>a\n\n  \nb</think><answer>2</answer>").style == Style::Steps);
  CHECK(classify("<think>a\n  check it</think>").style == Style::Verify);
  // An unclosed think block is read up to the answer; no think block at all is Direct.
  CHECK(classify("<think>a\nb<answer>2</answer>").think_lines == 2);
  CHECK(classify("wait\nwait<answer>2</answer>").style == Style::Direct);
  CHECK(classify("").think_lines == 0);
}

TEST_CASE("corpus: deterministic, resumable, train split only, within max_tokens") {
  Corpus a(CorpusConfig(), 17), b(CorpusConfig(), 17), c(CorpusConfig(), 18);
  Tokenizer tok;
  std::vector<std::string> first;
  for (int i = 0; i < 200; ++i) {
    const Document doc = a.next();
    first.push_back(doc.text());
    CHECK(b.next_document() == doc.text());
    CHECK(split_of(doc.problem) == Split::Train);
    CHECK(tok.count(doc.text()) <= kMaxDocumentTokens);
    CHECK(doc.text().rfind("<bos>", 0) == 0);
    CHECK(doc.text().size() > 5);
    CHECK(doc.text().substr(doc.text().size() - 5) == "<eos>");
  }
  int same = 0;
  for (int i = 0; i < 200; ++i) same += c.next_document() == first[i];
  CHECK(same < 10);
  a.seek(123);
  CHECK(a.position() == 123);
  CHECK(a.next_document() == first[123]);
  CHECK(a.position() == 124);
  CHECK(a.document_at(7).text() == first[7]);
}

TEST_CASE("corpus: the mixture follows the shares") {
  CorpusConfig config;  // defaults: tasks 1/3 each; direct .70 steps .20 verify .05 correct .05; noise .05
  Corpus corpus(config, 5);
  const int n = 20000;
  int tasks[kNumTasks] = {}, styles[kNumStyles] = {}, noise = 0, slipped = 0;
  std::map<std::pair<int, int>, int> difficulty_counts;
  for (int i = 0; i < n; ++i) {
    const Document doc = corpus.next();
    ++tasks[(int)doc.problem.task];
    ++difficulty_counts[{(int)doc.problem.task, doc.problem.difficulty}];
    if (doc.noise) {
      ++noise;
      CHECK(doc.style == Style::Direct);
      CHECK(doc.completion.find("<answer>" + doc.problem.answer + "</answer>") == std::string::npos);
      continue;
    }
    ++styles[(int)doc.style];
    slipped += doc.slipped;
    CHECK((!doc.slipped || doc.style == Style::Steps));
    const bool gave_up = doc.completion.find("closest ") != std::string::npos;  // a countdown search
    CHECK(classify(doc.completion).style == (doc.style == Style::Verify && gave_up ? Style::Steps : doc.style));
  }
  CHECK(std::abs(slipped / (double)styles[(int)Style::Steps] - 0.1) < 0.02);  // slip_share of the steps documents
  for (int t = 0; t < kNumTasks; ++t) CHECK(std::abs(tasks[t] / (double)n - 1.0 / 3) < 0.02);
  const double expected[kNumStyles] = {0.70, 0.20, 0.05, 0.05};
  for (int s = 0; s < kNumStyles; ++s) CHECK(std::abs(styles[s] / (double)(n - noise) - expected[s]) < 0.015);
  CHECK(std::abs(noise / (double)n - 0.05) < 0.01);
  CHECK(difficulty_counts.size() == 12);  // 3 tasks x difficulties 1..4, never 5
  for (const auto& kv : difficulty_counts) CHECK(kv.first.second <= 4);

  SUBCASE("a custom mix") {
    CorpusConfig custom =
        parse_corpus_mix("direct=0,steps=1,verify=0,correct=0,noise=0,slip=0,add=1,mul=0,countdown=0");
    custom.difficulties[(int)TaskKind::Add] = {2};
    Corpus only(custom, 1);
    for (int i = 0; i < 300; ++i) {
      const Document doc = only.next();
      CHECK(doc.problem.task == TaskKind::Add);
      CHECK(doc.problem.difficulty == 2);
      CHECK(doc.style == Style::Steps);
      CHECK(!doc.noise);
      CHECK(!doc.slipped);
    }
    CHECK(describe_mix(custom) == "add=1 mul=0 countdown=0 direct=0 steps=1 verify=0 correct=0 noise=0 slip=0");
  }
}

TEST_CASE("corpus: invalid configurations are refused with a clear message") {
  CorpusConfig ood;
  ood.difficulties[(int)TaskKind::Mul] = {3, 5};
  CHECK(error_of([&] { Corpus(ood, 1); }).find("difficulty 5 of task mul is outside the training range") !=
        std::string::npos);
  CorpusConfig negative;
  negative.style_shares[1] = -0.5;
  CHECK(!error_of([&] { Corpus(negative, 1); }).empty());
  CorpusConfig zero;
  zero.task_shares = {0, 0, 0};
  CHECK(error_of([&] { Corpus(zero, 1); }).find("all zero") != std::string::npos);
  CorpusConfig tiny;
  tiny.max_tokens = 20;
  CHECK(error_of([&] { Corpus(tiny, 1).next(); }).find("more than max_tokens 20") != std::string::npos);
  CHECK(error_of([] { parse_corpus_mix("steps=0.2,think=1"); }).find("unknown key 'think'") != std::string::npos);
  CHECK(error_of([] { parse_corpus_mix("steps=-1"); }).find("'-1'") != std::string::npos);
  CHECK(error_of([] { parse_corpus_mix("steps=abc"); }).find("'abc'") != std::string::npos);
  CHECK(error_of([] { parse_corpus_mix("noise=2"); }).find("above 1") != std::string::npos);
  CHECK(error_of([] { parse_corpus_mix("slip=1.5"); }).find("slip 1.5 is above 1") != std::string::npos);
  CHECK(parse_corpus_mix("slip=0.25").slip_share == 0.25);
  CHECK(error_of([] { parse_corpus_mix("steps"); }).find("key=value") != std::string::npos);
  const CorpusConfig parsed = parse_corpus_mix("steps=0.5,noise=0.1");
  CHECK(parsed.style_shares[1] == 0.5);
  CHECK(parsed.style_shares[0] == 0.70);
  CHECK(parsed.noise_share == 0.1);
}

TEST_CASE("corpus: wrong_end changes only the final answer of checking documents, and draws nothing when 0") {
  // 0 (the default) must leave every stream as it was: the same documents.
  Corpus plain(CorpusConfig(), 9), zero(parse_corpus_mix("wrong_end=0"), 9);
  for (int i = 0; i < 300; ++i) CHECK(plain.next_document() == zero.next_document());
  CHECK(describe_mix(CorpusConfig()).find("wrong_end") == std::string::npos);

  Corpus corpus(parse_corpus_mix("countdown=0,direct=1,steps=1,verify=1,correct=1,noise=0,slip=0,wrong_end=0.5"), 3);
  int checking = 0, wrong = 0;
  for (int i = 0; i < 2000; ++i) {
    const Document doc = corpus.next();
    const std::string& c = doc.completion;
    const std::string answer = c.substr(c.find("<answer>") + 8, c.find("</answer>") - c.find("<answer>") - 8);
    const bool checks = doc.style == Style::Verify || doc.style == Style::Correct;
    checking += checks;
    wrong += doc.wrong_end;
    CHECK((!doc.wrong_end || checks));
    // The work is the same either way: it concludes the right value ...
    if (checks)
      CHECK((c.find("\nso " + doc.problem.answer + "\n") != std::string::npos ||
             c.find("\nso " + doc.problem.answer + "</think>") != std::string::npos));
    if (!doc.wrong_end) {
      CHECK(answer == doc.problem.answer);
      continue;
    }
    // ... and only the answer block differs, by one digit of as many.
    REQUIRE(answer.size() == doc.problem.answer.size());
    int differ = 0;
    for (size_t k = 0; k < answer.size(); ++k) differ += answer[k] != doc.problem.answer[k];
    CHECK(differ == 1);
    CHECK(classify(c).style == doc.style);
  }
  CHECK(std::abs(wrong / (double)checking - 0.5) < 0.05);
  CHECK(describe_mix(corpus.config()).find(" wrong_end=0.5") != std::string::npos);

  CHECK(error_of([] { parse_corpus_mix("wrong_end=1.5"); }).find("wrong_end 1.5 is above 1") != std::string::npos);
  CHECK(error_of([] { Corpus(parse_corpus_mix("wrong_end=0.2"), 1); }).find("add and mul only") != std::string::npos);
}

TEST_CASE("parse_problem: a prompt's text back to its problem, for every task; anything else refused") {
  Generator rng(31);
  for (int t = 0; t < kNumTasks; ++t)
    for (int d = 1; d <= 5; ++d) {
      const Problem p = make_problem((TaskKind)t, d, rng);
      const Problem q = parse_problem(prompt_text(p));  // "<bos>...\n"
      CHECK(q.task == p.task);
      CHECK(q.text == p.text);
      CHECK(q.numbers == p.numbers);
      CHECK(q.target == p.target);
      if (p.task != TaskKind::Countdown) CHECK(q.answer == p.answer);
    }
  CHECK(parse_problem("what is 12+34+5?").target == 51);
  CHECK(parse_problem("use 3 7 to make 21").numbers == std::vector<int64_t>{3, 7});
  for (const char* bad : {"", "what is 12?", "what is 12+?", "what is 1*2*3?", "what is 012+3?", "use 3 to make 4",
                          "use 3 x to make 4", "use 3 7 to make", "what is 99999999999*99999999999?", "hello"})
    CHECK_MESSAGE(error_of([&] { parse_problem(bad); }).find("is not a problem of aha's tasks") != std::string::npos,
                  bad);
}
