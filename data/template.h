// The prompt template every document and every RL prompt shares (R1-Zero's
// Table 1, shrunk to our vocabulary):
//
//   <bos>what is 347*29?\n<think>...</think><answer>10063</answer><eos>
//   \______ prompt ______/\______________ completion _______________/
//
// The prompt is <bos>, the problem's canonical text and a newline; the model
// must emit <think> itself, and the format reward checks that it did.
#pragma once

#include <string>

#include "data/problem.h"

namespace aha {
namespace data {

// Spellings of the special tokens as they appear in text (tokenizer.h owns the ids).
extern const char* const kBosText;         // "<bos>"
extern const char* const kEosText;         // "<eos>"
extern const char* const kThinkOpen;       // "<think>"
extern const char* const kThinkClose;      // "</think>"
extern const char* const kAnswerOpen;      // "<answer>"
extern const char* const kAnswerClose;     // "</answer>"

// The context every document (prompt + completion) fits in at the training
// difficulties; the model's default context. Tests measure the longest
// document of each task, style and difficulty against it.
constexpr int kMaxDocumentTokens = 384;

// "<bos>" + problem.text + "\n": exactly what an RL prompt is.
std::string prompt_text(const Problem& problem);
// "<think>" + think + "</think><answer>" + answer + "</answer><eos>".
std::string completion_text(const Solution& solution);
// prompt + completion: one document of the pretraining corpus.
std::string document_text(const Problem& problem, const std::string& completion);

}  // namespace data
}  // namespace aha
