// libFuzzer target: the tokenizer never crashes, and whatever it accepts
// round-trips exactly; ids decoded from arbitrary bytes re-encode to themselves.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const aha::data::Tokenizer tokenizer;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const std::vector<int> ids = tokenizer.encode(text);
    if (tokenizer.decode(ids) != text) std::abort();
  } catch (const std::runtime_error&) {
    // An unknown character: the expected error.
  }
  std::vector<int> ids;
  for (size_t i = 0; i < size; ++i) ids.push_back(data[i] % tokenizer.vocab_size());
  if (tokenizer.encode(tokenizer.decode(ids)) != ids) std::abort();
  return 0;
}
