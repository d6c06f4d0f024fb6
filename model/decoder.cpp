#include "model/decoder.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "model/inference.h"
#include "tensor/step_graph.h"

namespace aha {
namespace {

[[noreturn]] void decode_error(const std::string& what) { throw std::runtime_error("generate: " + what); }

// One layer's attention input weights fused column-wise: [C, 3C] = [W_q | W_k | W_v]
// and [3C] = [b_q | b_k | b_v], so one product gives q, k and v of a row.
struct FusedQKV {
  Tensor weight, bias;
};

FusedQKV fuse_qkv(const GPTBlock& block) {
  // Weights are [in, out]: stack the transposes along dim 0, transpose back.
  Tensor stacked = concat0({transpose_last2(block.w_q.value()), transpose_last2(block.w_k.value()),
                            transpose_last2(block.w_v.value())});  // [3C, C]
  return {transpose_last2(stacked), concat0({block.b_q.value(), block.b_k.value(), block.b_v.value()})};
}

// The decode-time state of one call: the caches and the rows still in the batch.
struct Batch {
  KvCache precision = KvCache::Fp32;
  int64_t head_dim = 0;              // D
  // Per layer [Bc, H, Tmax, D] fp32, or [Bc, H, Tmax, D/2] with two bf16 a
  // float (tensor/ops.h): the gathers of keep_rows copy either as it is.
  std::vector<Tensor> keys, values;
  Tensor rows;                       // [Bc] sequence number of each cache row
  Tensor pads;                       // [Bc] left padding of each cache row
  std::vector<int64_t> rows_host;    // the same sequence numbers on the host
  int64_t size() const { return (int64_t)rows_host.size(); }
};

// New keys (or values), columns [column, column + H*D) of src [Bc, Tn, S],
// into a cache at positions start (+ clock) on: kv_cache_write_ or its bf16 sibling.
void write_cache(const Batch& batch, Tensor& cache, const Tensor& src, int64_t column, int64_t start,
                 const Tensor& clock = Tensor()) {
  if (batch.precision == KvCache::Bf16) kv_cache_write_bf16_(cache, src, batch.head_dim, column, start, clock);
  else kv_cache_write_(cache, src, column, start, clock);
}

// Layer l's attention of the queries qkv[:, 0:C] over its cache positions [pad, length (+ clock)).
Tensor attend_cache(const Batch& batch, int l, const Tensor& qkv, int64_t length, const Tensor& clock) {
  const Tensor& keys = batch.keys[(size_t)l];
  const Tensor& values = batch.values[(size_t)l];
  if (batch.precision == KvCache::Bf16)
    return decode_attention_bf16(qkv, 0, keys, values, batch.head_dim, batch.pads, length, clock);
  return decode_attention(qkv, 0, keys, values, batch.pads, length, clock);
}

// The prompts [B, Tp] through the model at once, filling cache positions
// 0..Tp-1 of every layer: the training forward's block (transformer_block,
// model/gpt.h) with the left-padding mask of model/inference.h. The prompt attends over its exact
// keys and values; only later steps read them back from the cache (rounded,
// with a bf16 cache). -> logits after each prompt [B, V]
Tensor prefill_into(const GPT& model, const Tensor& tokens, const Tensor& positions,
                    const std::vector<int64_t>& pads, Batch& batch) {
  NoGradGuard no_grad;
  const GPTConfig& config = model.config();
  const int64_t Tp = tokens.size(1);
  const bool padded = std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p > 0; });
  Tensor bias = padded ? padding_bias(pads, config.n_heads, Tp, Tp).to(model.device()) : Tensor();
  Var x = embed(model, tokens, positions);  // [B, Tp, C]
  for (int l = 0; l < config.n_layers; ++l) {
    const GPTBlock& block = model.blocks[(size_t)l];
    auto attention = [&](const Var& h) {
      Var k = linear(h, block.w_k, block.b_k), v = linear(h, block.w_v, block.b_v);  // [B, Tp, C]
      write_cache(batch, batch.keys[(size_t)l], k.value(), 0, 0);
      write_cache(batch, batch.values[(size_t)l], v.value(), 0, 0);
      Var q = split_heads(linear(h, block.w_q, block.b_q), config.n_heads);  // [B, H, Tp, D]
      return merge_heads(attend(q, split_heads(k, config.n_heads), split_heads(v, config.n_heads), bias));
    };
    x = transformer_block(block, x, attention);
  }
  return lm_head(model, last_position(x)).value();  // [B, V]
}

