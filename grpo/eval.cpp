#include "grpo/eval.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "data/classify.h"
#include "data/split.h"
#include "data/template.h"
#include "data/tokenizer.h"
#include "model/generate.h"
#include "reward/parse.h"
#include "model/progress.h"

namespace aha {
namespace {

// The sampled completions draw from their own stream, apart from the
// problems' streams rng::bits(seed, i).
constexpr uint64_t kSampleStreamTag = 0x73616d706c6573ULL;  // "samples"


// A share, or NaN-free "none" when nothing was counted.
std::optional<double> share(int64_t part, int64_t whole) {
  if (whole == 0) return std::nullopt;
  return (double)part / (double)whole;
}

nlohmann::json or_null(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::string fixed(double value, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

// The difficulties an evaluation draws from.
std::vector<int> eval_difficulties(const EvalConfig& config) {
  const data::TaskSpec& spec = data::task_spec(config.task);
  if (config.ood) return {spec.ood_difficulty};
  return config.difficulties.empty() ? spec.train_difficulties : config.difficulties;
}

// Progress of the generate() calls on stderr: completions done of all, ETA.
class Progress {
 public:
  Progress(bool on, int64_t total) : on_(on), tty_(::isatty(STDERR_FILENO)), total_(total), start_(Clock::now()) {}
  void update(int64_t done, const char* phase) {
    if (!on_) return;
    const double elapsed = seconds_since(start_);
    const double eta = done > 0 ? elapsed * (double)(total_ - done) / (double)done : 0.0;
    const bool last = done == total_;
    std::fprintf(stderr, "%seval: %lld/%lld completions (%s) | %.1f s | ETA %s%s", tty_ ? "\r" : "",
                 (long long)done, (long long)total_, phase, elapsed, duration_text(eta).c_str(),
                 tty_ && !last ? "   " : "\n");
    std::fflush(stderr);
  }

 private:
  bool on_, tty_;
  int64_t total_;
  Clock::time_point start_;
};

}  // namespace

int EvalConfig::samples_per_problem() const {
  const int m = ks.empty() ? 1 : *std::max_element(ks.begin(), ks.end());
  return sampled && m > 1 ? m : 0;
}

void EvalConfig::validate() const {
  if (n <= 0) throw std::runtime_error("eval: n must be > 0, got " + std::to_string(n));
  if (ks.empty()) throw std::runtime_error("eval: no k for pass@k (ks is empty)");
  for (int k : ks)
    if (k <= 0) throw std::runtime_error("eval: pass@k needs k >= 1, got " + std::to_string(k));
  if (!(temperature > 0.0f) && samples_per_problem() > 0)
    throw std::runtime_error("eval: sampling temperature must be > 0, got " + std::to_string(temperature));
  if (max_new_tokens <= 0)
    throw std::runtime_error("eval: max_new_tokens must be > 0, got " + std::to_string(max_new_tokens));
  if (batch_size <= 0) throw std::runtime_error("eval: batch_size must be > 0, got " + std::to_string(batch_size));
  if (keep_samples < 0)
    throw std::runtime_error("eval: keep_samples must be >= 0, got " + std::to_string(keep_samples));
  // The list is the Test split's (the OOD split has its own difficulty and ignores it).
  const std::vector<int>& train = data::task_spec(task).train_difficulties;
  for (int d : difficulties)
    if (!ood && std::find(train.begin(), train.end(), d) == train.end())
      throw std::runtime_error("eval: difficulty " + std::to_string(d) + " (--difficulties) is not one of " +
                               data::task_name(task) + "'s training difficulties 1.." + std::to_string(train.back()) +
                               " (the harder one is --split ood)");
  // n x (1 + m) in 64 bits: every completion's text is kept until the end.
  const int64_t completions = (int64_t)n * (1 + samples_per_problem());
  if (completions > kMaxEvalCompletions)
    throw std::runtime_error("eval: " + std::to_string(n) + " problems (-n, or --eval-n of aha run) x " +
                             std::to_string(1 + samples_per_problem()) +
                             " completions each (greedy + max of --k) = " + std::to_string(completions) +
                             ", more than the limit " + std::to_string(kMaxEvalCompletions));
}

// Chen et al. 2021, eq. 1, in the product form of their numpy code:
//   C(m-c, k) / C(m, k) = prod_{i = m-c+1}^{m} (1 - k / i)
// which never forms a binomial coefficient (those overflow for m = 200).
double pass_at_k(int m, int c, int k) {
  if (m < 1 || c < 0 || c > m || k < 1 || k > m)
    throw std::runtime_error("pass_at_k: need 0 <= c <= m and 1 <= k <= m, got m=" + std::to_string(m) +
                             " c=" + std::to_string(c) + " k=" + std::to_string(k));
  if (m - c < k) return 1.0;  // every k-subset holds a correct sample
  double all_wrong = 1.0;
  for (int i = m - c + 1; i <= m; ++i) all_wrong *= 1.0 - (double)k / (double)i;
  return 1.0 - all_wrong;
}

std::vector<data::Problem> eval_problems(const EvalConfig& config) {
  const std::vector<int> difficulties = eval_difficulties(config);
  std::vector<data::Problem> problems;
  problems.reserve((size_t)std::max(config.n, 0));
  for (int i = 0; i < config.n; ++i) {
    Generator rng(rng::bits(config.seed, (uint64_t)i));
    const int difficulty = difficulties[rng.below(difficulties.size())];
    problems.push_back(data::sample_problem(config.task, difficulty, data::Split::Test, rng));
  }
  return problems;
}

EvalResult aggregate(const EvalConfig& config, const std::vector<ProblemCompletions>& completions) {
  if (completions.empty()) throw std::runtime_error("eval: no completions to aggregate");
  const int m = config.samples_per_problem();
  EvalResult result;
  result.task = data::task_name(config.task);
  result.split = config.ood ? "ood" : "test";
  result.n = (int)completions.size();
  result.difficulties = eval_difficulties(config);
  result.seed = config.seed;
  result.samples_per_problem = m;

  std::vector<int> ks = config.ks;
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());

  int64_t correct = 0, well_formed = 0, tokens = 0, truncated = 0, checks = 0, corrections = 0;
  std::array<int64_t, data::kNumStyles> style_count{}, style_correct{};
  std::map<int, int64_t> difficulty_count, difficulty_correct;
  double sampled_accuracy = 0.0;
  std::map<int, double> pass_sum;

  for (size_t i = 0; i < completions.size(); ++i) {
    const ProblemCompletions& pc = completions[i];
    const bool greedy_correct = reward::score(pc.problem, pc.greedy, config.reward).accuracy > 0.0f;
    const data::StyleReport style = data::classify(pc.greedy);
    reward::TraceReport greedy_trace = reward::check_trace(pc.problem, pc.greedy);
    result.trace.add(greedy_trace);
    if (greedy_trace.effective_correction && !result.effective_example) {
      EvalSample example;
      example.prompt = data::prompt_text(pc.problem);
      example.greedy = pc.greedy;
      example.greedy_correct = greedy_correct;
      example.greedy_style = data::style_name(style.style);
      example.greedy_trace = greedy_trace;
      result.effective_example = example;
    }
    correct += greedy_correct;
    well_formed += reward::parse_completion(pc.greedy).well_formed;
    tokens += pc.greedy_tokens;
    truncated += pc.greedy_truncated;
    checks += style.checks;
    corrections += style.corrections;
    style_count[(int)style.style] += 1;
    style_correct[(int)style.style] += greedy_correct;
    difficulty_count[pc.problem.difficulty] += 1;
    difficulty_correct[pc.problem.difficulty] += greedy_correct;

    int sampled_correct = 0;
    bool first_sample_correct = false;
    if (m > 0) {
      if ((int)pc.sampled.size() != m)
        throw std::runtime_error("eval: problem " + std::to_string(i) + " has " + std::to_string(pc.sampled.size()) +
                                 " sampled completions, expected " + std::to_string(m));
      if (!result.trace_sampled) result.trace_sampled = reward::TraceTotals();
      for (size_t j = 0; j < pc.sampled.size(); ++j) {
        result.trace_sampled->add(reward::check_trace(pc.problem, pc.sampled[j]));
        const bool ok = reward::score(pc.problem, pc.sampled[j], config.reward).accuracy > 0.0f;
        sampled_correct += ok;
        if (j == 0) first_sample_correct = ok;
      }
      sampled_accuracy += (double)sampled_correct / m;
      for (int k : ks) pass_sum[k] += pass_at_k(m, sampled_correct, k);
    }

    if ((int)i < config.keep_samples) {
      EvalSample sample;
      sample.prompt = data::prompt_text(pc.problem);
      sample.greedy = pc.greedy;
      sample.greedy_correct = greedy_correct;
      sample.greedy_style = data::style_name(style.style);
      sample.greedy_trace = std::move(greedy_trace);
      if (m > 0) {
        sample.sampled = pc.sampled[0];
        sample.sampled_correct = first_sample_correct;
      }
      result.samples.push_back(sample);
    }
  }

  const double n = (double)completions.size();
  result.pass1_greedy = correct / n;
  if (m > 0) {
    result.pass1_sampled = sampled_accuracy / n;
    for (const auto& [k, sum] : pass_sum) result.pass_at_k[k] = sum / n;
  }
  result.format_rate = well_formed / n;
  result.mean_length = tokens / n;
  result.truncated_share = truncated / n;
  for (int s = 0; s < data::kNumStyles; ++s) {
    result.style_share[s] = style_count[s] / n;
    result.accuracy_by_style[s] = share(style_correct[s], style_count[s]);
  }
  result.checks_per_completion = checks / n;
  result.corrections_per_completion = corrections / n;
  for (int d : result.difficulties) result.accuracy_by_difficulty[d] = share(difficulty_correct[d], difficulty_count[d]);
  return result;
}

EvalResult evaluate(const GPT& model, const EvalConfig& config, bool progress) {
  config.validate();
  const Clock::time_point start = Clock::now();
  const data::Tokenizer tokenizer;
  if (model.config().vocab_size != tokenizer.vocab_size())
    throw std::runtime_error("eval: the model's vocab_size " + std::to_string(model.config().vocab_size) +
                             " is not the arithmetic tokenizer's " + std::to_string(tokenizer.vocab_size()) +
                             " (" + data::Tokenizer::kVersion + ")");

  const std::vector<data::Problem> problems = eval_problems(config);
  std::vector<std::vector<int>> prompts;
  for (const data::Problem& problem : problems) {
    prompts.push_back(tokenizer.encode(data::prompt_text(problem)));
    if ((int)prompts.back().size() >= model.config().context)
      throw std::runtime_error("eval: the prompt '" + problem.text + "' has " + std::to_string(prompts.back().size()) +
                               " tokens, no room in the model's context " + std::to_string(model.config().context));
  }
  std::vector<ProblemCompletions> completions(problems.size());
  for (size_t i = 0; i < problems.size(); ++i) completions[i].problem = problems[i];

  const int m = config.samples_per_problem();
  const int64_t n = (int64_t)problems.size();
  const int64_t total = n + n * m;
  Progress bar(progress, total);
  GenerateConfig gen_config;
  gen_config.max_new_tokens = config.max_new_tokens;
  gen_config.eos_token = data::Tokenizer::kEos;
  gen_config.kv_cache = config.kv_cache;

  // Greedy: one completion per problem, batch_size problems per call.
  gen_config.sampling.greedy = true;
  Generator unused(config.seed);  // greedy decoding draws nothing
  for (int64_t first = 0; first < n; first += config.batch_size) {
    const int64_t last = std::min(n, first + config.batch_size);
    const std::vector<std::vector<int>> batch(prompts.begin() + first, prompts.begin() + last);
    const std::vector<Completion> out = generate(model, batch, gen_config, unused);
    for (int64_t i = first; i < last; ++i) {
      const Completion& c = out[(size_t)(i - first)];
      ProblemCompletions& pc = completions[(size_t)i];
      pc.greedy = tokenizer.decode(c.tokens);
      pc.greedy_tokens = (int)c.tokens.size();
      pc.greedy_truncated = c.stop == StopReason::MaxTokens || c.stop == StopReason::Context;
    }
    bar.update(last, "greedy");
  }

  // Sampled: m completions per problem; row r is sample r % m of problem r / m.
  // Each call draws from its own stream, so the samples are fixed by the seed
  // and the batch size.
  if (m > 0) {
    gen_config.sampling = SamplingConfig();
    gen_config.sampling.temperature = config.temperature;
    const uint64_t sample_seed = rng::bits(config.seed, kSampleStreamTag);
    const int64_t rows = n * m;
    for (int64_t first = 0, call = 0; first < rows; first += config.batch_size, ++call) {
      const int64_t last = std::min(rows, first + config.batch_size);
      std::vector<std::vector<int>> batch;
      for (int64_t r = first; r < last; ++r) batch.push_back(prompts[(size_t)(r / m)]);
      Generator gen(rng::bits(sample_seed, (uint64_t)call));
      const std::vector<Completion> out = generate(model, batch, gen_config, gen);
      for (int64_t r = first; r < last; ++r)
        completions[(size_t)(r / m)].sampled.push_back(tokenizer.decode(out[(size_t)(r - first)].tokens));
      bar.update(n + last, "sampled");
    }
  }

  EvalResult result = aggregate(config, completions);
  result.seconds = seconds_since(start);
  return result;
}

nlohmann::json trace_json(const reward::TraceTotals& totals) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, value] : totals.metrics()) j[key] = or_null(value);
  j["completions"] = totals.completions;
  return j;
}

