// The adapters between data/ and model/ (grpo/corpus_source.h): the
// tokenizer as a TextCodec, packed corpus sequences, and the --task/--mix
// corpus config.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "grpo/corpus_source.h"
#include "grpo/presets.h"
#include "model/config.h"
#include "model/pretrain.h"

using namespace aha;

namespace {

constexpr int kContext = data::kMaxDocumentTokens;  // every document fits

// The documents of a packed sequence: split before every <bos>.
std::vector<std::vector<int>> split_documents(const std::vector<int>& tokens) {
  std::vector<std::vector<int>> docs;
  for (int t : tokens) {
    if (t == data::Tokenizer::kBos) docs.emplace_back();
    REQUIRE(!docs.empty());
    docs.back().push_back(t);
  }
  return docs;
}

}  // namespace

TEST_CASE("TokenizerCodec is the arithmetic tokenizer") {
  const TokenizerCodec codec;
  const data::Tokenizer tokenizer;
  CHECK(codec.version() == std::string(data::Tokenizer::kVersion));
  CHECK(codec.eos_token() == data::Tokenizer::kEos);
  CHECK(codec.vocab_size() == tokenizer.vocab_size());
  const std::string text = "<bos>what is 12+34?\n<think></think><answer>46</answer><eos>";
  CHECK(codec.encode(text) == tokenizer.encode(text));
  CHECK(codec.decode(codec.encode(text)) == text);
  CHECK_THROWS(codec.encode("what is 12#34?"));
}

TEST_CASE("CorpusSource packs whole documents from position 0") {
  CorpusSource source(data::CorpusConfig(), 7, kContext + 1);
  const data::Tokenizer tokenizer;
  CHECK(source.vocab_size() == tokenizer.vocab_size());
  CHECK(source.tokenizer_version() == std::string(data::Tokenizer::kVersion));
  Generator rng(11);
  int packed = 0;
  for (int s = 0; s < 20; ++s) {
    const TokenSequence seq = source.next(rng);
    REQUIRE(seq.tokens.size() >= 2);
    CHECK(seq.tokens.size() <= (size_t)kContext + 1);
    REQUIRE(seq.loss_mask.size() == seq.tokens.size());
    for (float m : seq.loss_mask) CHECK(m == 1.0f);
    CHECK(seq.tokens[0] == data::Tokenizer::kBos);
    const std::vector<std::vector<int>> docs = split_documents(seq.tokens);
    for (const std::vector<int>& doc : docs) {
      CHECK(doc.back() == data::Tokenizer::kEos);
      // <eos> only at the end, <pad> nowhere: documents are whole and unpadded.
      for (size_t i = 0; i + 1 < doc.size(); ++i) CHECK(doc[i] != data::Tokenizer::kEos);
      for (int t : doc) CHECK(t != data::Tokenizer::kPad);
    }
    packed += docs.size() > 1;
  }
  CHECK(packed > 10);  // documents of 20-250 tokens: most sequences hold several
}

TEST_CASE("CorpusSource stops packing at the first document that does not fit") {
  const data::CorpusConfig config;
  const uint64_t seed = 3;
  CorpusSource source(config, seed, kContext + 1);
  const data::Corpus corpus(config, seed);
  const data::Tokenizer tokenizer;
  Generator rng(5);
  for (int s = 0; s < 5; ++s) {
    Generator replay = rng;
    const TokenSequence seq = source.next(rng);
    // Redraw the same indices: the documents in the sequence, then the one that overflowed.
    std::vector<int> expected;
    while (true) {
      const std::vector<int> doc = tokenizer.encode(corpus.document_at(replay.next_u64()).text());
      if (expected.size() + doc.size() > (size_t)kContext + 1) break;
      expected.insert(expected.end(), doc.begin(), doc.end());
    }
    CHECK(seq.tokens == expected);
    // The generator is left just past the dropped document, as the replay is.
    CHECK(rng.offset() == replay.offset());
  }
}

TEST_CASE("CorpusSource draws every choice from the generator") {
  CorpusSource a(data::CorpusConfig(), 9, kContext + 1);
  CorpusSource b(data::CorpusConfig(), 9, kContext + 1);
  Generator rng_a(21), rng_b(21);
  for (int i = 0; i < 3; ++i) a.next(rng_a);
  Generator resumed(0);
  resumed.set_state(rng_a.seed(), rng_a.offset());
  const TokenSequence after = a.next(rng_a);
  CHECK(b.next(resumed).tokens == after.tokens);  // a fresh source, the same rng state
  Generator other(22);
  CHECK(b.next(other).tokens != after.tokens);
}