// One new token per cache row at cache position first + clock[0]: tokens and
// positions [Bc, 1] -> logits [Bc, V]. The block is GPT::forward's
// (transformer_block, run with no graph), its attention one fused q|k|v
// product, the cache writes and the attention of the one new query over the
// cache. The position comes from the device (`clock`), so the same launches
// serve every step and a CUDA graph can replay them.
Tensor decode_one(const GPT& model, const std::vector<FusedQKV>& qkv_weights, Batch& batch,
                  const Tensor& tokens, const Tensor& positions, int64_t first, const Tensor& clock) {
  NoGradGuard no_grad;
  const GPTConfig& config = model.config();
  const int64_t Bc = batch.size(), C = config.d_model;
  Var x = reshape(embed(model, tokens, positions), Shape{Bc, C});  // [Bc, C]
  for (int l = 0; l < config.n_layers; ++l) {
    auto attention = [&](const Var& h) {
      const FusedQKV& fused = qkv_weights[(size_t)l];
      Tensor qkv = linear(h.value(), fused.weight, fused.bias);  // [Bc, 3C] = q | k | v
      const Tensor rows_of_one = qkv.reshape(Shape{Bc, 1, 3 * C});
      write_cache(batch, batch.keys[(size_t)l], rows_of_one, C, first, clock);
      write_cache(batch, batch.values[(size_t)l], rows_of_one, 2 * C, first, clock);
      return Var(attend_cache(batch, l, qkv, first + 1, clock));  // [Bc, C]
    };
    x = transformer_block(model.blocks[(size_t)l], x, attention);
  }
  return lm_head(model, x).value();  // [Bc, V], the head tied to wte
}

// Rows `keep` (indices into the current batch, increasing) stay; the rest
// leave. Gathers are embedding lookups with the row indices as ids.
void keep_rows(Batch& batch, const std::vector<int64_t>& keep, Tensor& next_tokens, Tensor& next_positions,
               Device device) {
  const int64_t Bc = batch.size(), Bk = (int64_t)keep.size();
  std::vector<float> ids(keep.begin(), keep.end());
  const Tensor index = Tensor::from_vector(ids, Shape{Bk}, device);
  auto gather = [&](const Tensor& t) {
    const Shape shape = t.shape();
    Shape kept = shape;
    kept.dims[0] = Bk;
    return embedding(t.reshape(Shape{Bc, t.numel() / Bc}), index).reshape(kept);
  };
  for (Tensor& k : batch.keys) k = gather(k);
  for (Tensor& v : batch.values) v = gather(v);
  batch.rows = gather(batch.rows);
  batch.pads = gather(batch.pads);
  next_tokens = gather(next_tokens);
  next_positions = gather(next_positions);
  std::vector<int64_t> rows;
  for (int64_t i : keep) rows.push_back(batch.rows_host[(size_t)i]);
  batch.rows_host = rows;
}

}  // namespace

