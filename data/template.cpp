#include "data/template.h"

namespace aha {
namespace data {

const char* const kBosText = "<bos>";
const char* const kEosText = "<eos>";
const char* const kThinkOpen = "<think>";
const char* const kThinkClose = "</think>";
const char* const kAnswerOpen = "<answer>";
const char* const kAnswerClose = "</answer>";

std::string prompt_text(const Problem& problem) { return kBosText + problem.text + "\n"; }

std::string completion_text(const Solution& solution) {
  return kThinkOpen + solution.think + kThinkClose + kAnswerOpen + solution.answer + kAnswerClose +
         kEosText;
}

std::string document_text(const Problem& problem, const std::string& completion) {
  return prompt_text(problem) + completion;
}

}  // namespace data
}  // namespace aha
