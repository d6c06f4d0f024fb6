#include "data/tokenizer.h"

#include <cstdio>
#include <stdexcept>

namespace aha {
namespace data {

namespace {

// Vocabulary aha-char-v1, in id order. The special tokens come first so their
// ids are small fixed constants; then every character the tasks write: newline,
// space, digits, lowercase letters and the punctuation of the problems and
// solutions. Nothing else: a character outside this list is an error, not an
// "unknown" token, because the corpus is ours and should never produce one.
const char* const kSpecialPieces[Tokenizer::kNumSpecial] = {
    "<pad>", "<bos>", "<eos>", "<think>", "</think>", "<answer>", "</answer>"};
const char kCharacters[] =
    "\n "
    "0123456789"
    "abcdefghijklmnopqrstuvwxyz"
    "+-*/=(),.:?";

std::string describe_byte(unsigned char c) {
  char buf[48];
  if (c >= 32 && c < 127)
    std::snprintf(buf, sizeof buf, "'%c' (byte 0x%02x)", c, c);
  else
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
  return buf;
}

}  // namespace

Tokenizer::Tokenizer() {
  for (const char* special : kSpecialPieces) pieces_.push_back(special);
  for (int& id : char_to_id_) id = -1;
  for (const char* p = kCharacters; *p; ++p) {
    char_to_id_[(unsigned char)*p] = (int)pieces_.size();
    pieces_.push_back(std::string(1, *p));
  }
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  ids.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    // '<' is not a character of the vocabulary, so it can only open a special token.
    if (text[pos] == '<') {
      int matched = -1;
      for (int id = 0; id < kNumSpecial; ++id)
        if (text.compare(pos, pieces_[id].size(), pieces_[id]) == 0) matched = id;
      if (matched < 0)
        throw std::runtime_error("tokenizer: '<' at position " + std::to_string(pos) +
                                 " does not start a special token (<pad> <bos> <eos> <think> </think> "
                                 "<answer> </answer>)");
      ids.push_back(matched);
      pos += pieces_[matched].size();
      continue;
    }
    unsigned char c = (unsigned char)text[pos];
    int id = char_to_id_[c];
    if (id < 0)
      throw std::runtime_error("tokenizer: unknown character " + describe_byte(c) + " at position " +
                               std::to_string(pos) + " (vocabulary " + kVersion + ")");
    ids.push_back(id);
    ++pos;
  }
  return ids;
}

const std::string& Tokenizer::piece(int id) const {
  if (id < 0 || id >= vocab_size())
    throw std::runtime_error("tokenizer: token id " + std::to_string(id) + " outside [0, " +
                             std::to_string(vocab_size()) + ")");
  return pieces_[id];
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string text;
  for (int id : ids) text += piece(id);
  return text;
}

}  // namespace data
}  // namespace aha
