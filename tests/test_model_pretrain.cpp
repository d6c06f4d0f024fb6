// Pretraining (model/pretrain.h): batches and their loss mask, the learning
// rate schedule, the character-level source, an exact resume, and a small
// model that actually learns.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/char_text.h"
#include "model/checkpoint.h"
#include "model/lr_schedule.h"
#include "model/pretrain.h"

using namespace aha;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("aha_test_pretrain_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Hands out fixed sequences in turn (and ignores the generator).
class FixedSource : public SequenceSource {
 public:
  explicit FixedSource(std::vector<TokenSequence> seqs) : seqs_(std::move(seqs)) {}
  TokenSequence next(Generator&) override { return seqs_[next_++ % seqs_.size()]; }
  int vocab_size() const override { return 10; }
  std::string tokenizer_version() const override { return "fixed"; }

 private:
  std::vector<TokenSequence> seqs_;
  size_t next_ = 0;
};

const char* kText =
    "the cat sat on the mat. the dog sat on the log. the cat saw the dog. "
    "the dog saw the cat. a cat and a dog sat on a mat and a log.\n";

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  return std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("make_batch: inputs, shifted targets, the loss mask of the targets, right padding") {
  FixedSource source({{{1, 2, 3, 4}, {1, 1, 0, 1}}, {{5, 6}, {1, 1}}});
  Generator gen(0);
  TokenBatch batch = make_batch(source, gen, 2, GPTConfig{10, 8, 8, 1, 1}, Device::CPU);
  CHECK(batch.tokens.shape() == Shape{2, 3});
  CHECK(batch.tokens.to_vector() == std::vector<float>{1, 2, 3, 5, 0, 0});
  CHECK(batch.targets.to_vector() == std::vector<float>{2, 3, 4, 6, 0, 0});
  CHECK(batch.mask.to_vector() == std::vector<float>{1, 0, 1, 1, 0, 0});
  CHECK(batch.real_tokens == 4);

  FixedSource too_long({{std::vector<int>(10, 1), std::vector<float>(10, 1.0f)}});
  CHECK_THROWS_WITH_AS(make_batch(too_long, gen, 1, GPTConfig{10, 8, 8, 1, 1}, Device::CPU),
                       doctest::Contains("need 2 .. context + 1 = 9"), std::runtime_error);
  FixedSource bad_mask({{{1, 2, 3}, {1, 1}}});
  CHECK_THROWS_WITH_AS(make_batch(bad_mask, gen, 1, GPTConfig{10, 8, 8, 1, 1}, Device::CPU),
                       doctest::Contains("loss_mask"), std::runtime_error);
}

TEST_CASE("learning rate: linear warmup to the peak, then a cosine down to the floor") {
  const int total = 110, warmup = 10;
  const float peak = 1e-3f, floor = 1e-4f;
  CHECK(warmup_cosine_lr(1, total, warmup, peak, floor) == doctest::Approx(1e-4));
  CHECK(warmup_cosine_lr(5, total, warmup, peak, floor) == doctest::Approx(5e-4));
  CHECK(warmup_cosine_lr(10, total, warmup, peak, floor) == doctest::Approx(peak));
  CHECK(warmup_cosine_lr(60, total, warmup, peak, floor) == doctest::Approx((peak + floor) / 2));
  CHECK(warmup_cosine_lr(110, total, warmup, peak, floor) == doctest::Approx(floor));
  CHECK(warmup_cosine_lr(200, total, warmup, peak, floor) == doctest::Approx(floor));
  for (int s = warmup + 1; s < total; ++s)
    CHECK(warmup_cosine_lr(s + 1, total, warmup, peak, floor) <= warmup_cosine_lr(s, total, warmup, peak, floor));
  CHECK(warmup_cosine_lr(1, total, 0, peak, floor) == doctest::Approx(peak).epsilon(1e-3));
}

TEST_CASE("character text: vocabulary, version string, encode/decode, random windows") {
  CharVocab vocab = CharVocab::from_text("hello world");
  CHECK(vocab.vocab_size() == 8);  // ' ' d e h l o r w
  CHECK(vocab.encode("hold") == std::vector<int>{3, 5, 4, 1});
  CHECK(vocab.decode(vocab.encode("world hello")) == "world hello");
  CHECK(vocab.version() == "char-v1:206465686c6f7277");
  CharVocab back = CharVocab::from_version(vocab.version());
  CHECK(back.encode("hello") == vocab.encode("hello"));
  CHECK_THROWS_WITH_AS(vocab.encode("hex"), doctest::Contains("byte 0x78 ('x') at offset 2"), std::runtime_error);
  CHECK_THROWS_WITH_AS(CharVocab::from_version("arith-v1"), doctest::Contains("not a character vocabulary"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(CharVocab::from_version("char-v1:2g"), doctest::Contains("malformed"), std::runtime_error);

  CharTextSource source("hello world", vocab, 4);
  Generator gen(1);
  for (int i = 0; i < 20; ++i) {
    TokenSequence s = source.next(gen);
    REQUIRE(s.tokens.size() == 4);
    CHECK(std::string("hello world").find(vocab.decode(s.tokens)) != std::string::npos);
    CHECK(s.loss_mask == std::vector<float>(4, 1.0f));
  }
  auto [train, val] = split_train_val("abcdefghijklmnopqrst", 0.1);
  CHECK(train == "abcdefghijklmnopqr");
  CHECK(val == "st");
}

// R1-Zero's pipeline needs resumable pretraining: N steps in one run must be
// bit-for-bit the same as K steps, a resume, and N - K more.
TEST_CASE("a resumed run continues exactly where the interrupted one would have gone") {
  TempDir dir("resume");
  CharVocab vocab = CharVocab::from_text(kText);
  GPTConfig model{vocab.vocab_size(), 16, 16, 2, 2};
  TrainConfig train;
  train.batch_size = 4;
  train.grad_accum = 2;
  train.steps = 8;
  train.warmup_steps = 2;
  train.eval_every = 3;
  train.eval_batches = 1;
  train.ckpt_every = 100;
  train.seed = 77;
  auto run = [&](const std::string& out, const std::string& resume, int stop_at) {
    CharTextSource data(kText, vocab, model.context + 1);
    CharTextSource val(kText, vocab, model.context + 1);
    PretrainOptions o;
    o.out_path = out;
    o.log_path = out + ".jsonl";
    o.resume_path = resume;
    o.stop_at = stop_at;
    o.progress = false;
    return pretrain(model, train, data, &val, Device::CPU, o);
  };
  const std::string whole = dir.file("whole.safetensors"), part = dir.file("part.safetensors"),
                    resumed = dir.file("resumed.safetensors");
  PretrainResult a = run(whole, "", 0);
  PretrainResult b = run(part, "", 3);
  CHECK(b.last_step == 3);
  CHECK(Checkpoint::read(part).metadata_value("train.step") == "3");
  PretrainResult c = run(resumed, part, 0);
  CHECK(c.last_step == 8);
  CHECK(c.train_loss == a.train_loss);
  CHECK(c.val_loss == a.val_loss);

  SafetensorsFile fa = read_safetensors(whole), fc = read_safetensors(resumed);
  REQUIRE(fa.tensors.size() == fc.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i) {
    CAPTURE(fa.tensors[i].first);
    CHECK(fa.tensors[i].first == fc.tensors[i].first);
    CHECK(same_bits(fa.tensors[i].second, fc.tensors[i].second));  // parameters and AdamW moments
  }
  auto log_a = read_jsonl(whole + ".jsonl"), log_b = read_jsonl(part + ".jsonl"),
       log_c = read_jsonl(resumed + ".jsonl");
  REQUIRE(log_a.size() == 8);
  REQUIRE(log_b.size() == 3);
  REQUIRE(log_c.size() == 5);
  for (int s = 0; s < 8; ++s) {
    const nlohmann::json& other = s < 3 ? log_b[(size_t)s] : log_c[(size_t)s - 3];
    CHECK(other["step"] == s + 1);
    CHECK(other["loss"].get<double>() == log_a[(size_t)s]["loss"].get<double>());
    CHECK(other["grad_norm"].get<double>() == log_a[(size_t)s]["grad_norm"].get<double>());
  }
  CHECK(log_a[2].contains("val_loss"));  // step 3: eval_every
  CHECK_FALSE(log_a[3].contains("val_loss"));

  SUBCASE("a resume with another model or training config is refused") {
    CharTextSource data(kText, vocab, model.context + 1);
    PretrainOptions o;
    o.out_path = dir.file("x.safetensors");
    o.resume_path = part;
    o.progress = false;
    GPTConfig wider = model;
    wider.d_model = 32;
    CHECK_THROWS_WITH_AS(pretrain(wider, train, data, nullptr, Device::CPU, o), doctest::Contains("config mismatch"),
                         std::runtime_error);
    TrainConfig other = train;
    other.lr = 5e-3f;
    CHECK_THROWS_WITH_AS(pretrain(model, other, data, nullptr, Device::CPU, o),
                         doctest::Contains("training config mismatch"), std::runtime_error);
    o.resume_path = whole;  // already at its last step
    CHECK_THROWS_WITH_AS(pretrain(model, train, data, nullptr, Device::CPU, o), doctest::Contains("already at step 8"),
                         std::runtime_error);
  }
}

// The learning test: from about ln(V) to well below it, in seconds.
TEST_CASE("a tiny GPT learns a small fixed text: the loss falls from about ln V to well below") {
  TempDir dir("learn");
  CharVocab vocab = CharVocab::from_text(kText);
  GPTConfig model{vocab.vocab_size(), 32, 32, 2, 2};
  TrainConfig train;
  train.batch_size = 8;
  train.steps = 150;
  train.lr = 1e-2f;
  train.min_lr = 1e-3f;
  train.warmup_steps = 10;
  train.weight_decay = 0.0f;
  train.eval_every = 1000;
  train.ckpt_every = 1000;
  train.seed = 3;
  CharTextSource data(kText, vocab, model.context + 1);
  PretrainOptions o;
  o.out_path = dir.file("tiny.safetensors");
  o.log_path = dir.file("tiny.jsonl");
  o.progress = false;
  PretrainResult r = pretrain(model, train, data, nullptr, Device::CPU, o);
  auto log = read_jsonl(o.log_path);
  REQUIRE(log.size() == 150);
  const double ln_v = std::log((double)vocab.vocab_size());
  const double first = log[0]["loss"].get<double>();
  MESSAGE("loss: first " << first << ", last " << r.train_loss << ", ln V " << ln_v);
  CHECK(first == doctest::Approx(ln_v).epsilon(0.05));
  CHECK(r.train_loss < 0.4 * ln_v);
  CHECK(Checkpoint::read(o.out_path).metadata_value("train.step") == "150");
}
