// Hostile checkpoints (issue 19): a valid checkpoint is written, then taken
// apart byte by byte and put together wrong, one file per kind of attack.
// Each must be refused by Checkpoint::read, before any model is built, with
// a message that names the file and the field, tensor or rule at fault.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/char_text.h"
#include "model/checkpoint.h"
#include "model/metadata_field.h"
#include "model/pretrain.h"

using namespace aha;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("aha_test_hostile_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), (std::streamsize)bytes.size());
}

// The format, byte by byte: N as 8 little-endian bytes, N bytes of header, the data.
std::string assemble(uint64_t header_length, const std::string& header, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += (char)((header_length >> (8 * i)) & 0xff);
  return out + header + data;
}
std::string assemble(const std::string& header, const std::string& data) {
  return assemble(header.size(), header, data);
}

// A valid checkpoint of a 2-block GPT with its AdamW state, taken apart.
struct Parts {
  nlohmann::json header;
  std::string data;
  std::string bytes() const { return assemble(header.dump(), data); }
  uint64_t begin(const std::string& name) const { return header[name]["data_offsets"][0]; }
  uint64_t end(const std::string& name) const { return header[name]["data_offsets"][1]; }
};

const GPTConfig kConfig{7, 8, 8, 2, 2};

Parts valid_parts(const TempDir& dir) {
  const std::string path = dir.file("valid.safetensors");
  GPT model(kConfig);
  Generator gen(5);
  model.init_weights(gen);
  AdamW optimizer(model.params(), AdamWConfig{}, model.decay_mask());
  save_checkpoint(path, model, "tok", {{"train.step", "3"}, {"train.rng_seed", "9"}}, &optimizer);
  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)(unsigned char)bytes[(size_t)i] << (8 * i);
  return Parts{nlohmann::json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

// The error of Checkpoint::read on `bytes` written to `path`, or "" when it loads.
std::string read_error(const std::string& path, const std::string& bytes) {
  write_bytes(path, bytes);
  try {
    Checkpoint::read(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("hostile checkpoints: the valid one the others are made from loads") {
  TempDir dir;
  const Parts parts = valid_parts(dir);
  CHECK(read_error(dir.file("same.safetensors"), parts.bytes()) == "");
  const Checkpoint ckpt = Checkpoint::read(dir.file("same.safetensors"));
  CHECK(ckpt.config() == kConfig);
  CHECK(ckpt.has_optimizer());
  CHECK(ckpt.metadata_int("train.step", 0, INT_MAX) == 3);
  CHECK(ckpt.metadata_u64("train.rng_seed") == 9);
}

// The GPT's parameters, as GPT::named_params() makes them, and the list the
// header is checked against (model/checkpoint_layout.h) are two spellings of
// one thing: they must agree name for name and shape for shape.
TEST_CASE("the parameters a config implies are exactly the model's, in order") {
  for (const GPTConfig& config : {kConfig, GPTConfig{65, 256, 128, 4, 4}}) {
    CAPTURE(config.str());
    GPT model(config);
    const auto& named = model.named_params();
    REQUIRE((int64_t)named.size() == gpt_param_count(config));
    for (size_t i = 0; i < named.size(); ++i) {
      const ParamSpec spec = gpt_param_spec(config, (int64_t)i);
      CHECK(spec.name == named[i].name);
      CHECK(Shape(spec.shape) == named[i].var.shape());
    }
  }
}

TEST_CASE("hostile checkpoints: a config the tensors do not match is refused before a model is built") {
  TempDir dir;
  const Parts valid = valid_parts(dir);
  const std::string path = dir.file("bad.safetensors");
  // The stored config, with one field changed.
  auto with_config = [&](const char* field, const nlohmann::json& value) {
    Parts p = valid;
    nlohmann::json config = nlohmann::json::parse(p.header["__metadata__"]["config"].get<std::string>());
    config[field] = value;
    p.header["__metadata__"]["config"] = config.dump();
    return read_error(path, p.bytes());
  };

  SUBCASE("n_layers = 10^6 in a file of 2 blocks: refused by Checkpoint::read itself, naming the field") {
    // Before the fix the model was built from this config first (10^6 blocks).
    const std::string error = with_config("n_layers", 1000000);
    CAPTURE(error);
    CHECK(contains(error, path));
    CHECK(contains(error, "field 'n_layers' = 1000000"));
    CHECK(contains(error, "no tensor 'h.2.ln_1.weight'"));
  }
  SUBCASE("fewer blocks than the file holds") {
    const std::string error = with_config("n_layers", 1);
    CAPTURE(error);
    CHECK(contains(error, "tensor 'h.1.ln_1.weight' is not a parameter of the config"));
  }
  SUBCASE("vocab_size, context or d_model that do not match the tensors' shapes") {
    std::string error = with_config("vocab_size", 70);
    CAPTURE(error);
    CHECK(contains(error, "tensor 'wte.weight' has shape [7, 8] but the model needs [70, 8] (config vocab_size = 70"));
    error = with_config("context", 4096);
    CHECK(contains(error, "tensor 'wpe.weight' has shape [8, 8] but the model needs [4096, 8] (config context = 4096"));
    error = with_config("d_model", 16);
    CHECK(contains(error, "but the model needs [7, 16] (config vocab_size = 7, d_model = 16)"));
  }
  SUBCASE("integers that are not integers, or do not fit an int, are not narrowed") {
    for (const nlohmann::json& bad : {nlohmann::json(2.5), nlohmann::json("2"), nlohmann::json(true),
                                      nlohmann::json(nullptr), nlohmann::json::array({2})}) {
      const std::string error = with_config("n_layers", bad);
      CAPTURE(error);
      CHECK(contains(error, "field 'n_layers' = "));
      CHECK(contains(error, "is not an integer"));
    }
    // 2^32 + 2 read as an int was 2: the file's own block count.
    std::string error = with_config("n_layers", 4294967298ull);
    CAPTURE(error);
    CHECK(contains(error, "field 'n_layers' = 4294967298 is out of range [-2147483648, 2147483647]"));
    error = with_config("d_model", -8);
    CHECK(contains(error, "d_model must be > 0"));
  }
  SUBCASE("a config JSON nested deep, or huge, is refused before it is parsed into memory") {
    Parts p = valid;
    p.header["__metadata__"]["config"] = std::string(100000, '[') + std::string(100000, ']');
    std::string error = read_error(path, p.bytes());
    CAPTURE(error);
    CHECK(contains(error, "GPTConfig JSON: JSON nested more than two deep"));
    p.header["__metadata__"]["config"] = std::string(2 << 20, ' ');
    error = read_error(path, p.bytes());
    CHECK(contains(error, "over the 1048576-byte limit"));
  }
  SUBCASE("optimizer tensors missing though 'optimizer.steps' says they are there") {
    Parts p = valid;
    p.header["__metadata__"]["optimizer.steps"] = "0";
    nlohmann::json model_only = nlohmann::json::object();
    for (auto& [name, info] : p.header.items())
      if (name.rfind("optimizer.", 0) != 0) model_only[name] = info;
    // Without the moments' bytes: the offsets must still cover the data exactly.
    uint64_t end = 0;
    for (auto& [name, info] : model_only.items())
      if (name != "__metadata__") end = std::max(end, info["data_offsets"][1].get<uint64_t>());
    const std::string error = read_error(path, assemble(model_only.dump(), p.data.substr(0, end)));
    CAPTURE(error);
    // The moments are written after all the parameters (model/checkpoint.cpp).
    CHECK(contains(error, "missing tensor 'optimizer.m.wte.weight' (metadata 'optimizer.steps' says"));
  }
}

TEST_CASE("the model's vocabulary is checked against a tokenizer before the model is built") {
  TempDir dir;
  const std::string path = dir.file("ok.safetensors");
  write_bytes(path, valid_parts(dir).bytes());
  const Checkpoint ckpt = Checkpoint::read(path);
  CHECK_NOTHROW(ckpt.check_vocab_size(7, "tok"));
  CHECK_THROWS_WITH_AS(ckpt.check_vocab_size(65, "aha-char-v1"),
                       doctest::Contains("field 'vocab_size' = 7 does not match the tokenizer 'aha-char-v1', "
                                         "which has 65 tokens"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(ckpt.check_vocab_size(65, "aha-char-v1"), doctest::Contains(path.c_str()), std::runtime_error);
}

TEST_CASE("step counters and seeds in the metadata: decimal integers in range, or refused naming the field") {
  TempDir dir;
  const Parts valid = valid_parts(dir);
  const std::string path = dir.file("counters.safetensors");
  auto with_metadata = [&](const char* key, const std::string& value) {
    Parts p = valid;
    p.header["__metadata__"][key] = value;
    write_bytes(path, p.bytes());
    return Checkpoint::read(path);
  };
  auto step_error = [&](const std::string& value) {
    try {
      with_metadata("train.step", value).metadata_int("train.step", 0, INT_MAX);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };

  CHECK(with_metadata("train.step", "2147483647").metadata_int("train.step", 0, INT_MAX) == INT_MAX);
  CHECK(with_metadata("train.step", "0").metadata_int("train.step", 0, INT_MAX) == 0);
  // "-5" trained at negative learning rates; "2147483648" ran for about 2^31 steps.
  for (const char* out_of_range : {"-5", "2147483648", "99999999999999999999", "-9223372036854775809"}) {
    const std::string error = step_error(out_of_range);
    CAPTURE(error);
    CHECK(contains(error, path));
    CHECK(contains(error, "field 'train.step' = '" + std::string(out_of_range) + "' is out of range [0, 2147483647]"));
  }
  for (const char* junk : {"12abc", "1.5", " 7", "7 ", "+7", "", "0x10", "1e3", "-"}) {
    const std::string error = step_error(junk);
    CAPTURE(error);
    CHECK(contains(error, "field 'train.step' = '" + std::string(junk) + "' is not an integer"));
  }

  CHECK(with_metadata("train.rng_seed", "18446744073709551615").metadata_u64("train.rng_seed") == UINT64_MAX);
  // std::stoull took "-5" as 2^64 - 5.
  CHECK_THROWS_WITH_AS(with_metadata("train.rng_seed", "-5").metadata_u64("train.rng_seed"),
                       doctest::Contains("field 'train.rng_seed' = '-5' is not an unsigned integer"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(with_metadata("train.rng_seed", "18446744073709551616").metadata_u64("train.rng_seed"),
                       doctest::Contains("field 'train.rng_seed' = '18446744073709551616' is out of range"),
                       std::runtime_error);

  SUBCASE("the optimizer's step count is checked by Checkpoint::read") {
    CHECK_THROWS_WITH_AS(with_metadata("optimizer.steps", "-1"),
                         doctest::Contains("metadata field 'optimizer.steps' = '-1' is out of range"),
                         std::runtime_error);
  }
  SUBCASE("the training config's integers are not narrowed") {
    TrainConfig train;
    nlohmann::json j = nlohmann::json::parse(to_json(train));
    j["steps"] = 4294967297ull;  // read as an int: 1
    CHECK_THROWS_WITH_AS(train_config_from_json(j.dump()),
                         doctest::Contains("TrainConfig JSON: field 'steps' = 4294967297 is out of range"),
                         std::runtime_error);
    j = nlohmann::json::parse(to_json(train));
    j["lr"] = 1e300;  // read as a float: inf
    CHECK_THROWS_WITH_AS(train_config_from_json(j.dump()),
                         doctest::Contains("TrainConfig JSON: field 'lr' = 1e+300 is not a finite float"),
                         std::runtime_error);
    j = nlohmann::json::parse(to_json(train));
    j["seed"] = "-1";
    CHECK_THROWS_WITH_AS(train_config_from_json(j.dump()),
                         doctest::Contains("field 'seed' = '-1' is not an unsigned integer"), std::runtime_error);
  }
}

// Issue 19, case 5, end to end: a resume from such a file is refused, not trained.
TEST_CASE("a pretraining resume refuses a step counter out of range") {
  TempDir dir;
  const char* text = "the cat sat on the mat. the dog sat on the log.\n";
  CharVocab vocab = CharVocab::from_text(text);
  GPTConfig model{vocab.vocab_size(), 8, 8, 1, 2};
  TrainConfig train;
  train.batch_size = 2;
  train.steps = 4;
  train.warmup_steps = 1;
  train.eval_every = 100;
  train.ckpt_every = 100;
  PretrainOptions o;
  o.out_path = dir.file("part.safetensors");
  o.stop_at = 1;
  o.progress = false;
  CharTextSource data(text, vocab, model.context + 1);
  pretrain(model, train, data, nullptr, Device::CPU, o);

  const std::string bytes = read_bytes(o.out_path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)(unsigned char)bytes[(size_t)i] << (8 * i);
  nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
  for (const char* step : {"-5", "2147483648"}) {
    header["__metadata__"]["train.step"] = step;
    const std::string hostile = dir.file("hostile.safetensors");
    write_bytes(hostile, assemble(header.dump(), bytes.substr(8 + n)));
    PretrainOptions resume = o;
    resume.out_path = dir.file("resumed.safetensors");
    resume.resume_path = hostile;
    resume.stop_at = 0;
    CHECK_THROWS_WITH_AS(pretrain(model, train, data, nullptr, Device::CPU, resume),
                         doctest::Contains(("'train.step' = '" + std::string(step) + "' is out of range").c_str()),
                         std::runtime_error);
    CHECK_FALSE(fs::exists(resume.out_path));
  }
}

TEST_CASE("hostile safetensors: offsets, sizes and names as strict as the reference library") {
  TempDir dir;
  const Parts valid = valid_parts(dir);
  const std::string path = dir.file("bad.safetensors");
  auto refused = [&](const std::string& bytes, const std::string& fragment) {
    const std::string error = read_error(path, bytes);
    CAPTURE(error);
    CHECK(contains(error, "safetensors '" + path + "'"));
    CHECK(contains(error, fragment));
  };

  SUBCASE("overlapping offsets (loaded silently before: a garbage model)") {
    Parts p = valid;
    // Two tensors of 8 floats; the bias now claims the weight's bytes.
    p.header["h.0.ln_1.bias"]["data_offsets"] = p.header["h.0.ln_1.weight"]["data_offsets"];
    refused(p.bytes(), "tensor 'h.0.ln_1.weight': data_offsets [" + std::to_string(p.begin("h.0.ln_1.weight")) +
                           ", " + std::to_string(p.end("h.0.ln_1.weight")) + "] overlap tensor 'h.0.ln_1.bias'");
  }
  SUBCASE("a gap between offsets") {
    Parts p = valid;
    const uint64_t b = p.begin("ln_f.bias"), e = p.end("ln_f.bias");
    p.header["ln_f.bias"]["data_offsets"] = {b + 4, e + 4};
    p.data.insert((size_t)b, 4, '\0');
    refused(p.bytes(), "data_offsets [" + std::to_string(b + 4) + ", " + std::to_string(e + 4) +
                           "] leave a gap of 4 bytes after tensor 'ln_f.weight'");
  }
  SUBCASE("offsets that end before they begin") {
    Parts p = valid;
    const uint64_t b = p.begin("ln_f.bias"), e = p.end("ln_f.bias");
    p.header["ln_f.bias"]["data_offsets"] = {e, b};
    refused(p.bytes(), "tensor 'ln_f.bias': data_offsets [" + std::to_string(e) + ", " + std::to_string(b) +
                           "] end before they begin");
  }
  SUBCASE("a shape whose byte count overflows 64 bits (it wrapped to the offsets' 32 bytes before)") {
    Parts p = valid;
    // 2^62 + 8 floats are 2^64 + 32 bytes: 32 modulo 2^64, the span of ln_f.bias.
    p.header["ln_f.bias"]["shape"] = {4611686018427387912ull};
    refused(p.bytes(), "tensor 'ln_f.bias': shape [4611686018427387912] has more bytes than 2^64 - 1");
    p.header["ln_f.bias"]["shape"] = {65536, 65536, 65536, 65536};
    refused(p.bytes(), "has more bytes than 2^64 - 1");
    p.header["ln_f.bias"]["shape"] = {9223372036854775808ull};
    refused(p.bytes(), "shape has a bad size 9223372036854775808 (over 2^63 - 1)");
  }
  SUBCASE("a shape whose byte count does not match its offsets") {
    Parts p = valid;
    p.header["ln_f.bias"]["shape"] = {9};
    refused(p.bytes(), "span 32 bytes but shape [9] needs 36");
  }
  SUBCASE("a header length larger than the file") {
    const std::string header = valid.header.dump();
    const uint64_t file_size = 8 + header.size() + valid.data.size();
    refused(assemble(file_size, header, valid.data),
            "header length " + std::to_string(file_size) + " goes beyond the file (" + std::to_string(file_size));
  }
  SUBCASE("a header length over the format's 100,000,000-byte cap") {
    refused(assemble(100000001, valid.header.dump(), valid.data),
            "header length 100000001 exceeds the format's limit of 100000000 bytes");
    refused(assemble(UINT64_MAX, valid.header.dump(), valid.data), "header length 18446744073709551615 exceeds");
  }
  SUBCASE("data cut short, or bytes after the last tensor") {
    const std::string header = valid.header.dump();
    refused(assemble(header, valid.data.substr(0, valid.data.size() - 1)), "out of range: the data section has " +
                                                                                std::to_string(valid.data.size() - 1) +
                                                                                " bytes (truncated file?)");
    refused(assemble(header, valid.data + "junk"), "4 bytes belong to no tensor");
  }
  SUBCASE("a dtype other than F32, known or not") {
    for (const char* dtype : {"F16", "BF16", "F64", "I32", "XYZ", ""}) {
      Parts p = valid;
      p.header["wte.weight"]["dtype"] = dtype;
      refused(p.bytes(), "tensor 'wte.weight': dtype \"" + std::string(dtype) + "\" is not supported");
    }
  }
  SUBCASE("a tensor, a metadata key or a tensor's member named twice") {
    // nlohmann's objects cannot hold a repeated key: spliced into the JSON text.
    std::string header = valid.header.dump();
    const std::string entry = valid.header["ln_f.bias"].dump();
    header.insert(header.size() - 1, ",\"ln_f.bias\":" + entry);
    refused(assemble(header, valid.data), "'ln_f.bias' appears twice in the header");

    header = valid.header.dump();
    header.insert(header.find("\"__metadata__\":{") + 16, "\"format\":\"x\",");
    refused(assemble(header, valid.data), "__metadata__ has the key 'format' twice");

    header = valid.header.dump();
    header.insert(header.find("{\"data_offsets\"") + 1, "\"dtype\":\"F32\",");
    refused(assemble(header, valid.data), "'dtype' appears twice");
  }
  SUBCASE("__metadata__ that is not a map of strings to strings") {
    Parts p = valid;
    p.header["__metadata__"]["train.step"] = 3;
    refused(p.bytes(), "__metadata__ value of 'train.step' is not a string (found a number)");
    p.header["__metadata__"] = nlohmann::json::array();
    refused(p.bytes(), "__metadata__ is not an object of strings (found a list)");
  }
  SUBCASE("a header that is not JSON, not an object, or nested without end") {
    refused(assemble("{\"a\": [1, 2", valid.data), "bad header JSON");
    refused(assemble(" {}", ""), "the JSON is not an object (it must start with '{')");
    refused(assemble("", ""), "the JSON is not an object");
    // Valid JSON, a million lists deep: refused at the first one, nothing built.
    const std::string deep = "{\"x\":{\"shape\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}}";
    refused(assemble(deep, ""), "tensor 'x': shape has a bad size (found a list)");
    refused(assemble("{\"x\":{\"shape\":[],\"offsets\":[0,0]}}", ""), "unknown member 'offsets'");
    refused(assemble("{\"x\":{\"shape\":[],\"dtype\":\"F32\"}}", ""),
            "tensor 'x': needs dtype, shape and data_offsets");
  }
}

TEST_CASE("hostile paths: a directory, a FIFO or a device is refused, naming the path, without blocking") {
  TempDir dir;
  auto error_of = [](const std::string& path) {
    try {
      Checkpoint::read(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  std::string error = error_of(dir.path.string());
  CHECK(contains(error, "'" + dir.path.string() + "': not a regular file (a directory)"));

  const std::string fifo = dir.file("pipe");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  error = error_of(fifo);  // with no writer, a blocking open would wait forever
  CHECK(contains(error, "'" + fifo + "': not a regular file (a FIFO)"));

  if (fs::exists("/dev/zero")) {
    error = error_of("/dev/zero");
    CHECK(contains(error, "'/dev/zero': not a regular file (a device)"));
  }
  error = error_of(dir.file("missing.safetensors"));
  CHECK(contains(error, "missing.safetensors': cannot open: No such file or directory"));
}