std::vector<Completion> generate_batched(const GPT& model, const std::vector<std::vector<int>>& prompts,
                                         const GenerateConfig& config, Generator& gen) {
  config.validate();
  if (config.sampling.top_k != 0 || config.sampling.top_p < 1.0f)
    decode_error("the batched decoder samples without top-k / top-p cuts (use generate_stepwise)");
  if ((int)config.stop_tokens.size() > SampleStepConfig::kMaxStopTokens)
    decode_error("at most " + std::to_string(SampleStepConfig::kMaxStopTokens) + " stop tokens, got " +
                 std::to_string(config.stop_tokens.size()));
  std::vector<Completion> completions(prompts.size());
  if (prompts.empty()) return completions;

  const GPTConfig& mc = model.config();
  const Device device = model.device();
  const int64_t B0 = (int64_t)prompts.size(), H = mc.n_heads, D = mc.head_dim();
  if (config.kv_cache == KvCache::Bf16 && D % 2 != 0)
    decode_error("a bf16 KV cache packs two values a word: it needs an even head size, got " + std::to_string(D));
  const size_t longest = check_prompts(model, prompts, "generate");
  size_t shortest = longest;
  for (const std::vector<int>& prompt : prompts) shortest = std::min(shortest, prompt.size());
  const int64_t Tp = (int64_t)longest;
  // Cache positions ever fed: the prompts, then at most one per step until a
  // row's max_new - 1 tokens or the end of its context.
  const int64_t Tmax = Tp + std::min<int64_t>(config.max_new_tokens - 1, mc.context - (int64_t)shortest);

  // Left-padded prompts; position ids count from each prompt's first token.
  std::vector<float> ids((size_t)(B0 * Tp), 0.0f), positions((size_t)(B0 * Tp), 0.0f);
  std::vector<float> pads_f, prompt_lengths, rows_f;
  std::vector<int64_t> pads;
  for (int64_t b = 0; b < B0; ++b) {
    const std::vector<int>& prompt = prompts[(size_t)b];
    const int64_t pad = Tp - (int64_t)prompt.size();
    pads.push_back(pad);
    pads_f.push_back((float)pad);
    prompt_lengths.push_back((float)prompt.size());
    rows_f.push_back((float)b);
    for (int64_t t = 0; t < Tp; ++t) positions[(size_t)(b * Tp + t)] = (float)std::max<int64_t>(t - pad, 0);
    for (size_t i = 0; i < prompt.size(); ++i) ids[(size_t)(b * Tp + pad) + i] = (float)prompt[i];
  }

  Batch batch;
  batch.precision = config.kv_cache;
  batch.head_dim = D;
  const Shape cache_shape{B0, H, Tmax, config.kv_cache == KvCache::Bf16 ? D / 2 : D};
  for (int l = 0; l < mc.n_layers; ++l) {
    batch.keys.push_back(Tensor::empty(cache_shape, device));
    batch.values.push_back(Tensor::empty(cache_shape, device));
  }
  batch.rows = Tensor::from_vector(rows_f, Shape{B0}, device);
  batch.pads = Tensor::from_vector(pads_f, Shape{B0}, device);
  for (int64_t b = 0; b < B0; ++b) batch.rows_host.push_back(b);
  std::vector<FusedQKV> qkv_weights;
  for (const GPTBlock& block : model.blocks) qkv_weights.push_back(fuse_qkv(block));

  DecodeState state;
  const Shape records{B0, (int64_t)config.max_new_tokens};
  state.prompt_lengths = Tensor::from_vector(prompt_lengths, Shape{B0}, device);
  state.done = Tensor::zeros(Shape{B0}, device);
  state.lengths = Tensor::zeros(Shape{B0}, device);
  state.tokens = Tensor::zeros(records, device);
  state.logprobs = Tensor::zeros(records, device);
  state.policy_logprobs = Tensor::zeros(records, device);

  SampleStepConfig step_config;
  step_config.greedy = config.sampling.is_greedy();
  step_config.temperature = config.sampling.temperature;
  step_config.eos_token = config.eos_token;
  step_config.num_stop_tokens = (int)config.stop_tokens.size();
  std::copy(config.stop_tokens.begin(), config.stop_tokens.end(), step_config.stop_tokens);
  step_config.max_new = config.max_new_tokens;
  step_config.context = mc.context;
  step_config.seed = step_config.greedy ? 0 : gen.next_u64();

  Tensor logits = prefill_into(model, Tensor::from_vector(ids, Shape{B0, Tp}, device),
                               Tensor::from_vector(positions, Shape{B0, Tp}, device), pads, batch);
  Tensor next_tokens = Tensor::empty(Shape{B0, 1}, device), next_positions = Tensor::empty(Shape{B0, 1}, device);
  step_config.step = 0;
  sample_step_(logits, batch.rows, state, next_tokens, next_positions, step_config);

  // Steps 1.. run as one unit: feed the last drawn token at cache position
  // Tp + clock, draw step 1 + clock, advance the clock. On CUDA the unit is
  // captured once per batch size and replayed (tensor/step_graph.h).
  Tensor clock = Tensor::zeros(Shape{1}, device);
  const Tensor one = Tensor::ones(Shape{1}, device);
  SampleStepConfig unit_config = step_config;
  unit_config.step = 1;
  StepGraph graph(device);
  for (int64_t step = 1; step < config.max_new_tokens; ++step) {
    if (Tp + step - 1 >= Tmax) break;  // no row is live past Tmax
    if (step % kStopCheckInterval == 0) {
      const std::vector<float> done = state.done.to_vector();  // the one sync every few steps
      std::vector<int64_t> keep;
      for (int64_t i = 0; i < batch.size(); ++i)
        if (done[(size_t)batch.rows_host[(size_t)i]] == 0.0f) keep.push_back(i);
      if (keep.empty()) break;
      if ((int64_t)keep.size() < batch.size()) {
        graph.reset();  // the capture points at the old batch's tensors
        keep_rows(batch, keep, next_tokens, next_positions, device);
      }
    }
    graph.run([&] {
      logits = decode_one(model, qkv_weights, batch, next_tokens, next_positions, Tp, clock);
      sample_step_(logits, batch.rows, state, next_tokens, next_positions, unit_config, clock);
      add_(clock, one);
    });
  }

  const std::vector<float> tokens = state.tokens.to_vector(), logprobs = state.logprobs.to_vector(),
                           policy = state.policy_logprobs.to_vector(), lengths = state.lengths.to_vector();
  for (int64_t b = 0; b < B0; ++b) {
    Completion& c = completions[(size_t)b];
    for (int64_t i = 0; i < (int64_t)lengths[(size_t)b]; ++i) {
      const size_t at = (size_t)(b * config.max_new_tokens + i);
      if (tokens[at] < 0) decode_error("logits of sequence " + std::to_string(b) + " contain NaN or are all -inf");
      c.tokens.push_back((int)tokens[at]);
      c.logprobs.push_back(logprobs[at]);
      c.policy_logprobs.push_back(policy[at]);
    }
    if (!stops(config, c.tokens.back(), (int64_t)c.tokens.size(), (int64_t)prompts[(size_t)b].size(), mc.context,
               c.stop))
      decode_error("sequence " + std::to_string(b) + " ended without a stop rule (internal error)");
  }
  return completions;
}

}  // namespace aha
