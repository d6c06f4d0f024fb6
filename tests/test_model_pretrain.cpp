// Pretraining (model/pretrain.h): batches and their loss mask, the learning
// rate schedule, the character-level source, an exact resume, and a small
// model that actually learns.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
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

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool has_temp_files(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp") != std::string::npos) return true;
  return false;
}

// A tiny character model and its training knobs, for the guards below.
struct TinyRun {
  CharVocab vocab = CharVocab::from_text(kText);
  GPTConfig model{vocab.vocab_size(), 16, 16, 1, 2};
  TrainConfig train;
  TinyRun() {
    train.batch_size = 2;
    train.steps = 4;
    train.warmup_steps = 0;
    train.eval_every = 100;
    train.ckpt_every = 100;
    train.seed = 5;
  }
  PretrainResult run(PretrainOptions o) const {
    CharTextSource data(kText, vocab, model.context + 1);
    o.progress = false;
    return pretrain(model, train, data, nullptr, Device::CPU, o);
  }
};

}  // namespace

TEST_CASE("a NaN or infinite loss stops pretraining, naming the step, and keeps the last good checkpoint") {
  TempDir dir("nan");
  TinyRun tiny;
  PretrainOptions o;
  o.out_path = dir.file("base.safetensors");
  o.log_path = dir.file("base.jsonl");
  tiny.run(o);  // a good checkpoint of step 4
  const std::string good = file_bytes(o.out_path);
  REQUIRE(!good.empty());

  // The probe: `aha pretrain --lr 1e30` once overwrote its checkpoint
  // with NaN weights and exited 0. The first step throws the weights to
  // ~1e30; the second step's loss is no longer a number.
  TinyRun wild = tiny;
  wild.train.lr = 1e30f;
  wild.train.min_lr = 1e29f;
  CHECK_THROWS_WITH_AS(wild.run(o),
                       doctest::Contains(("pretrain: step 2: the loss is NaN; stopping (the last good checkpoint '" +
                                          o.out_path + "' is kept").c_str()),
                       std::runtime_error);
  CHECK(file_bytes(o.out_path) == good);
  CHECK(read_jsonl(o.log_path).size() == 1);  // step 1 only: the failed step logs nothing
  CHECK_FALSE(has_temp_files(dir.path));
}

TEST_CASE("pretraining refuses, before any work, outputs that would destroy its input or could not be written") {
  TempDir dir("outputs");
  TinyRun tiny;
  PretrainOptions o;
  o.out_path = dir.file("base.safetensors");
  o.stop_at = 2;
  tiny.run(o);
  const std::string saved = file_bytes(o.out_path);

  PretrainOptions resume;
  resume.resume_path = o.out_path;
  SUBCASE("--log is the checkpoint resumed from") {
    resume.out_path = dir.file("more.safetensors");
    resume.log_path = o.out_path;
    CHECK_THROWS_WITH_AS(tiny.run(resume),
                         doctest::Contains(("pretrain: --log '" + o.out_path + "' is the same file as --resume").c_str()),
                         std::runtime_error);
    CHECK_FALSE(fs::exists(resume.out_path));
  }
  SUBCASE("--log is --out") {
    resume.out_path = dir.file("more.safetensors");
    resume.log_path = dir.file("more.safetensors");
    CHECK_THROWS_WITH_AS(tiny.run(resume), doctest::Contains("--out and --log are the same file"),
                         std::runtime_error);
  }
  SUBCASE("--out's folder cannot be made: found now, not at the first save") {
    resume.out_path = o.out_path + "/sub/more.safetensors";  // inside a regular file
    CHECK_THROWS_WITH_AS(tiny.run(resume), doctest::Contains("cannot make its folder"), std::runtime_error);
  }
  bool in_place = false;
  SUBCASE("--resume X --out X continues in place") {
    resume.out_path = o.out_path;
    CHECK(tiny.run(resume).last_step == 4);
    CHECK(Checkpoint::read(o.out_path).metadata_value("train.step") == "4");
    in_place = true;
  }
  if (!in_place) CHECK(file_bytes(o.out_path) == saved);
  CHECK_FALSE(has_temp_files(dir.path));
}

TEST_CASE("pretraining sizes are checked in 64 bits before anything is allocated; counters are range-checked") {
  TempDir dir("limits");
  TinyRun tiny;
  PretrainOptions o;
  o.out_path = dir.file("base.safetensors");
  TinyRun huge = tiny;
  huge.train.batch_size = 1 << 30;  // the probe: it grew to std::bad_alloc
  CHECK_THROWS_WITH_AS(huge.run(o),
                       doctest::Contains("--batch-size 1073741824 x --context 16 = 17179869184 tokens per "
                                         "micro-batch, more than the limit"),
                       std::runtime_error);
  o.stop_at = 9;
  CHECK_THROWS_WITH_AS(tiny.run(o), doctest::Contains("--stop-at 9 is beyond the run's 4 --steps"),
                       std::runtime_error);
  CHECK_FALSE(fs::exists(o.out_path));

  // A step counter beyond the run's own length (it would run for ever).
  o.stop_at = 2;
  tiny.run(o);
  SafetensorsFile file = read_safetensors(o.out_path);
  file.metadata["train.step"] = "2147483648";
  const std::string bad = dir.file("bad.safetensors");
  write_safetensors(bad, file.tensors, file.metadata);
  PretrainOptions resume;
  resume.out_path = dir.file("more.safetensors");
  resume.resume_path = bad;
  CHECK_THROWS_WITH_AS(tiny.run(resume), doctest::Contains("'train.step' = '2147483648' is out of range [1, 4]"),
                       std::runtime_error);
}

TEST_CASE("a resumed run's log holds each step once, whatever the interrupted run logged after its last save") {
  TempDir dir("log");
  TinyRun tiny;
  tiny.train.steps = 6;
  PretrainOptions whole;
  whole.out_path = dir.file("whole.safetensors");
  whole.log_path = dir.file("whole.jsonl");
  tiny.run(whole);

  // Interrupted after step 5, with its last checkpoint at step 3: steps 4 and
  // 5 are in the log but not in the checkpoint.
  PretrainOptions part;
  part.out_path = dir.file("part.safetensors");
  part.log_path = dir.file("part.jsonl");
  part.stop_at = 3;
  tiny.run(part);
  fs::copy_file(part.out_path, dir.file("step3.safetensors"));
  part.resume_path = part.out_path;
  part.stop_at = 5;
  tiny.run(part);
  std::ofstream(part.log_path, std::ios::app) << "{\"step\": 6, \"lo";  // and a line torn by the kill
  REQUIRE(read_jsonl(dir.file("whole.jsonl")).size() == 6);

  part.resume_path = dir.file("step3.safetensors");
  part.stop_at = 0;
  tiny.run(part);
  const auto a = read_jsonl(whole.log_path), b = read_jsonl(part.log_path);  // every line parses
  REQUIRE(b.size() == 6);
  for (size_t s = 0; s < 6; ++s) {
    CHECK(b[s]["step"] == (int)s + 1);
    CHECK(b[s]["loss"].get<double>() == a[s]["loss"].get<double>());
  }
  CHECK_FALSE(has_temp_files(dir.path));
}
