#include "reward/parse.h"

#include "data/template.h"

namespace aha {
namespace reward {

namespace {

bool is_space(char c) { return c == ' ' || c == '\n'; }

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
    ++count;
  return count;
}

// Reads `token` at `pos` and moves past it.
bool eat(const std::string& text, size_t& pos, const std::string& token) {
  if (text.compare(pos, token.size(), token) != 0) return false;
  pos += token.size();
  return true;
}

// Moves `pos` to the next '<' (or the end); false if the stretch skipped over
// is followed by anything but `close`. Every special token starts with '<'
// and no vocabulary character is '<', so this finds the next special token.
bool skip_to(const std::string& text, size_t& pos, const std::string& close) {
  pos = text.find('<', pos);
  if (pos == std::string::npos) return false;
  return eat(text, pos, close);
}

// <think> T </think> [whitespace] <answer> A </answer> [<eos>], then the end,
// with A not blank (an empty answer block is no answer).
bool has_required_shape(const std::string& completion) {
  size_t pos = 0;
  if (!eat(completion, pos, data::kThinkOpen)) return false;
  if (!skip_to(completion, pos, data::kThinkClose)) return false;
  while (pos < completion.size() && is_space(completion[pos])) ++pos;
  if (!eat(completion, pos, data::kAnswerOpen)) return false;
  const size_t answer_begin = pos;
  if (!skip_to(completion, pos, data::kAnswerClose)) return false;
  const size_t answer_end = pos - std::string(data::kAnswerClose).size();
  if (trim(completion.substr(answer_begin, answer_end - answer_begin)).empty()) return false;
  eat(completion, pos, data::kEosText);
  return pos == completion.size();
}

}  // namespace

ParsedCompletion parse_completion(const std::string& completion) {
  ParsedCompletion parsed;
  const std::string open = data::kAnswerOpen, close = data::kAnswerClose;
  for (size_t at = completion.find(open); at != std::string::npos; at = completion.find(open, at + 1)) {
    const size_t end = completion.find(close, at + open.size());
    if (end == std::string::npos) break;
    ++parsed.answer_blocks;
    at = end;
  }
  // One answer: one opening tag, one closing tag after it, nothing nested.
  if (parsed.answer_blocks == 1 && count_of(completion, open) == 1 && count_of(completion, close) == 1) {
    const size_t begin = completion.find(open) + open.size();
    const size_t end = completion.find(close, begin);
    const std::string content = completion.substr(begin, end - begin);
    if (content.find('<') == std::string::npos) {
      parsed.has_answer = true;
      parsed.answer = trim(content);
    }
  }

  parsed.well_formed = has_required_shape(completion);
  return parsed;
}

bool is_plain_integer(const std::string& text) {
  if (text.empty() || (text[0] == '0' && text.size() > 1)) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace reward
}  // namespace aha
