#include "data/corpus.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "data/split.h"
#include "data/tokenizer.h"

namespace aha {
namespace data {

namespace {

template <size_t N>
void check_shares(const std::array<double, N>& shares, const char* what) {
  double total = 0;
  for (double share : shares) {
    if (!std::isfinite(share) || share < 0)
      throw std::runtime_error(std::string("corpus: ") + what + " share " + std::to_string(share) +
                               " is not a non-negative number");
    total += share;
  }
  if (total <= 0) throw std::runtime_error(std::string("corpus: the ") + what + " shares are all zero");
}

double uniform(Generator& rng) { return (double)(rng.next_u64() >> 11) * 0x1.0p-53; }  // in [0, 1)

// Index i with probability weights[i] / sum(weights).
template <size_t N>
size_t pick_weighted(const std::array<double, N>& weights, Generator& rng) {
  double total = 0;
  for (double w : weights) total += w;
  const double u = uniform(rng) * total;  // uniform in [0, total)
  double cumulative = 0;
  for (size_t i = 0; i < N; ++i) {
    cumulative += weights[i];
    if (u < cumulative && weights[i] > 0) return i;
  }
  for (size_t i = N; i-- > 0;)  // rounding left u at the very top
    if (weights[i] > 0) return i;
  return 0;
}

// Problems drawn for a slipped document before giving up (in practice a
// countdown draw has room for a slip more than half the time).
constexpr int kMaxSlipDraws = 1000;

double parse_share(const std::string& key, const std::string& value) {
  size_t used = 0;
  double share = -1;
  try {
    share = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || !std::isfinite(share) || share < 0)
    throw std::runtime_error("corpus mix: value '" + value + "' of '" + key +
                             "' is not a non-negative number");
  return share;
}

}  // namespace

CorpusConfig parse_corpus_mix(const std::string& spec, CorpusConfig base) {
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error("corpus mix: '" + item + "' is not key=value");
    const std::string key = item.substr(0, eq);
    const double share = parse_share(key, item.substr(eq + 1));
    if (key == "noise" || key == "slip" || key == "wrong_end") {
      if (share > 1)
        throw std::runtime_error("corpus mix: " + key + " " + item.substr(eq + 1) + " is above 1 (a probability)");
      (key == "noise" ? base.noise_share : key == "slip" ? base.slip_share : base.wrong_end_share) = share;
      continue;
    }
    bool known = false;
    for (int t = 0; t < kNumTasks; ++t) {
      if (key != task_name((TaskKind)t)) continue;
      base.task_shares[t] = share;
      known = true;
    }
    for (int s = 0; s < kNumStyles; ++s) {
      if (key != style_name((Style)s)) continue;
      base.style_shares[s] = share;
      known = true;
    }
    if (!known)
      throw std::runtime_error("corpus mix: unknown key '" + key +
                               "' (choices: add, mul, countdown, direct, steps, verify, correct, noise, slip, wrong_end)");
  }
  return base;
}

std::string describe_mix(const CorpusConfig& config) {
  std::string text;
  char buf[64];
  double tasks = 0, styles = 0;
  for (double w : config.task_shares) tasks += w;
  for (double w : config.style_shares) styles += w;
  for (int t = 0; t < kNumTasks; ++t) {
    std::snprintf(buf, sizeof buf, "%s=%.3g ", task_name((TaskKind)t), config.task_shares[t] / tasks);
    text += buf;
  }
  for (int s = 0; s < kNumStyles; ++s) {
    std::snprintf(buf, sizeof buf, "%s=%.3g ", style_name((Style)s), config.style_shares[s] / styles);
    text += buf;
  }
  std::snprintf(buf, sizeof buf, "noise=%.3g slip=%.3g", config.noise_share, config.slip_share);
  text += buf;
  if (config.wrong_end_share > 0) {  // only when set: the default description stays what checkpoints recorded
    std::snprintf(buf, sizeof buf, " wrong_end=%.3g", config.wrong_end_share);
    text += buf;
  }
  return text;
}

Corpus::Corpus(CorpusConfig config, uint64_t seed) : config_(std::move(config)), seed_(seed) {
  check_shares(config_.task_shares, "task");
  check_shares(config_.style_shares, "style");
  if (!(config_.noise_share >= 0 && config_.noise_share <= 1))
    throw std::runtime_error("corpus: noise share " + std::to_string(config_.noise_share) +
                             " outside [0, 1]");
  if (!(config_.slip_share >= 0 && config_.slip_share <= 1))
    throw std::runtime_error("corpus: slip share " + std::to_string(config_.slip_share) + " outside [0, 1]");
  if (!(config_.wrong_end_share >= 0 && config_.wrong_end_share <= 1))
    throw std::runtime_error("corpus: wrong_end share " + std::to_string(config_.wrong_end_share) +
                             " outside [0, 1]");
  if (config_.wrong_end_share > 0 && config_.task_shares[(int)TaskKind::Countdown] > 0)
    throw std::runtime_error("corpus: wrong_end is for add and mul only (a countdown answer is an expression); "
                             "set countdown=0 or wrong_end=0");
  if (config_.max_tokens <= 0)
    throw std::runtime_error("corpus: max_tokens " + std::to_string(config_.max_tokens) + " must be positive");
  for (int t = 0; t < kNumTasks; ++t) {
    const TaskSpec& spec = task_spec((TaskKind)t);
    std::vector<int>& difficulties = config_.difficulties[t];
    if (difficulties.empty()) difficulties = spec.train_difficulties;
    for (int d : difficulties)
      if (std::find(spec.train_difficulties.begin(), spec.train_difficulties.end(), d) ==
          spec.train_difficulties.end())
        throw std::runtime_error("corpus: difficulty " + std::to_string(d) + " of task " + spec.name +
                                 " is outside the training range 1.." +
                                 std::to_string(spec.train_difficulties.back()) +
                                 " (the OOD set must stay unseen)");
  }
}

Document Corpus::document_at(uint64_t index) const {
  Generator rng(rng::bits(seed_, index));
  Document doc;
  const TaskKind task = (TaskKind)pick_weighted(config_.task_shares, rng);
  const std::vector<int>& difficulties = config_.difficulties[(int)task];
  const int difficulty = difficulties[rng.below(difficulties.size())];
  doc.problem = sample_problem(task, difficulty, Split::Train, rng);
  doc.noise = uniform(rng) < config_.noise_share;
  if (doc.noise) {
    doc.style = Style::Direct;
    doc.completion = write_wrong_solution(doc.problem, rng);
  } else {
    doc.style = (Style)pick_weighted(config_.style_shares, rng);
    doc.slipped = doc.style == Style::Steps && uniform(rng) < config_.slip_share;
    // A slip needs a place to happen (a countdown search whose first line
    // already hits has none): such a document is about another problem.
    if (doc.slipped || doc.style == Style::Correct)
      for (int draw = 0; !can_slip(doc.problem); ++draw) {
        if (draw == kMaxSlipDraws)
          throw std::runtime_error(std::string("corpus: no ") + task_name(task) + " problem of difficulty " +
                                   std::to_string(difficulty) + " with room for a slip in " +
                                   std::to_string(kMaxSlipDraws) + " draws");
        doc.problem = sample_problem(task, difficulty, Split::Train, rng);
      }
    // Drawn only when asked for, so that the default corpus keeps its streams.
    doc.wrong_end = config_.wrong_end_share > 0 && (doc.style == Style::Verify || doc.style == Style::Correct) &&
                    uniform(rng) < config_.wrong_end_share;
    doc.completion = doc.wrong_end ? write_solution_wrong_end(doc.problem, doc.style, rng)
                                   : write_solution(doc.problem, doc.style, rng, doc.slipped);
  }
  doc.prompt = prompt_text(doc.problem);

  static const Tokenizer tokenizer;
  const int tokens = tokenizer.count(doc.prompt) + tokenizer.count(doc.completion);
  if (tokens > config_.max_tokens)
    throw std::runtime_error("corpus: document " + std::to_string(index) + " (" + task_name(task) +
                             " difficulty " + std::to_string(difficulty) + ", " + style_name(doc.style) +
                             ") has " + std::to_string(tokens) + " tokens, more than max_tokens " +
                             std::to_string(config_.max_tokens));
  return doc;
}

Document Corpus::next() { return document_at(position_++); }

}  // namespace data
}  // namespace aha
