// Text <-> token ids, the part of a tokenizer that `aha sample` needs. Which
// codec a checkpoint needs is named by its tokenizer version (model/checkpoint.h).
#pragma once

#include <string>
#include <vector>

namespace aha {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  // Throws a std::runtime_error naming what cannot be encoded.
  virtual std::vector<int> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int>& tokens) const = 0;
  virtual int vocab_size() const = 0;
  virtual int eos_token() const = 0;  // -1 when the vocabulary has no end-of-sequence token
  virtual std::string version() const = 0;
};

}  // namespace aha
