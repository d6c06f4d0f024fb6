// The character-level stand-in for the arithmetic corpus: a UTF-8 text file
// read as bytes, each distinct byte one token, and training sequences that are
// random windows of the text. Enough to pretrain and test the GPT before (and
// apart from) the data/ layer.
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "model/sequence_source.h"
#include "model/text_codec.h"

namespace aha {

// Token i is the i-th smallest distinct byte of the text. The version string
// carries the whole vocabulary ("char-v1:" + the bytes in hex), so a
// checkpoint alone is enough to decode its samples.
class CharVocab : public TextCodec {
 public:
  static CharVocab from_text(const std::string& text);
  // Throws when `version` is not a char-v1 version string.
  static CharVocab from_version(const std::string& version);
  static bool is_char_version(const std::string& version);

  std::vector<int> encode(const std::string& text) const override;
  std::string decode(const std::vector<int>& tokens) const override;
  int vocab_size() const override { return (int)bytes_.size(); }
  int eos_token() const override { return -1; }
  std::string version() const override;

 private:
  explicit CharVocab(std::string bytes);
  std::string bytes_;          // token id -> byte
  std::array<int, 256> ids_;   // byte -> token id, -1 when absent
};

// The whole file; throws naming the path when it cannot be read or is empty.
std::string read_text_file(const std::string& path);
// The last `val_fraction` of the text (at least 2 bytes) for validation, the rest for training.
std::pair<std::string, std::string> split_train_val(const std::string& text, double val_fraction);

class CharTextSource : public SequenceSource {
 public:
  // Windows of `length` bytes (context + 1), or the whole text when shorter.
  CharTextSource(const std::string& text, const CharVocab& vocab, int length);
  // A window starting at a uniform random offset; every position counts in the loss.
  TokenSequence next(Generator& rng) override;
  int vocab_size() const override { return vocab_.vocab_size(); }
  std::string tokenizer_version() const override { return vocab_.version(); }

 private:
  std::vector<int> tokens_;
  CharVocab vocab_;
  int length_;
};

}  // namespace aha
