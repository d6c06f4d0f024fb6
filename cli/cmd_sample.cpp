// `aha sample`: complete a prompt with a checkpoint's model (model/generate.h).
// The checkpoint names its tokenizer; the matching text codec encodes the
// prompt and decodes the completion.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "data/tokenizer.h"
#include "grpo/corpus_source.h"
#include "model/char_text.h"
#include "model/checkpoint.h"
#include "model/generate.h"

namespace aha {
namespace {

struct SampleArgs {
  std::string ckpt;
  std::string prompt;
  int n = 1;
  float temperature = 1.0f;
  int top_k = 0;
  float top_p = 1.0f;
  bool greedy = false;
  int max_new = 200;
  uint64_t seed = 0;
  std::string device = "cpu";
  std::string stop;
  std::string kv_cache = "fp32";
  bool json = false;
};

// The codec for a checkpoint's tokenizer version.
std::unique_ptr<TextCodec> codec_for(const std::string& version) {
  if (version == data::Tokenizer::kVersion) return std::make_unique<TokenizerCodec>();
  if (CharVocab::is_char_version(version)) return std::make_unique<CharVocab>(CharVocab::from_version(version));
  throw std::runtime_error("sample: the checkpoint's tokenizer '" + version.substr(0, 40) +
                           "' is unknown to this aha (known: " + data::Tokenizer::kVersion + ", char-v1)");
}

// A shell passes "\n" in double quotes as a backslash and an n, so the
// prompt and --stop read the escapes \n (newline), \t (tab) and \\ (a
// backslash); any other backslash stays as it is.
std::string unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (text[i] == '\\' && (next == 'n' || next == 't' || next == '\\')) {
      out += next == 'n' ? '\n' : next == 't' ? '\t' : '\\';
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

void run_sample(SampleArgs a, const CLI::App& cmd) {
  // Greedy decoding draws nothing: the knobs of the draw would have no effect.
  const bool greedy = a.greedy || (cmd.count("--temperature") && a.temperature == 0.0f);
  if (greedy)
    for (const char* knob : {"--top-k", "--top-p", "--seed"})
      if (cmd.count(knob))
        throw std::runtime_error(std::string("sample: ") + knob + " shapes sampling, but " +
                                 (a.greedy ? "--greedy" : "--temperature 0") +
                                 " takes the most likely token; pass one or the other");
  if (a.greedy && cmd.count("--temperature"))
    throw std::runtime_error("sample: --temperature shapes sampling, but --greedy takes the most likely token; "
                             "pass one or the other");
  a.prompt = unescape(a.prompt);
  a.stop = unescape(a.stop);
  Device device = parse_device(a.device);
  require_device(device);
  Checkpoint ckpt = Checkpoint::read(a.ckpt);
  std::unique_ptr<TextCodec> codec = codec_for(ckpt.tokenizer());
  if (codec->vocab_size() != ckpt.config().vocab_size)
    throw std::runtime_error("sample: the tokenizer has " + std::to_string(codec->vocab_size()) +
                             " tokens but the model " + std::to_string(ckpt.config().vocab_size));
  GPT model = ckpt.load_model(device);

  std::vector<int> prompt = codec->encode(a.prompt);
  if (prompt.empty()) throw std::runtime_error("sample: the prompt is empty");
  GenerateConfig config;
  config.max_new_tokens = a.max_new;
  config.sampling.temperature = a.temperature;
  config.sampling.top_k = a.top_k;
  config.sampling.top_p = a.top_p;
  config.sampling.greedy = a.greedy;
  config.kv_cache = parse_kv_cache(a.kv_cache);
  config.eos_token = codec->eos_token();
  if (!a.stop.empty()) config.stop_tokens = codec->encode(a.stop);

  Generator gen(a.seed);
  std::vector<Completion> completions =
      generate(model, std::vector<std::vector<int>>((size_t)a.n, prompt), config, gen);
  for (size_t i = 0; i < completions.size(); ++i) {
    const Completion& c = completions[i];
    std::string text = codec->decode(c.tokens);
    if (a.json) {
      nlohmann::json line = {{"index", i},
                             {"prompt", a.prompt},
                             {"completion", text},
                             {"prompt_tokens", prompt},
                             {"tokens", c.tokens},
                             {"logprobs", c.logprobs},
                             {"policy_logprobs", c.policy_logprobs},
                             {"stop", stop_reason_name(c.stop)}};
      // Model output may be any bytes: replace invalid UTF-8 rather than fail.
      std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      if (i > 0) std::cout << "\n----\n";
      std::cout << a.prompt << text;
    }
  }
  if (!a.json) std::cout << "\n";
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto a = std::make_shared<SampleArgs>();
  CLI::App* cmd = app.add_subcommand("sample", "complete a prompt with a checkpoint's model");
  const CLI::Range positive(1, 1 << 20);
  cmd->add_option("--ckpt", a->ckpt, "checkpoint (safetensors) to load")->required()->check(CLI::ExistingFile);
  cmd->add_option("--prompt", a->prompt,
                  "prompt text; \\n is a newline, \\t a tab, \\\\ a backslash. For an arithmetic "
                  "checkpoint write special tokens as text: --prompt \"<bos>what is 12+34?\\n\"")
      ->required();
  cmd->add_option("--n", a->n, "completions of the prompt")->check(positive)->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "softmax temperature (0 = greedy)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-k", a->top_k, "sample from the k most likely tokens (0 = all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-p", a->top_p, "sample from the smallest nucleus of mass >= p (1 = all)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--greedy", a->greedy, "always take the most likely token");
  cmd->add_option("--max-new", a->max_new, "most tokens to generate")->check(positive)->capture_default_str();
  cmd->add_option("--seed", a->seed, "seed of the sampling draws")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--stop", a->stop, "stop a completion at any of these characters (e.g. \\n, a newline)");
  cmd->add_option("--kv-cache", a->kv_cache,
                  "KV cache of the decoder: fp32, or bf16 (half the bytes for attention to read, keys and "
                  "values rounded to bfloat16; all math stays fp32; not with --top-k / --top-p)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "one JSON object per completion: text, tokens, log-probabilities");
  cmd->callback([a, cmd]() { run_sample(*a, *cmd); });
}

}  // namespace aha
