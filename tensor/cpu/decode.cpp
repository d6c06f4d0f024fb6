// Batched decoding with a KV cache held in place: write new keys/values into
// the cache (fp32, or bf16 two values a word), attend one new query per row
// over it, and draw the next token of every row with its bookkeeping. Inference only (no backward): the GRPO
// update recomputes log-probabilities with the training forward.
// tensor/cuda/decode.cu mirrors these kernels one for one.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/random.h"

namespace aha {
namespace cpu {

// cache[b, h, start + t, d] = src[b, t, column + h*D + d]
// cache [B, H, Tmax, D]; src [B, Tn, S]: the new positions' keys (or values) as
// a linear layer wrote them, possibly one slice of a fused q|k|v row.
void kv_cache_write(float* cache, const float* src, int64_t B, int64_t H, int64_t Tmax, int64_t D,
                    int64_t Tn, int64_t S, int64_t column, int64_t start, const float* clock) {
  if (clock) start += (int64_t)*clock;
  if (start < 0 || start + Tn > Tmax) return;  // a clock past the cache: nothing to write
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t h = 0; h < H; ++h)
        std::memcpy(cache + ((b * H + h) * Tmax + start + t) * D, src + (b * Tn + t) * S + column + h * D,
                    (size_t)D * sizeof(float));
}

namespace {

// One query per row and head over the cache positions j in [pads[b], length):
//   s_j = q . k_j / sqrt(D),   y = sum_j softmax(s)_j v_j          (Vaswani et al. eq. 1)
// q[b, h, :] = qkv[b, column + h*D .. + D]; keys, values [B, H, Tmax, W]
// (W = D floats, or D/2 words of a bf16 cache); element d of a cached row is
// read(row, d); y [B, H*D]. Left padding (positions before pads[b]) is never
// read. A row with no visible key (cannot happen for a real prompt) gets y = 0.
template <class Read>
void attend_cache(const float* qkv, int64_t S, int64_t column, const float* keys, const float* values,
                  const float* pads, float* y, int64_t B, int64_t H, int64_t Tmax, int64_t D, int64_t W,
                  int64_t length, const float* clock, Read read) {
  if (clock) length = std::min<int64_t>(length + (int64_t)*clock, Tmax);
  const float scale = 1.0f / std::sqrt((float)D);
#pragma omp parallel for if (B * H * length * D >= kParallelMinWork)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    const float* q = qkv + b * S + column + h * D;
    const float* k = keys + bh * Tmax * W;
    const float* v = values + bh * Tmax * W;
    float* out = y + b * H * D + h * D;
    for (int64_t d = 0; d < D; ++d) out[d] = 0.0f;
    const int64_t first = (int64_t)pads[b];
    if (first >= length) continue;
    std::vector<float> p((size_t)(length - first));
    float max = -INFINITY;
    for (int64_t j = first; j < length; ++j) {
      float s = 0.0f;
      for (int64_t d = 0; d < D; ++d) s += q[d] * read(k + j * W, d);
      p[(size_t)(j - first)] = s * scale;
      max = std::fmax(max, s * scale);
    }
    float sum = 0.0f;
    for (float& e : p) sum += e = std::exp(e - max);
    for (int64_t j = first; j < length; ++j) {
      const float w = p[(size_t)(j - first)] / sum;
      for (int64_t d = 0; d < D; ++d) out[d] += w * read(v + j * W, d);
    }
  }
}

}  // namespace

// attend_cache over an fp32 cache [B, H, Tmax, D].
void decode_attention(const float* qkv, int64_t S, int64_t column, const float* keys, const float* values,
                      const float* pads, float* y, int64_t B, int64_t H, int64_t Tmax, int64_t D,
                      int64_t length, const float* clock) {
  attend_cache(qkv, S, column, keys, values, pads, y, B, H, Tmax, D, D, length, clock,
               [](const float* row, int64_t d) { return row[d]; });
}

// ---- the bf16 cache: [B, H, Tmax, D/2] floats, each word two bf16 (tensor/ops.h) ----

// bf16_round / bf16_widen: tensor/cpu/bf16.cpp.

// Element d of a bf16 cache row: half d % 2 of word d / 2.
static float bf16_at(const float* row, int64_t d) {
  uint32_t word;
  std::memcpy(&word, row + d / 2, sizeof word);
  return bf16_widen((uint16_t)(d % 2 == 0 ? word & 0xffffu : word >> 16));
}