nlohmann::json trace_report_json(const reward::TraceReport& report) {
  nlohmann::json claims = nlohmann::json::array(), corrections = nlohmann::json::array();
  for (const reward::Claim& c : report.claims)
    claims.push_back({{"line", c.line},
                      {"kind", reward::claim_kind_name(c.kind)},
                      {"text", c.text},
                      {"holds", c.holds},
                      {"truth", c.truth},
                      {"corrected", c.corrected}});
  for (const reward::Correction& fix : report.corrections)
    corrections.push_back({{"line", fix.line}, {"effective", fix.effective}, {"why", fix.why}});
  return {{"lines", report.lines},
          {"claims", claims},
          {"corrections", corrections},
          {"conclusion", report.conclusion ? nlohmann::json(*report.conclusion) : nlohmann::json(nullptr)},
          {"faithful", report.faithful},
          {"correct", report.correct}};
}

nlohmann::json EvalResult::to_json() const {
  nlohmann::json pass_k = nlohmann::json::object();
  for (const auto& [k, value] : pass_at_k) pass_k[std::to_string(k)] = value;
  nlohmann::json styles = nlohmann::json::object(), style_accuracy = nlohmann::json::object();
  for (int s = 0; s < data::kNumStyles; ++s) {
    const char* name = data::style_name((data::Style)s);
    styles[name] = style_share[s];
    style_accuracy[name] = or_null(accuracy_by_style[s]);
  }
  nlohmann::json by_difficulty = nlohmann::json::object();
  for (const auto& [d, value] : accuracy_by_difficulty) by_difficulty[std::to_string(d)] = or_null(value);
  nlohmann::json sample_list = nlohmann::json::array();
  for (const EvalSample& s : samples)
    sample_list.push_back({{"prompt", s.prompt},
                           {"greedy", s.greedy},
                           {"greedy_correct", s.greedy_correct},
                           {"greedy_style", s.greedy_style},
                           {"greedy_trace", trace_report_json(s.greedy_trace)},
                           {"sampled", s.sampled ? nlohmann::json(*s.sampled) : nlohmann::json(nullptr)},
                           {"sampled_correct",
                            s.sampled_correct ? nlohmann::json(*s.sampled_correct) : nlohmann::json(nullptr)}});
  return {{"task", task},
          {"split", split},
          {"n", n},
          {"difficulties", difficulties},
          {"seed", seed},
          {"pass1_greedy", pass1_greedy},
          {"pass1_sampled", or_null(pass1_sampled)},
          {"samples_per_problem", samples_per_problem},
          {"pass_at_k", pass_k},
          {"format_rate", format_rate},
          {"mean_length", mean_length},
          {"truncated_share", truncated_share},
          {"style_share", styles},
          {"accuracy_by_style", style_accuracy},
          {"checks_per_completion", checks_per_completion},
          {"corrections_per_completion", corrections_per_completion},
          {"accuracy_by_difficulty", by_difficulty},
          {"trace", trace_json(trace)},
          {"trace_sampled", trace_sampled ? trace_json(*trace_sampled) : nlohmann::json(nullptr)},
          {"seconds", seconds},
          {"samples", sample_list}};
}

