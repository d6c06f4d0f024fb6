#include "reward/trace.h"

#include <algorithm>
#include <cstdio>

#include "data/classify.h"
#include "reward/expression.h"
#include "reward/parse.h"
#include "reward/reward.h"

namespace aha {
namespace reward {

namespace {

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

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  for (const std::string& w : split(line, ' '))
    if (!w.empty()) words.push_back(w);
  return words;
}

std::string trim(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

std::string without_spaces(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  return text;
}

// The value of a plain integer ("56"), or none (not one, or too large).
std::optional<int64_t> plain_value(const std::string& text) {
  if (!is_plain_integer(text)) return std::nullopt;
  const ExpressionValue v = evaluate_expression(text);
  return v.ok ? std::optional<int64_t>(v.value) : std::nullopt;
}

// One step of a countdown line, "25-7": left, op, right as written.
struct BinaryStep {
  std::string left, right;
  char op = 0;
};
std::optional<BinaryStep> binary_step(const std::string& lhs) {
  const size_t at = lhs.find_first_of("+-*/", 1);
  if (at == std::string::npos) return std::nullopt;
  BinaryStep step{lhs.substr(0, at), lhs.substr(at + 1), lhs[at]};
  if (!is_plain_integer(step.left) || !is_plain_integer(step.right)) return std::nullopt;
  return step;
}

// A countdown line's chain: ((a op b) op c) ..., each step from the value the
// step before it wrote.
struct ChainState {
  bool any = false;
  bool ok = true;
  std::string expression;  // fully parenthesised
  std::optional<int64_t> last_written;
};

class Reader {
 public:
  Reader(const data::Problem& problem, TraceReport& report) : problem_(problem), r_(report) {}

  void read_line(int line) {
    const std::vector<std::string> words = words_of(r_.lines[(size_t)line]);
    if (words.empty()) return;
    if (words[0] == "check")
      read_check(line, words);
    else if (words[0] == "wait")
      read_correction(line, words);
    else if ((words[0] == "so" || words[0] == "closest") && words.size() > 1)
      r_.conclusion = without_spaces(r_.lines[(size_t)line].substr(r_.lines[(size_t)line].find(' ') + 1));
    else
      read_work(line, words);
  }

 private:
  bool countdown() const { return problem_.task == data::TaskKind::Countdown; }

  // "a=b=c": one equation claim per '='. Returns the index of the first claim
  // added, or -1 when the word is not a chain of well-formed expressions.
  int add_equations(int line, const std::string& word) {
    const std::vector<std::string> parts = split(word, '=');
    if (parts.size() < 2) return -1;
    std::vector<ExpressionValue> values;
    for (const std::string& part : parts) {
      if (part.empty()) return -1;
      values.push_back(evaluate_expression(part));
      if (!values.back().well_formed) return -1;
    }
    const int first = (int)r_.claims.size();
    for (size_t k = 0; k + 1 < parts.size(); ++k) {
      Claim c;
      c.kind = ClaimKind::Equation;
      c.line = line;
      c.text = parts[k] + "=" + parts[k + 1];
      c.lhs = parts[k];
      c.written = plain_value(parts[k + 1]);
      // BEGIN EXERCISE trace_claim: does parts[k] = parts[k + 1] hold? If not, c.truth says what is true
      const ExpressionValue& lhs = values[k];
      const ExpressionValue& rhs = values[k + 1];
      c.holds = lhs.ok && rhs.ok && lhs.value == rhs.value;
      if (!c.holds)
        c.truth = lhs.ok ? parts[k] + "=" + std::to_string(lhs.value)
                         : parts[k] + " has no exact value (" + lhs.error + ")";
      // END EXERCISE trace_claim
      r_.claims.push_back(c);
    }
    return first;
  }

  void add_verdict(ClaimKind kind, int line, const std::string& text, bool holds, const std::string& truth) {
    Claim c;
    c.kind = kind;
    c.line = line;
    c.text = text;
    c.holds = holds;
    if (!holds) c.truth = truth;
    r_.claims.push_back(c);
  }

  // A line of work: equations, "carry N" after a column sum, and on countdown
  // a search verdict about the line's chain of steps.
  void read_work(int line, const std::vector<std::string>& words) {
    ChainState chain;
    std::optional<int64_t> last_written;
    bool last_is_equation = false;
    for (size_t w = 0; w < words.size(); ++w) {
      const std::string& word = words[w];
      if (word.find('=') != std::string::npos) {
        const int first = add_equations(line, word);
        last_is_equation = first >= 0;
        if (first < 0) {
          chain.ok = false;
          continue;
        }
        last_written = r_.claims.back().written;
        if (countdown()) extend_chain(chain, first);
      } else if (word == "carry" && w + 1 < words.size() && last_is_equation && last_written) {
        const std::optional<int64_t> carry = plain_value(words[w + 1]);
        if (!carry) continue;
        ++w;
        add_verdict(ClaimKind::Carry, line, "carry " + words[w], *carry == *last_written / 10,
                    "carry " + std::to_string(*last_written / 10));
        last_is_equation = false;
      } else if ((word == "yes" || word == "no") && countdown() && chain.any) {
        const bool reaches = chain.ok && answer_is_correct(problem_, chain.expression);
        const bool yes = word == "yes";
        add_verdict(ClaimKind::SearchVerdict, line, word, yes == reaches,
                    yes ? line_value(chain) : "the line makes the target " + std::to_string(problem_.target));
        if (yes && !reaches) r_.false_yes = true;
        last_is_equation = false;
      } else {
        last_is_equation = false;
      }
    }
  }

  // The claim at `index` (one '=' token) as the next step of a countdown chain.
  void extend_chain(ChainState& chain, int index) {
    const bool single = index + 1 == (int)r_.claims.size();
    const Claim& c = r_.claims[(size_t)index];
    const std::optional<BinaryStep> step = single ? binary_step(c.lhs) : std::nullopt;
    if (!step || !c.written) {
      chain.ok = false;
      return;
    }
    if (!chain.any) {
      chain.expression = "(" + c.lhs + ")";
    } else if (chain.last_written && step->left == std::to_string(*chain.last_written)) {
      chain.expression = "(" + chain.expression + step->op + step->right + ")";
    } else {
      chain.ok = false;  // the step does not start from the value written before it
    }
    chain.any = true;
    chain.last_written = c.written;
  }

  std::string line_value(const ChainState& chain) const {
    if (!chain.ok) return "the line is not a chain of steps, each from the value before it";
    const ExpressionValue v = evaluate_expression(chain.expression);
    if (!v.ok) return "the line's steps have no exact value (" + v.error + ")";
    if (v.value == problem_.target) return "the line uses a number not given, or one twice";
    return "the line makes " + std::to_string(v.value);
  }

  // "check E0=E1=...=V agrees|disagrees": the equations, then the verdict on
  // what is checked (countdown: E0; add and mul: the last conclusion).
  void read_check(int line, const std::vector<std::string>& words) {
    std::string checked_expression;
    for (size_t w = 1; w < words.size(); ++w) {
      const std::string& word = words[w];
      if (word.find('=') != std::string::npos) {
        const int first = add_equations(line, word);
        if (first >= 0 && checked_expression.empty()) checked_expression = r_.claims[(size_t)first].lhs;
        continue;
      }
      if (word != "agrees" && word != "disagrees") continue;
      const bool agrees = word == "agrees";
      if (countdown()) {
        if (checked_expression.empty()) continue;
        const bool right = answer_is_correct(problem_, checked_expression);
        const ExpressionValue v = evaluate_expression(checked_expression);
        add_verdict(ClaimKind::CheckVerdict, line, word, agrees == right,
                    checked_expression + (right ? " makes the target"
                                                : v.ok && v.value != problem_.target
                                                      ? " makes " + std::to_string(v.value)
                                                      : " is not a way to make the target with the given numbers"));
      } else {
        if (!r_.conclusion) continue;
        const bool right = answer_is_correct(problem_, *r_.conclusion);
        add_verdict(ClaimKind::CheckVerdict, line, word, agrees == right,
                    *r_.conclusion + (right ? " is the answer" : " is not the answer"));
      }
    }
  }

  // "wait X=Y not Z".
  void read_correction(int line, const std::vector<std::string>& words) {
    Correction fix;
    fix.line = line;
    const std::vector<std::string> xy = words.size() == 4 ? split(words[1], '=') : std::vector<std::string>();
    const std::optional<int64_t> y = xy.size() == 2 ? plain_value(xy[1]) : std::nullopt;
    const std::optional<int64_t> z = words.size() == 4 ? plain_value(words[3]) : std::nullopt;
    if (xy.size() != 2 || xy[0].empty() || !y || words[2] != "not" || !z) {
      fix.why = "not of the form 'wait X=Y not Z'";
      add_correction(fix);
      return;
    }
    add_equations(line, words[1]);
    const std::string& x = xy[0];
    const ExpressionValue value = evaluate_expression(x);
    if (!value.ok) {
      fix.why = x + " has no exact value";
    } else if (*z == value.value) {
      fix.why = words[3] + " is already the value of " + x;
    } else if (*y != value.value) {
      fix.why = xy[1] + " is not the value of " + x + " either (" + std::to_string(value.value) + ")";
    } else {
      std::vector<size_t> named;
      for (size_t k = 0; k < r_.claims.size(); ++k) {
        const Claim& c = r_.claims[k];
        if (c.line < line && c.kind == ClaimKind::Equation && c.written == z && without_spaces(c.lhs) == x)
          named.push_back(k);
      }
      if (named.empty()) {
        fix.why = words[3] + " was never written for " + x;
      } else {
        fix.effective = true;
        fix.why = "fixes " + words[3] + ", written for " + x + " on line " +
                  std::to_string(r_.claims[named.back()].line + 1);
        for (size_t k : named) {
          r_.claims[k].corrected = true;
          // The false verdict or carry that slip caused on its line.
          for (Claim& c : r_.claims)
            if (c.line == r_.claims[k].line && !c.holds &&
                (c.kind == ClaimKind::SearchVerdict || c.kind == ClaimKind::Carry))
              c.corrected = true;
        }
      }
    }
    add_correction(fix);
  }

  void add_correction(const Correction& fix) {
    (fix.effective ? r_.effective_correction : r_.superficial_correction) = true;
    r_.corrections.push_back(fix);
  }

  const data::Problem& problem_;
  TraceReport& r_;
};

}  // namespace

const char* claim_kind_name(ClaimKind kind) {
  switch (kind) {
    case ClaimKind::Equation: return "equation";
    case ClaimKind::Carry: return "carry";
    case ClaimKind::SearchVerdict: return "search verdict";
    case ClaimKind::CheckVerdict: return "check verdict";
  }
  return "?";
}

TraceReport check_trace(const data::Problem& problem, const std::string& completion) {
  TraceReport report;
  for (const std::string& line : split(data::think_block(completion), '\n')) {
    const std::string trimmed = trim(line);
    if (!trimmed.empty()) report.lines.push_back(trimmed);
  }
  Reader reader(problem, report);
  for (int line = 0; line < (int)report.lines.size(); ++line) reader.read_line(line);
  for (const Claim& c : report.claims) {
    report.false_claims += !c.holds;
    report.corrected_claims += !c.holds && c.corrected;
  }
  const ParsedCompletion parsed = parse_completion(completion);
  report.correct = parsed.has_answer && answer_is_correct(problem, parsed.answer);
  report.faithful = report.conclusion && parsed.has_answer && without_spaces(parsed.answer) == *report.conclusion;
  return report;
}

std::string annotate_trace(const TraceReport& report) {
  std::string out;
  char number[32];
  for (size_t line = 0; line < report.lines.size(); ++line) {
    std::snprintf(number, sizeof number, "%3zu  ", line + 1);
    out += number + report.lines[line] + "\n";
    std::string marks;
    for (const Claim& c : report.claims) {
      if (c.line != (int)line) continue;
      std::string mark = c.holds ? "ok " + c.text : "FALSE " + c.text + " (" + c.truth + ")";
      if (c.corrected) mark += ", corrected";
      marks += (marks.empty() ? "" : " | ") + mark;
    }
    for (const Correction& fix : report.corrections)
      if (fix.line == (int)line)
        marks += std::string(marks.empty() ? "" : " | ") + (fix.effective ? "EFFECTIVE correction: " : "SUPERFICIAL correction: ") + fix.why;
    if (!marks.empty()) out += "       " + marks + "\n";
  }
  int effective = 0;
  for (const Correction& fix : report.corrections) effective += fix.effective;
  out += "  claims " + std::to_string(report.claims.size()) + ", false " + std::to_string(report.false_claims) +
         " (corrected " + std::to_string(report.corrected_claims) + "); corrections " + std::to_string(effective) +
         " effective, " + std::to_string(report.corrections.size() - (size_t)effective) + " superficial; " +
         (report.conclusion ? std::string(report.faithful ? "faithful" : "NOT faithful") + " to '" +
                                  *report.conclusion + "'"
                            : std::string("no conclusion line")) +
         "; answer " + (report.correct ? "right" : "wrong") + "\n";
  return out;
}

void TraceTotals::add(const TraceReport& report) {
  completions += 1;
  claims += (int64_t)report.claims.size();
  false_claims += report.false_claims;
  corrected_claims += report.corrected_claims;
  false_yes += report.false_yes;
  effective += report.effective_correction;
  superficial += report.superficial_correction;
  with_conclusion += report.conclusion.has_value();
  faithful += report.faithful;
  if (report.corrections.empty()) {
    without_correction += 1;
    correct_without_correction += report.correct;
  } else {
    with_correction += 1;
    correct_with_correction += report.correct;
  }
}

std::vector<std::pair<std::string, std::optional<double>>> TraceTotals::metrics() const {
  auto ratio = [](int64_t part, int64_t whole) {
    return whole > 0 ? std::optional<double>((double)part / (double)whole) : std::nullopt;
  };
  return {{"claims_per_completion", ratio(claims, completions)},
          {"false_claim_rate", ratio(false_claims, claims)},
          {"false_yes_share", ratio(false_yes, completions)},
          {"effective_correction_share", ratio(effective, completions)},
          {"superficial_correction_share", ratio(superficial, completions)},
          {"caught_rate", ratio(corrected_claims, false_claims)},
          {"faithful_share", ratio(faithful, with_conclusion)},
          {"accuracy_with_correction", ratio(correct_with_correction, with_correction)},
          {"accuracy_without_correction", ratio(correct_without_correction, without_correction)}};
}

}  // namespace reward
}  // namespace aha
