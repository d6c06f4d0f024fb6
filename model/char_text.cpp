#include "model/char_text.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace aha {
namespace {

const char* const kCharVersionPrefix = "char-v1:";
const char* const kHexDigits = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

CharVocab::CharVocab(std::string bytes) : bytes_(std::move(bytes)) {
  ids_.fill(-1);
  for (size_t i = 0; i < bytes_.size(); ++i) {
    unsigned char b = (unsigned char)bytes_[i];
    if (ids_[b] != -1 || (i > 0 && b <= (unsigned char)bytes_[i - 1]))
      throw std::runtime_error("CharVocab: bytes must be distinct and increasing");
    ids_[b] = (int)i;
  }
  if (bytes_.empty()) throw std::runtime_error("CharVocab: empty vocabulary");
}

CharVocab CharVocab::from_text(const std::string& text) {
  std::array<bool, 256> seen{};
  for (char c : text) seen[(unsigned char)c] = true;
  std::string bytes;
  for (int b = 0; b < 256; ++b)
    if (seen[(size_t)b]) bytes.push_back((char)b);
  return CharVocab(bytes);
}

bool CharVocab::is_char_version(const std::string& version) {
  return version.rfind(kCharVersionPrefix, 0) == 0;
}

CharVocab CharVocab::from_version(const std::string& version) {
  if (!is_char_version(version))
    throw std::runtime_error("CharVocab: tokenizer version '" + version.substr(0, 40) +
                             "' is not a character vocabulary (expected '" + kCharVersionPrefix + "...')");
  const std::string hex = version.substr(std::string(kCharVersionPrefix).size());
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) break;
    bytes.push_back((char)(hi * 16 + lo));
  }
  if (hex.empty() || hex.size() % 2 != 0 || bytes.size() * 2 != hex.size())
    throw std::runtime_error("CharVocab: malformed vocabulary in tokenizer version '" + version.substr(0, 40) + "'");
  return CharVocab(bytes);
}

std::string CharVocab::version() const {
  std::string out = kCharVersionPrefix;
  for (char c : bytes_) {
    out.push_back(kHexDigits[(unsigned char)c >> 4]);
    out.push_back(kHexDigits[(unsigned char)c & 15]);
  }
  return out;
}

std::vector<int> CharVocab::encode(const std::string& text) const {
  std::vector<int> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    int id = ids_[(unsigned char)text[i]];
    if (id < 0) {
      std::ostringstream msg;
      msg << "CharVocab: byte 0x" << std::hex << (int)(unsigned char)text[i] << std::dec << " ('"
          << text[i] << "') at offset " << i << " is not in the vocabulary of " << bytes_.size() << " bytes";
      throw std::runtime_error(msg.str());
    }
    out.push_back(id);
  }
  return out;
}

std::string CharVocab::decode(const std::vector<int>& tokens) const {
  std::string out;
  for (int t : tokens) {
    if (t < 0 || t >= vocab_size())
      throw std::runtime_error("CharVocab: token " + std::to_string(t) + " is outside [0, " +
                               std::to_string(vocab_size()) + ")");
    out.push_back(bytes_[(size_t)t]);
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read text file '" + path + "'");
  std::ostringstream contents;
  contents << in.rdbuf();
  std::string text = contents.str();
  if (text.size() < 2) throw std::runtime_error("text file '" + path + "' has fewer than 2 bytes");
  return text;
}

std::pair<std::string, std::string> split_train_val(const std::string& text, double val_fraction) {
  if (!(val_fraction > 0.0 && val_fraction < 1.0))
    throw std::runtime_error("split_train_val: val_fraction must be in (0, 1), got " + std::to_string(val_fraction));
  size_t val = std::max<size_t>(2, (size_t)(text.size() * val_fraction));
  if (text.size() < val + 2)
    throw std::runtime_error("split_train_val: a text of " + std::to_string(text.size()) +
                             " bytes is too short to split");
  return {text.substr(0, text.size() - val), text.substr(text.size() - val)};
}

CharTextSource::CharTextSource(const std::string& text, const CharVocab& vocab, int length)
    : tokens_(vocab.encode(text)), vocab_(vocab), length_(length) {
  if (length < 2) throw std::runtime_error("CharTextSource: windows need >= 2 tokens, got " + std::to_string(length));
  if (tokens_.size() < 2) throw std::runtime_error("CharTextSource: the text needs >= 2 bytes");
  length_ = std::min<int>(length, (int)tokens_.size());
}

TokenSequence CharTextSource::next(Generator& rng) {
  const uint64_t start = rng.below(tokens_.size() - (size_t)length_ + 1);
  TokenSequence s;
  s.tokens.assign(tokens_.begin() + (int64_t)start, tokens_.begin() + (int64_t)start + length_);
  s.loss_mask.assign((size_t)length_, 1.0f);
  return s;
}

}  // namespace aha
