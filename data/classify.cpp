#include "data/classify.h"

#include "data/template.h"

namespace aha {
namespace data {

namespace {

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

std::string think_block(const std::string& completion) {
  const std::string open = kThinkOpen;
  const size_t at = completion.find(open);
  if (at == std::string::npos) return "";
  const size_t begin = at + open.size();
  size_t end = completion.find(kThinkClose, begin);
  if (end == std::string::npos) end = completion.find(kAnswerOpen, begin);
  if (end == std::string::npos) end = completion.size();
  return completion.substr(begin, end - begin);
}

StyleReport classify(const std::string& completion) {
  StyleReport report;
  const std::string think = think_block(completion);
  size_t start = 0;
  while (start <= think.size()) {
    size_t end = think.find('\n', start);
    if (end == std::string::npos) end = think.size();
    std::string line = think.substr(start, end - start);
    start = end + 1;
    line.erase(0, line.find_first_not_of(' '));
    if (line.empty()) continue;
    ++report.think_lines;
    if (starts_with(line, "check")) ++report.checks;
    if (starts_with(line, "wait")) ++report.corrections;
  }
  if (report.corrections > 0)
    report.style = Style::Correct;
  else if (report.checks > 0)
    report.style = Style::Verify;
  else if (report.think_lines >= 2)
    report.style = Style::Steps;
  else
    report.style = Style::Direct;
  return report;
}

}  // namespace data
}  // namespace aha
