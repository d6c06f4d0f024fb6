// `aha bench model --preset gpu-small --device cuda`: the two workloads that
// make up GRPO's wall time, timed at the shapes of issue 7's comparison with
// PyTorch (bench/reference.py speed times the same shapes; bench/compare.py
// joins the two JSON-lines files into one table):
//
//   generate      B prompts of `prompt` random tokens, `new` tokens each at
//                 temperature 1 with no early stop: generate() as a rollout
//                 runs it (the batched decoder, model/decoder.h), prefill included.
//                 --kv-cache bf16 times it with the bf16 KV cache: its rows carry
//                 dtype "fp32-kv-bf16" (fp32 weights, bf16 cache) and kv_cache "bf16".
//   grpo_update   B sequences of T tokens, the first `prompt` of them prompt:
//                 the reference model's log-probs (no graph), the policy's
//                 forward and backward through grpo_loss (R1 eq. 1-3, k3 KL,
//                 beta 0.04), global-norm clipping and one AdamW step: what
//                 grpo_step() does per minibatch. --microbatch splits the
//                 forward/backward into gradient-accumulating chunks, for a
//                 batch whose activations would not fit in one (default: the
//                 whole batch; the fused attention keeps no [B, H, T, T] scores).
//   pretrain_step B x T cross-entropy forward, backward and AdamW (CPU comparison).
//
// --dtype bf16 runs the two training workloads with the bf16 mixed-precision
// forward (GPT::set_dtype): their rows carry dtype "bf16", set beside
// PyTorch's bf16 autocast, and a bf16 matrix-product ceiling is timed for MFU.
// Generation is float32 either way (its bf16 switch is --kv-cache).
//
// Each workload: warm-up, then the median of --repeats wall-clock samples with
// the device synchronised around each. Results: a table on stdout, and with
// --json one JSON object per line (bench/compare.py reads them).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/adamw.h"
#include "autograd/profile.h"
#include "cli/commands.h"
#include "data/tokenizer.h"
#include "grpo/objective.h"
#include "grpo/trainer.h"
#include "model/config.h"
#include "model/generate.h"
#include "model/gpt.h"
#include "model/output_files.h"

#if AHA_CUDA
#include "tensor/cuda/allocator.h"
#include "tensor/cuda/check.h"
#include "tensor/cuda/kernels.h"
#endif

