// The character-level tokenizer: one token per character of the arithmetic
// "web", plus seven special tokens. The vocabulary is fixed and versioned
// (kVersion is stored in checkpoints), so a model trained on one version is
// never fed the ids of another.
//
// Special tokens are written in strings literally ("<think>", "<eos>", ...):
// encode maps each such spelling to its one id, decode maps the id back, so
// every layer above works with plain std::string.
#pragma once

#include <string>
#include <vector>

namespace aha {
namespace data {

class Tokenizer {
 public:
  // Bump the version whenever an id changes meaning.
  static constexpr const char* kVersion = "aha-char-v1";

  // Ids of the special tokens; the characters follow them (see tokenizer.cpp).
  static constexpr int kPad = 0;
  static constexpr int kBos = 1;
  static constexpr int kEos = 2;
  static constexpr int kThink = 3;
  static constexpr int kThinkEnd = 4;
  static constexpr int kAnswer = 5;
  static constexpr int kAnswerEnd = 6;
  static constexpr int kNumSpecial = 7;

  Tokenizer();

  int vocab_size() const { return (int)pieces_.size(); }

  // Text -> ids. Throws std::runtime_error naming the first character that is
  // not in the vocabulary and its byte position.
  std::vector<int> encode(const std::string& text) const;
  // Ids -> text; special tokens come back as their spellings. Throws on an id
  // outside [0, vocab_size()).
  std::string decode(const std::vector<int>& ids) const;

  // The spelling of one id ("<think>", "7", "\n").
  const std::string& piece(int id) const;
  // Number of tokens `text` encodes to (throws like encode).
  int count(const std::string& text) const { return (int)encode(text).size(); }

 private:
  std::vector<std::string> pieces_;  // id -> spelling
  int char_to_id_[256];              // byte -> id, -1 when not in the vocabulary
};

}  // namespace data
}  // namespace aha