std::string EvalResult::table() const {
  auto row = [](const std::string& name, const std::string& value) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-23s %s\n", name.c_str(), value.c_str());
    return std::string(buf);
  };
  auto optional_text = [](const std::optional<double>& v) { return v ? fixed(*v, 3) : std::string("-"); };
  std::string difficulty_text;
  for (int d : difficulties) difficulty_text += (difficulty_text.empty() ? "" : ",") + std::to_string(d);

  std::string out = "eval " + task + " " + split + ": " + std::to_string(n) + " problems, difficulties " +
                    difficulty_text + ", seed " + std::to_string(seed) + "\n";
  out += row("pass@1 greedy", fixed(pass1_greedy, 3));
  if (pass1_sampled)
    out += row("pass@1 sampled", fixed(*pass1_sampled, 3) + "  (" + std::to_string(samples_per_problem) +
                                     " samples per problem)");
  for (const auto& [k, value] : pass_at_k) out += row("pass@" + std::to_string(k), fixed(value, 3));
  out += row("format rate", fixed(format_rate, 3));
  out += row("mean length", fixed(mean_length, 1) + " tokens, " + fixed(100.0 * truncated_share, 1) + "% truncated");
  std::string styles, style_accuracy;
  for (int s = 0; s < data::kNumStyles; ++s) {
    const std::string name = data::style_name((data::Style)s);
    const char* gap = s == 0 ? "" : "  ";
    styles += gap + name + " " + fixed(style_share[s], 3);
    style_accuracy += gap + name + " " + optional_text(accuracy_by_style[s]);
  }
  out += row("style share", styles);
  out += row("accuracy by style", style_accuracy);
  out += row("checks, corrections", fixed(checks_per_completion, 3) + ", " + fixed(corrections_per_completion, 3) +
                                        " per completion");
  std::map<std::string, std::optional<double>> t;
  for (const auto& [key, value] : trace.metrics()) t[key] = value;
  out += row("trace: claims, false", optional_text(t["claims_per_completion"]) + " per completion, " +
                                          optional_text(t["false_claim_rate"]) + " of them false");
  out += row("trace: false yes", optional_text(t["false_yes_share"]) + " of completions");
  out += row("trace: corrections", optional_text(t["effective_correction_share"]) + " effective, " +
                                       optional_text(t["superficial_correction_share"]) +
                                       " superficial (share of completions)");
  out += row("trace: caught, faithful", optional_text(t["caught_rate"]) + " of false claims, " +
                                            optional_text(t["faithful_share"]) + " faithful");
  out += row("accuracy +/- correction", optional_text(t["accuracy_with_correction"]) + " with, " +
                                            optional_text(t["accuracy_without_correction"]) + " without");
  std::string by_difficulty;
  for (const auto& [d, value] : accuracy_by_difficulty)
    by_difficulty += (by_difficulty.empty() ? "" : "  ") + std::to_string(d) + ": " + optional_text(value);
  out += row("accuracy by difficulty", by_difficulty);
  out += row("time", fixed(seconds, 1) + " s");
  return out;
}

}  // namespace aha