// cache[b, h, start + t, d] = bf16(src[b, t, column + h*D + d]), two values a word:
// word i of a row = bf16(x[2i]) | bf16(x[2i + 1]) << 16.
void kv_cache_write_bf16(float* cache, const float* src, int64_t B, int64_t H, int64_t Tmax, int64_t D,
                         int64_t Tn, int64_t S, int64_t column, int64_t start, const float* clock) {
  if (clock) start += (int64_t)*clock;
  if (start < 0 || start + Tn > Tmax) return;  // a clock past the cache: nothing to write
  const int64_t W = D / 2;  // words per cache row
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* x = src + (b * Tn + t) * S + column + h * D;
        float* row = cache + ((b * H + h) * Tmax + start + t) * W;
        for (int64_t i = 0; i < W; ++i) {
          const uint32_t word = (uint32_t)bf16_round(x[2 * i]) | (uint32_t)bf16_round(x[2 * i + 1]) << 16;
          std::memcpy(row + i, &word, sizeof word);
        }
      }
}

// attend_cache over a bf16 cache [B, H, Tmax, D/2]: the same equations, each
// cached value widened to float.
void decode_attention_bf16(const float* qkv, int64_t S, int64_t column, const float* keys, const float* values,
                           const float* pads, float* y, int64_t B, int64_t H, int64_t Tmax, int64_t D,
                           int64_t length, const float* clock) {
  attend_cache(qkv, S, column, keys, values, pads, y, B, H, Tmax, D, D / 2, length, clock, bf16_at);
}

// One decoding step for the Bc rows still in the batch; row i is sequence
// rows[i] of the B0 the call started with. For a row not yet done:
//   policy_logprob = z_tok / T - max - log sum_j exp(z_j / T - max)   (log softmax(z / T))
//   greedy:  tok = argmax z (lowest id on ties), logprob = 0
//   sampled: tok = the first id whose cumulative exp(z_j / T - max) exceeds
//            u * sum (inverse CDF in id order), u = uniform(seed, rows[i] * max_new + step),
//            logprob = policy_logprob (no top-k/top-p cut)
// then tokens/logprobs/policy_logprobs[rows[i], step] and lengths[rows[i]] are
// written, and the row is done when tok is eos or a stop token, it has
// max_new tokens, or prompt + generated > context (its next position would be
// past the context). next_tokens/next_positions [Bc] are what the next step
// feeds: the token at position prompt + step, or 0/0 for a done row (computed
// but ignored until the row leaves the batch). Logits with a NaN give token -1
// and end the row (the caller reports it).
void sample_step(const float* logits, const float* rows, const float* prompt_lengths, float* done,
                 float* lengths, float* tokens, float* logprobs, float* policy_logprobs, float* next_tokens,
                 float* next_positions, int64_t Bc, int64_t V, const SampleStepConfig& config,
                 const float* clock) {
  SampleStepConfig c = config;
  if (clock) c.step += (int64_t)*clock;
  if (c.step >= c.max_new) return;  // a clock past the records: nothing to draw
  const float inv_t = c.greedy ? 1.0f : 1.0f / c.temperature;
  for (int64_t i = 0; i < Bc; ++i) {
    const int64_t row = (int64_t)rows[i];
    next_tokens[i] = 0.0f;
    next_positions[i] = 0.0f;
    if (done[row] != 0.0f) continue;
    const float* z = logits + i * V;
    float max = -INFINITY;
    int64_t argmax = 0;
    bool nan = false;
    for (int64_t j = 0; j < V; ++j) {
      nan = nan || std::isnan(z[j]);
      if (z[j] * inv_t > max) max = z[j] * inv_t, argmax = j;
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < V; ++j) sum += std::exp(z[j] * inv_t - max);
    int64_t tok = argmax;
    if (!c.greedy) {
      const float target = rng::uniform(c.seed, (uint64_t)(row * c.max_new + c.step)) * sum;
      float cumulative = 0.0f;
      for (int64_t j = 0; j < V; ++j) {
        const float e = std::exp(z[j] * inv_t - max);
        if (e == 0.0f) continue;
        tok = j;  // rounding can leave target just above the last sum: then the last possible token
        cumulative += e;
        if (target < cumulative) break;
      }
    }
    if (nan || !std::isfinite(max)) tok = -1;
    const float policy = tok < 0 ? NAN : z[tok] * inv_t - max - std::log(sum);
    const int64_t count = c.step + 1, at = row * c.max_new + c.step;
    tokens[at] = (float)tok;
    logprobs[at] = c.greedy ? 0.0f : policy;
    policy_logprobs[at] = policy;
    lengths[row] = (float)count;
    bool stop = tok < 0 || tok == c.eos_token || count >= c.max_new || prompt_lengths[row] + count > c.context;
    for (int s = 0; s < c.num_stop_tokens; ++s) stop = stop || tok == c.stop_tokens[s];
    done[row] = stop ? 1.0f : 0.0f;
    if (!stop) {
      next_tokens[i] = (float)tok;
      next_positions[i] = prompt_lengths[row] + (float)c.step;
    }
  }
}

}  // namespace cpu
}  // namespace aha
