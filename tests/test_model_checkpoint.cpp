// Checkpoints (model/safetensors.h, model/checkpoint.h): the byte layout, the
// round trip of a model and its optimiser, atomic writes, and a clear error
// for every kind of bad file (written by hand into a temporary folder).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/adamw.h"
#include "model/checkpoint.h"

using namespace aha;
namespace fs = std::filesystem;

namespace {

// A fresh, empty folder under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("aha_test_ckpt_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), (std::streamsize)bytes.size());
}

// A safetensors file from a header (as JSON text) and a data section.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

GPTConfig tiny_config() { return GPTConfig{7, 8, 8, 1, 2}; }

GPT trained_a_step(AdamW*& optimizer_out, std::unique_ptr<AdamW>& holder) {
  GPT model(tiny_config());
  Generator gen(3);
  model.init_weights(gen);
  holder = std::make_unique<AdamW>(model.params(), AdamWConfig{}, model.decay_mask());
  Tensor tokens = Tensor::from_vector({1, 2, 3, 4, 5, 6}, Shape{1, 6});
  model.loss(tokens, tokens, Tensor::ones(Shape{1, 6})).backward();
  holder->step(1e-2f);
  optimizer_out = holder.get();
  return model;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  return std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("safetensors layout: 8-byte length, JSON header padded to 8, contiguous little-endian data") {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  Tensor a = Tensor::from_vector({1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f}, Shape{2, 3});
  Tensor b = Tensor::scalar(7.0f);
  write_safetensors(path, {{"a", a}, {"b", b}}, {{"note", "hello"}});
  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK((8 + n) % 8 == 0);
  REQUIRE(bytes.size() == 8 + n + 7 * sizeof(float));
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["__metadata__"]["note"] == "hello");
  CHECK(header["a"]["dtype"] == "F32");
  CHECK(header["a"]["shape"] == nlohmann::json::array({2, 3}));
  CHECK(header["a"]["data_offsets"] == nlohmann::json::array({0, 24}));
  CHECK(header["b"]["shape"] == nlohmann::json::array());
  CHECK(header["b"]["data_offsets"] == nlohmann::json::array({24, 28}));
  float third;
  std::memcpy(&third, bytes.data() + 8 + n + 2 * sizeof(float), sizeof(float));
  CHECK(third == 3.25f);

  SafetensorsFile back = read_safetensors(path);
  CHECK(back.metadata.at("note") == "hello");
  CHECK(same_bits(back.get("a"), a));
  CHECK(same_bits(back.get("b"), b));
  CHECK_THROWS_WITH_AS(back.get("c"), doctest::Contains("no tensor named 'c'"), std::runtime_error);
  CHECK_THROWS_WITH_AS(write_safetensors(path, {{"a", a}, {"a", b}}), doctest::Contains("repeated"),
                       std::runtime_error);
}

TEST_CASE("checkpoint round trip: parameters, config, tokenizer, metadata and optimiser state, bit for bit") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  AdamW* optimizer = nullptr;
  std::unique_ptr<AdamW> holder;
  GPT model = trained_a_step(optimizer, holder);
  save_checkpoint(path, model, "char-v1:616263", {{"train.step", "1"}}, optimizer);

  Checkpoint ckpt = Checkpoint::read(path);
  CHECK(ckpt.config() == model.config());
  CHECK(ckpt.tokenizer() == "char-v1:616263");
  CHECK(ckpt.metadata_value("train.step") == "1");
  CHECK(ckpt.metadata_value("format") == kCheckpointFormat);
  CHECK_THROWS_WITH_AS(ckpt.metadata_value("nope"), doctest::Contains("metadata has no 'nope'"), std::runtime_error);
  GPT loaded = ckpt.load_model(Device::CPU);
  for (size_t i = 0; i < model.named_params().size(); ++i)
    CHECK(same_bits(loaded.named_params()[i].var.value(), model.named_params()[i].var.value()));

  REQUIRE(ckpt.has_optimizer());
  AdamW restored(loaded.params(), AdamWConfig{}, loaded.decay_mask());
  ckpt.load_optimizer_into(restored, loaded);
  CHECK(restored.steps() == 1);
  for (size_t i = 0; i < model.named_params().size(); ++i) {
    CHECK(same_bits(restored.first_moments()[i], optimizer->first_moments()[i]));
    CHECK(same_bits(restored.second_moments()[i], optimizer->second_moments()[i]));
  }
  // A model-only checkpoint has no optimiser state, and says so.
  save_checkpoint(path, model, "char-v1:616263");
  CHECK_FALSE(Checkpoint::read(path).has_optimizer());
  CHECK_THROWS_WITH_AS(Checkpoint::read(path).load_optimizer_into(restored, loaded),
                       doctest::Contains("no optimizer state"), std::runtime_error);
}

TEST_CASE("checkpoint writes are atomic") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  GPT model(tiny_config());
  Generator gen(1);
  model.init_weights(gen);
  save_checkpoint(path, model, "tok");
  SUBCASE("no temporary file is left after a successful write") {
    save_checkpoint(path, model, "tok");  // overwrite
    CHECK(dir.listing() == std::vector<std::string>{"model.safetensors"});
  }
  SUBCASE("a write that fails midway leaves the previous file intact and no temporary file") {
    const std::string before = read_bytes(path);
    GPT bigger(GPTConfig{7, 8, 32, 2, 2});
    // The OS refuses to let this process grow any file past 4 KiB: the write
    // of the bigger checkpoint fails partway, as on a full disk.
    struct rlimit old_limit;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    struct rlimit small = old_limit;
    small.rlim_cur = 4096;
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    bool threw = false;
    std::string message;
    try {
      save_checkpoint(path, bigger, "tok");
    } catch (const std::runtime_error& e) {
      threw = true;
      message = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
    CHECK(threw);
    CHECK(message.find("write failed") != std::string::npos);
    CHECK(read_bytes(path) == before);
    CHECK(dir.listing() == std::vector<std::string>{"model.safetensors"});
    CHECK(Checkpoint::read(path).config() == tiny_config());
  }
  SUBCASE("a folder that does not exist is an error, and nothing is created") {
    CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("missing/model.safetensors"), model, "tok"),
                         doctest::Contains("cannot create temporary file"), std::runtime_error);
    CHECK(dir.listing() == std::vector<std::string>{"model.safetensors"});
  }
}