namespace aha {
namespace {

struct ModelBenchOptions {
  std::string preset = "gpu-small";
  std::string device = "cuda";
  std::string workloads;  // comma-separated; empty = the preset's defaults
  int batch = 0, length = 0, prompt = 0, new_tokens = 0, microbatch = 0;  // 0 = the preset's default
  int repeats = 5;
  std::string kv_cache = "fp32";  // of the generate workload
  std::string dtype = "fp32";     // of the training workloads
  bool profile = false;
  std::string json;
};

// The shapes of issue 7's comparison, per preset.
struct Shapes {
  int update_batch, length, prompt, generate_batch, new_tokens, microbatch;
  std::vector<std::string> workloads;
};

Shapes shapes_for(const std::string& preset) {
  if (preset == "gpu-small") return {512, 256, 64, 512, 192, 512, {"generate", "grpo_update"}};
  if (preset == "gpu-medium") return {256, 256, 64, 256, 192, 256, {"generate", "grpo_update"}};
  return {16, 128, 32, 16, 96, 16, {"pretrain_step", "grpo_update", "generate"}};  // cpu-tiny
}

// With --profile: one more run of `fn`, op by op (autograd/profile.h), as a
// table of the ops that take 0.5% of the time or more.
void print_profile(Device device, const std::string& workload, const std::function<void()>& fn) {
  std::vector<OpTime> times;
  double total = 0;
  {
    OpProfile profile(device);
    fn();
    profile.mark("(between ops)");
    times = profile.times();
  }
  for (const OpTime& t : times) total += t.ms;
  std::printf("\nprofile of one %s (device synchronised after every op: %.1f ms in all)\n\n", workload.c_str(), total);
  std::printf("| op | calls | ms | share |\n|---|---|---|---|\n");
  for (const OpTime& t : times)
    if (t.ms >= 0.005 * total)
      std::printf("| %s | %lld | %.2f | %.1f%% |\n", t.name.c_str(), (long long)t.calls, t.ms, 100.0 * t.ms / total);
}

// Median wall-clock milliseconds of `fn` over `repeats` samples, after `warmup` calls.
double time_ms(Device device, int warmup, int repeats, const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  synchronize(device);
  std::vector<double> samples;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    synchronize(device);
    samples.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

Tensor random_tokens(int64_t rows, int64_t length, int vocab, Generator& gen, Device device) {
  std::vector<float> ids((size_t)(rows * length));
  for (float& id : ids) id = (float)gen.below((uint64_t)vocab);
  return Tensor::from_vector(ids, Shape{rows, length}, device);
}

// One GRPO update of the policy on fixed inputs (the rollout's outputs stand-ins).
struct UpdateInputs {
  Tensor tokens, targets, old_logprobs, advantages, weights, mask;  // [B, T] each
};

UpdateInputs make_update_inputs(int B, int T, int prompt, int vocab, Generator& gen, Device device) {
  UpdateInputs in;
  in.tokens = random_tokens(B, T, vocab, gen, device);
  in.targets = random_tokens(B, T, vocab, gen, device);
  std::vector<float> mask((size_t)B * T), old((size_t)B * T), adv((size_t)B * T);
  for (int b = 0; b < B; ++b) {
    const float a = gen.normal();
    for (int t = 0; t < T; ++t) {
      mask[(size_t)b * T + t] = t >= prompt ? 1.0f : 0.0f;  // as the PyTorch reference: T - prompt completion tokens
      old[(size_t)b * T + t] = -std::log((float)vocab) + 0.1f * gen.normal();
      adv[(size_t)b * T + t] = a;
    }
  }
  const std::vector<float> weights = token_weights(LossVariant::Grpo, mask, B, T - prompt);
  const Shape shape{B, T};
  in.mask = Tensor::from_vector(mask, shape, device);
  in.old_logprobs = Tensor::from_vector(old, shape, device);
  in.advantages = Tensor::from_vector(adv, shape, device);
  in.weights = Tensor::from_vector(weights, shape, device);
  return in;
}

// Rows [first, last) of a [B, T] tensor.
Tensor rows_of(const Tensor& t, int first, int last) { return slice0(t, first, last); }

void grpo_update(GPT& policy, const GPT& reference, AdamW& optimizer, const UpdateInputs& in, int microbatch) {
  const int B = (int)in.tokens.size(0);
  ObjectiveConfig objective;  // clip 0.2, beta 0.04
  for (int first = 0; first < B; first += microbatch) {
    const int last = std::min(B, first + microbatch);
    ObjectiveInputs mb;
    const Tensor tokens = rows_of(in.tokens, first, last), targets = rows_of(in.targets, first, last);
    {
      NoGradGuard no_grad;
      mb.ref_logprobs = sequence_logprobs(reference, tokens, targets, 1.0f).value();
    }
    mb.logprobs = sequence_logprobs(policy, tokens, targets, 1.0f);
    mb.old_logprobs = rows_of(in.old_logprobs, first, last);
    mb.advantages = rows_of(in.advantages, first, last);
    mb.weights = rows_of(in.weights, first, last);  // weights of the whole batch: the chunks' losses add up
    mb.mask = rows_of(in.mask, first, last);
    grpo_loss(mb, objective).backward();
  }
  clip_grad_norm(optimizer.params(), 1.0f);
  optimizer.step(1e-5f);
  optimizer.zero_grad();
}

void run_model_bench(const ModelBenchOptions& o) {
  // A bad --json fails now, not after the timings it was meant to keep.
  check_output_paths("bench model", {{"--json", o.json, ""}}, {});
  const Device device = parse_device(o.device);
  require_device(device);
  const Preset& preset = find_preset(o.preset);
  Shapes s = shapes_for(o.preset);
  if (o.length) s.length = o.length;
  if (o.prompt) s.prompt = o.prompt;
  if (o.new_tokens) s.new_tokens = o.new_tokens;
  if (o.batch) s.update_batch = s.generate_batch = o.batch;
  if (o.microbatch) s.microbatch = o.microbatch;
  s.microbatch = std::min(s.microbatch, s.update_batch);
  std::vector<std::string> workloads = s.workloads;
  if (!o.workloads.empty()) {
    workloads.clear();
    std::stringstream list(o.workloads);
    for (std::string w; std::getline(list, w, ',');) {
      if (w != "generate" && w != "grpo_update" && w != "pretrain_step")
        throw std::runtime_error("bench model: unknown workload '" + w + "' (generate, grpo_update, pretrain_step)");
      workloads.push_back(w);
    }
  }
  const KvCache kv_cache = parse_kv_cache(o.kv_cache);
  const DType dtype = parse_dtype(o.dtype);
  if (s.prompt < 1 || s.prompt >= s.length)
    throw std::runtime_error("bench model: --prompt must be in [1, T), got " + std::to_string(s.prompt));

  static const data::Tokenizer tokenizer;
  GPTConfig config = preset.model;
  config.vocab_size = tokenizer.vocab_size();
  config.context = std::max(s.length, s.prompt + s.new_tokens);
  GPT policy(config, device);
  Generator init(1);
  policy.init_weights(init);
  policy.set_dtype(dtype);
  GPT reference = policy.clone();  // the same dtype
  Generator gen(2);
  const std::string label = device_model_name(device);
  std::cerr << "bench model: " << o.preset << " (" << policy.num_params() << " parameters) on " << label << "\n";

  std::vector<nlohmann::json> rows;
  auto record = [&](const std::string& workload, int batch, double ms, double tokens) {
    // The sizes as bench/compare.py matches them: an update's T positions are
    // prompt + completion; generation's T is prompt + new; pretraining has no prompt.
    const int T = workload == "generate" ? s.prompt + s.new_tokens : s.length;
    const int prompt = workload == "pretrain_step" ? 0 : s.prompt;
    const int new_tokens = workload == "generate" ? s.new_tokens : workload == "grpo_update" ? s.length - s.prompt : 0;
    // A bf16 KV cache is its own dtype, so compare.py never files it under plain fp32.
    const bool bf16_cache = workload == "generate" && kv_cache == KvCache::Bf16;
    const std::string row_dtype =
        workload == "generate" ? (bf16_cache ? "fp32-kv-bf16" : "fp32") : dtype_name(dtype);
    nlohmann::json row = {{"impl", "aha"}, {"shape", o.preset}, {"workload", workload}, {"dtype", row_dtype},
                          {"batch", batch}, {"T", T}, {"prompt", prompt}, {"new_tokens", new_tokens},
                          {"ms", ms}, {"tokens_per_s", tokens / (ms * 1e-3)}, {"params", policy.num_params()},
                          {"device", label}};
    if (workload == "grpo_update") row["microbatch"] = s.microbatch;
    if (workload == "generate") row["kv_cache"] = kv_cache_name(kv_cache);
#if AHA_CUDA
    if (device == Device::CUDA) row["peak_gib"] = (double)cuda::allocator_stats().peak_bytes_in_use / (1 << 30);
#endif
    rows.push_back(row);
    std::cerr << "bench model: " << workload << " " << ms << " ms\n";
  };
#if AHA_CUDA
  if (device == Device::CUDA) {
    // The TF32 ceiling of the same run, for MFU.
    const int64_t n = 8192;
    Tensor a = Tensor::randn(Shape{n, n}, gen, device), b = Tensor::randn(Shape{n, n}, gen, device);
    const double ms = time_ms(device, 2, 5, [&] { matmul(a, b); });
    rows.push_back({{"impl", "aha"}, {"workload", "matmul_peak"}, {"dtype", "tf32"},
                    {"n", n}, {"tflops", 2.0 * n * n * n / (ms * 1e-3) / 1e12}, {"device", label}});
    if (dtype == DType::BF16) {  // the bf16 ceiling: bf16 operands, float32 sums, bf16 result
      const Tensor a16 = cast(a, DType::BF16), b16 = cast(b, DType::BF16);
      const double ms16 = time_ms(device, 2, 5, [&] { matmul(a16, b16, false, false, DType::BF16); });
      rows.push_back({{"impl", "aha"}, {"workload", "matmul_peak"}, {"dtype", "bf16"},
                      {"n", n}, {"tflops", 2.0 * n * n * n / (ms16 * 1e-3) / 1e12}, {"device", label}});
    }
  }
#endif
  for (const std::string& workload : workloads) {
#if AHA_CUDA
    if (device == Device::CUDA) cuda::allocator_reset_peak();
#endif
    if (workload == "generate") {
      std::vector<std::vector<int>> prompts;
      for (int b = 0; b < s.generate_batch; ++b) {
        std::vector<int> p;
        for (int t = 0; t < s.prompt; ++t) p.push_back((int)gen.below((uint64_t)config.vocab_size));
        prompts.push_back(p);
      }
      GenerateConfig g;
      g.max_new_tokens = s.new_tokens;
      g.sampling.temperature = 1.0f;
      g.kv_cache = kv_cache;
      const double ms = time_ms(device, 1, o.repeats, [&] { generate(policy, prompts, g, gen); });
      record(workload, s.generate_batch, ms, (double)s.generate_batch * s.new_tokens);
    } else if (workload == "grpo_update") {
      AdamW optimizer(policy.params(), AdamWConfig{}, policy.decay_mask());
      const UpdateInputs in = make_update_inputs(s.update_batch, s.length, s.prompt, config.vocab_size, gen, device);
      const double ms = time_ms(device, 2, o.repeats, [&] { grpo_update(policy, reference, optimizer, in, s.microbatch); });
      record(workload, s.update_batch, ms, (double)s.update_batch * s.length);
      if (o.profile) print_profile(device, workload, [&] { grpo_update(policy, reference, optimizer, in, s.microbatch); });
    } else {  // pretrain_step
      AdamW optimizer(policy.params(), AdamWConfig{}, policy.decay_mask());
      const Tensor tokens = random_tokens(s.update_batch, s.length, config.vocab_size, gen, device);
      const Tensor targets = random_tokens(s.update_batch, s.length, config.vocab_size, gen, device);
      const Tensor mask = Tensor::ones(Shape{s.update_batch, s.length}, device);
      auto step = [&] {
        policy.loss(tokens, targets, mask).backward();
        clip_grad_norm(optimizer.params(), 1.0f);
        optimizer.step(1e-3f);
        optimizer.zero_grad();
      };
      const double ms = time_ms(device, 2, o.repeats, step);
      record(workload, s.update_batch, ms, (double)s.update_batch * s.length);
      if (o.profile) print_profile(device, workload, step);
    }
  }

  std::printf("aha bench model: %s, %lld parameters, %s, median of %d\n\n", o.preset.c_str(),
              (long long)policy.num_params(), label.c_str(), o.repeats);
  std::printf("| workload | batch | shape | ms | tokens/s |\n|---|---|---|---|---|\n");
  for (const nlohmann::json& r : rows) {
    if (r["workload"] == "matmul_peak") {
      std::printf("| matmul peak (8192^3, %s) | | | | %.1f TFLOP/s |\n", r["dtype"].get<std::string>().c_str(),
                  r["tflops"].get<double>());
      continue;
    }
    const std::string shape = r["workload"] == "generate"
                                  ? std::to_string(s.prompt) + " + " + std::to_string(s.new_tokens) + " new"
                                  : "T = " + std::to_string(s.length);
    const std::string workload = r["workload"].get<std::string>() +
                                 (r.contains("kv_cache") ? " (" + r["kv_cache"].get<std::string>() + " KV cache)"
                                                         : " (" + r["dtype"].get<std::string>() + ")");
    std::printf("| %s | %d | %s | %.1f | %.0f |\n", workload.c_str(), r["batch"].get<int>(),
                shape.c_str(), r["ms"].get<double>(), r["tokens_per_s"].get<double>());
  }
  if (!o.json.empty()) {
    std::string lines;
    for (const nlohmann::json& r : rows) lines += r.dump() + "\n";
    write_file_atomically(o.json, lines);  // never half a file
  }
}

}  // namespace

void add_bench_model_command(CLI::App& bench) {
  auto o = std::make_shared<ModelBenchOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "model", "time a GRPO update and batched generation at a preset's shapes (issue 7's comparison)");
  cmd->add_option("--preset", o->preset, "cpu-tiny, gpu-small or gpu-medium")
      ->check(CLI::IsMember({"cpu-tiny", "gpu-small", "gpu-medium"}))
      ->capture_default_str();
  cmd->add_option("--device", o->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--workloads", o->workloads,
                  "comma-separated: generate, grpo_update, pretrain_step (default: the preset's)");
  cmd->add_option("--batch", o->batch, "sequences per workload (default 512 small, 256 medium, 16 tiny)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--T", o->length, "update sequence length (default 256; 128 tiny)")->check(CLI::Range(2, 1 << 16));
  cmd->add_option("--prompt", o->prompt, "prompt tokens (default 64; 32 tiny)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--new", o->new_tokens, "generated tokens (default 192; 96 tiny)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--microbatch", o->microbatch, "update rows per forward/backward chunk (default: the whole batch)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--repeats", o->repeats, "timed samples; the median is reported")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--kv-cache", o->kv_cache,
                  "KV cache of the generate workload: fp32, or bf16 (rows labelled dtype fp32-kv-bf16)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, std::string(kDtypeHelp) + "; for grpo_update and pretrain_step")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--json", o->json, "also write the results as JSON lines here");
  cmd->add_flag("--profile", o->profile,
                "after timing, run the update workloads once more op by op and print where their time "
                "goes (a device sync after every op)");
  cmd->callback([o] { run_model_bench(*o); });
}

}  // namespace aha