TEST_CASE("CorpusSource refuses a document longer than the context") {
  const int context = 16;
  CorpusSource source(data::CorpusConfig(), 1, context + 1);
  Generator rng(1);
  try {
    source.next(rng);
    FAIL("expected a throw");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    CHECK(message.find("tokens") != std::string::npos);
    CHECK(message.find("context 16") != std::string::npos);
  }
}

TEST_CASE("make_batch pads packed sequences with <pad> and mask 0") {
  CorpusSource source(data::CorpusConfig(), 2, kContext + 1);
  GPTConfig config{source.vocab_size(), kContext, 16, 1, 2};
  Generator rng(3), replay(3);
  const TokenBatch batch = make_batch(source, rng, 4, config, Device::CPU);
  const std::vector<float> tokens = batch.tokens.to_vector(), mask = batch.mask.to_vector();
  const int64_t T = batch.tokens.shape()[1];
  int64_t real = 0;
  for (int b = 0; b < 4; ++b) {
    const TokenSequence seq = source.next(replay);
    real += (int64_t)seq.tokens.size() - 1;
    for (int64_t t = (int64_t)seq.tokens.size() - 1; t < T; ++t) {
      CHECK(tokens[(size_t)(b * T + t)] == (float)data::Tokenizer::kPad);
      CHECK(mask[(size_t)(b * T + t)] == 0.0f);
    }
  }
  CHECK(batch.real_tokens == real);  // padding is not counted as tokens trained on
}

TEST_CASE("corpus_for_task") {
  SUBCASE("all keeps the three tasks") {
    const data::CorpusConfig config = corpus_for_task("all", "");
    for (double share : config.task_shares) CHECK(share == 1.0);
  }
  SUBCASE("one task zeroes the others") {
    const data::CorpusConfig config = corpus_for_task("mul", "");
    CHECK(config.task_shares[(int)data::TaskKind::Add] == 0.0);
    CHECK(config.task_shares[(int)data::TaskKind::Mul] == 1.0);
    CHECK(config.task_shares[(int)data::TaskKind::Countdown] == 0.0);
  }
  SUBCASE("the mix sets styles and noise") {
    const data::CorpusConfig config = corpus_for_task("add", "steps=0.5,noise=0,add=2");
    CHECK(config.style_shares[(int)data::Style::Steps] == 0.5);
    CHECK(config.noise_share == 0.0);
    CHECK(config.task_shares[(int)data::TaskKind::Add] == 2.0);
    CHECK(config.task_shares[(int)data::TaskKind::Mul] == 0.0);
  }
  SUBCASE("errors name the value") {
    CHECK_THROWS_WITH(corpus_for_task("sub", ""), doctest::Contains("sub"));
    CHECK_THROWS_WITH(corpus_for_task("add", "mul=1"), doctest::Contains("mul"));
    CHECK_THROWS_WITH(corpus_for_task("all", "bogus=1"), doctest::Contains("bogus"));
  }
}

// `aha run --preset P` pretrains at the preset's context on its default
// task's corpus (difficulties as the preset says): every document must fit,
// or pretraining stops at the first one that does not.
TEST_CASE("every run preset's context holds every document of its default task's corpus") {
  const data::Tokenizer tokenizer;
  for (const RunPreset& preset : run_presets()) {
    const int context = preset.context ? preset.context : find_preset(preset.name).model.context;
    data::CorpusConfig corpus = corpus_for_task(preset.default_task, "");
    const data::TaskKind task = data::parse_task(preset.default_task);
    if (!preset.difficulties.empty()) corpus.difficulties[(int)task] = preset.difficulties;
    corpus.style_shares = {1, 1, 1, 1};  // the long styles as often as the short
    corpus.slip_share = 0.5;
    const data::Corpus docs(corpus, 3);
    int longest = 0;
    for (uint64_t i = 0; i < 4000; ++i)
      longest = std::max(longest, tokenizer.count(docs.document_at(i).text()));
    INFO(preset.name, " (", preset.default_task, "): longest document ", longest, " tokens, context ", context);
    CHECK(longest + 1 <= context + 1);
    CHECK(longest > context * 3 / 4);  // and the context is not far too large
  }
}