TEST_CASE("bad checkpoint files give clear errors, never a crash") {
  TempDir dir;
  const std::string good = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  GPT model(tiny_config());
  save_checkpoint(good, model, "tok");
  const std::string bytes = read_bytes(good);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const std::string header = bytes.substr(8, n), data = bytes.substr(8 + n);
  const std::string one_tensor_data(16, '\0');
  auto expect_error = [&](const std::string& file_bytes, const std::string& fragment) {
    write_bytes(bad, file_bytes);
    CAPTURE(fragment);
    CHECK_THROWS_WITH_AS(Checkpoint::read(bad).load_model(Device::CPU), doctest::Contains(fragment.c_str()),
                         std::runtime_error);
  };

  SUBCASE("missing file") {
    CHECK_THROWS_WITH_AS(Checkpoint::read(dir.file("nope.safetensors")), doctest::Contains("cannot open"),
                         std::runtime_error);
  }
  SUBCASE("shorter than the length field") { expect_error(bytes.substr(0, 5), "truncated: 5 bytes"); }
  SUBCASE("header length beyond the file") { expect_error(bytes.substr(0, 8 + n / 2), "goes beyond the file"); }
  SUBCASE("data cut short: offsets out of range") {
    expect_error(bytes.substr(0, bytes.size() - 4), "out of range");
  }
  SUBCASE("bad header JSON") { expect_error(safetensors_bytes("{\"a\": [1, 2", ""), "bad header JSON"); }
  SUBCASE("header not an object") { expect_error(safetensors_bytes("[1, 2]    ", ""), "not an object"); }
  SUBCASE("wrong dtype") {
    expect_error(safetensors_bytes(R"({"x": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})", "abcd"),
                 "dtype \"F16\" is not supported");
  }
  SUBCASE("offsets that do not match the shape") {
    expect_error(safetensors_bytes(R"({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}})",
                                   one_tensor_data),
                 "needs 12");
  }
  SUBCASE("malformed shape") {
    expect_error(safetensors_bytes(R"({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 16]}})",
                                   one_tensor_data),
                 "bad size");
    expect_error(safetensors_bytes(R"({"x": {"dtype": "F32", "shape": [1,1,1,1,4], "data_offsets": [0, 16]}})",
                                   one_tensor_data),
                 "at most 4 sizes");
  }
  SUBCASE("not an aha checkpoint") {
    expect_error(safetensors_bytes(R"({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
                                   one_tensor_data),
                 "not an aha GPT checkpoint");
  }
  SUBCASE("bad config in the metadata") {
    nlohmann::json h = nlohmann::json::parse(header);
    h["__metadata__"]["config"] = R"({"vocab_size": 7, "context": 8})";
    expect_error(safetensors_bytes(h.dump(), data), "missing field 'd_model'");
  }
  SUBCASE("a parameter with the wrong shape") {
    nlohmann::json h = nlohmann::json::parse(header);
    h["ln_f.weight"]["shape"] = {2, 4};  // same byte count, wrong shape
    expect_error(safetensors_bytes(h.dump(), data), "tensor 'ln_f.weight' has shape [2, 4] but the model needs [8]");
  }
  SUBCASE("a missing parameter") {
    nlohmann::json h = nlohmann::json::parse(header);
    // Its bytes go too (the last of the file): the offsets must cover the data exactly.
    const uint64_t begin = h["ln_f.bias"]["data_offsets"][0];
    h.erase("ln_f.bias");
    expect_error(safetensors_bytes(h.dump(), data.substr(0, begin)), "missing tensor 'ln_f.bias'");
  }
  SUBCASE("loading into a model of another config") {
    GPT other(GPTConfig{7, 8, 16, 1, 2});
    CHECK_THROWS_WITH_AS(Checkpoint::read(good).load_model_into(other), doctest::Contains("config mismatch"),
                         std::runtime_error);
  }
  SUBCASE("every error names the file") {
    write_bytes(bad, "short");
    CHECK_THROWS_WITH_AS(Checkpoint::read(bad), doctest::Contains(bad.c_str()), std::runtime_error);
  }
}

TEST_CASE("the config JSON round-trips and the presets are the issue's") {
  GPTConfig c{65, 256, 384, 6, 6};
  CHECK(gpt_config_from_json(to_json(c)) == c);
  TrainConfig t;
  t.seed = 18446744073709551615ull;  // the largest seed survives (stored as a string)
  t.lr = 3e-4f;
  CHECK(train_config_from_json(to_json(t)) == t);
  CHECK(find_preset("cpu-tiny").model.d_model == 128);
  CHECK(find_preset("cpu-tiny").model.n_layers == 4);
  CHECK(find_preset("gpu-small").model.d_model == 384);
  CHECK(find_preset("gpu-small").model.n_heads == 6);
  CHECK(find_preset("gpu-medium").model.n_layers == 12);
  CHECK_THROWS_WITH_AS(find_preset("huge"), doctest::Contains("presets: cpu-tiny, gpu-small, gpu-medium"),
                       std::runtime_error);
}
