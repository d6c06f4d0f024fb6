// Fused causal attention and the batched decoder's ops (KV cache writes,
// attention of one new query over the cache). Shape checks, output allocation
// and backend dispatch; the arithmetic is in tensor/cpu/attention.cpp,
// decode.cpp and their tensor/cuda/ siblings.
#include <string>
#include <utility>
#include <vector>

#include "tensor/ops_checks.h"

namespace aha {

// ---- fused causal attention ----

// q, k, v [B, T, C] on one device with C a multiple of n_heads; returns D = C / n_heads.
static int64_t check_attention_inputs(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                      int n_heads) {
  same_device(op, q, k);
  same_device(op, q, v);
  if (q.ndim() != 3) shape_error(op, "q, k, v must be [B, T, C], got q " + q.shape().str());
  if (k.shape() != q.shape() || v.shape() != q.shape())
    shape_error(op, "q " + q.shape().str() + ", k " + k.shape().str() + " and v " + v.shape().str() +
                        " must have one shape");
  if (k.dtype() != q.dtype() || v.dtype() != q.dtype())
    shape_error(op, std::string("q, k and v must have one dtype, got ") + dtype_name(q.dtype()) + ", " +
                        dtype_name(k.dtype()) + " and " + dtype_name(v.dtype()));
  const int64_t C = q.size(2);
  if (n_heads < 1 || C % n_heads != 0)
    shape_error(op, "n_heads " + std::to_string(n_heads) + " does not divide C = " + std::to_string(C));
  return C / n_heads;
}

static Tensor to_f32(const Tensor& t) { return cast(t, DType::F32); }
static Tensor to_bf16(const Tensor& t) { return cast(t, DType::BF16); }

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, int n_heads, Tensor& lse) {
  const char* op = "causal_attention";
  const int64_t D = check_attention_inputs(op, q, k, v, n_heads);
  const int64_t B = q.size(0), T = q.size(1);
  // bf16 storage, float32 math. On the GPU, head dims 32 and 64 have native
  // bf16 kernels (tensor/cuda/attention_tc.cu); elsewhere a bf16 call widens
  // q, k, v (exact), runs the float kernels and rounds y once: the reference.
  if (q.dtype() == DType::BF16) {
#if AHA_CUDA
    if (q.device() == Device::CUDA && cuda::causal_attention_bf16_supports(D)) {
      Tensor y = Tensor::empty(q.shape(), q.device(), DType::BF16);
      lse = Tensor::empty(Shape{B, n_heads, T}, q.device());
      if (y.numel() > 0)
        cuda::causal_attention_bf16(q.data_bf16(), k.data_bf16(), v.data_bf16(), y.data_bf16(), lse.data(), B, T,
                                    n_heads, D);
      return y;
    }
#endif
    return to_bf16(causal_attention(to_f32(q), to_f32(k), to_f32(v), n_heads, lse));
  }
  Tensor y = Tensor::empty(q.shape(), q.device());
  lse = Tensor::empty(Shape{B, n_heads, T}, q.device());
  if (y.numel() > 0) AHA_DISPATCH(q.device(), causal_attention(q.data(), k.data(), v.data(), y.data(), lse.data(),
                                                                B, T, n_heads, D));
  return y;
}

void causal_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& y,
                               const Tensor& lse, const Tensor& dy, int n_heads, Tensor& dq, Tensor& dk,
                               Tensor& dv) {
  const char* op = "causal_attention_backward";
  const int64_t D = check_attention_inputs(op, q, k, v, n_heads);
  const int64_t B = q.size(0), T = q.size(1);
  same_device(op, q, y);
  same_device(op, q, dy);
  same_device(op, q, lse);
  if (y.shape() != q.shape() || dy.shape() != q.shape() || lse.shape() != Shape{B, n_heads, T})
    shape_error(op, "y " + y.shape().str() + ", dy " + dy.shape().str() + " and lse " + lse.shape().str() +
                        " do not fit q " + q.shape().str() + " with " + std::to_string(n_heads) + " heads");
  if (y.dtype() != q.dtype() || dy.dtype() != q.dtype())
    shape_error(op, std::string("y and dy must be ") + dtype_name(q.dtype()) + " like q, got " +
                        dtype_name(y.dtype()) + " and " + dtype_name(dy.dtype()));
  if (q.dtype() == DType::BF16) {  // as in the forward: native on the GPU, else widen and round each gradient once
#if AHA_CUDA
    if (q.device() == Device::CUDA && cuda::causal_attention_bf16_supports(D)) {
      dq = Tensor::empty(q.shape(), q.device(), DType::BF16);
      dk = Tensor::empty(q.shape(), q.device(), DType::BF16);
      dv = Tensor::empty(q.shape(), q.device(), DType::BF16);
      if (q.numel() > 0)
        cuda::causal_attention_backward_bf16(q.data_bf16(), k.data_bf16(), v.data_bf16(), y.data_bf16(), lse.data(),
                                             dy.data_bf16(), dq.data_bf16(), dk.data_bf16(), dv.data_bf16(), B, T,
                                             n_heads, D);
      return;
    }
#endif
    causal_attention_backward(to_f32(q), to_f32(k), to_f32(v), to_f32(y), lse, to_f32(dy), n_heads, dq, dk, dv);
    dq = to_bf16(dq), dk = to_bf16(dk), dv = to_bf16(dv);
    return;
  }
  dq = Tensor::empty(q.shape(), q.device());
  dk = Tensor::empty(q.shape(), q.device());
  dv = Tensor::empty(q.shape(), q.device());
  if (q.numel() > 0)
    AHA_DISPATCH(q.device(), causal_attention_backward(q.data(), k.data(), v.data(), y.data(), lse.data(),
                                                       dy.data(), dq.data(), dk.data(), dv.data(), B, T,
                                                       n_heads, D));
}

// ---- batched decoding ----

// A clock is a [1] tensor on the op's device; returns its pointer (null when undefined).
static const float* clock_data(const char* op, Device dev, const Tensor& clock) {
  if (!clock.defined()) return nullptr;
  if (clock.device() != dev || clock.numel() != 1)
    shape_error(op, "the clock must be one value on the op's device, got " + clock.shape().str());
  return clock.data();
}

// A cache write takes src columns [column, column + width) of rows S wide, to
// cache positions [start, start + Tn) of Tmax.
static void check_cache_write(const char* op, int64_t column, int64_t width, int64_t S, int64_t start, int64_t Tn,
                              int64_t Tmax) {
  if (column < 0 || column + width > S)
    shape_error(op, "columns [" + std::to_string(column) + ", " + std::to_string(column + width) +
                        ") do not fit src rows of " + std::to_string(S));
  if (start < 0 || start + Tn > Tmax)
    shape_error(op, "positions [" + std::to_string(start) + ", " + std::to_string(start + Tn) +
                        ") do not fit a cache of " + std::to_string(Tmax));
}

void kv_cache_write_(Tensor& cache, const Tensor& src, int64_t column, int64_t start, const Tensor& clock) {
  const char* op = "kv_cache_write_";
  Device dev = same_device(op, cache, src);
  if (cache.ndim() != 4 || src.ndim() != 3 || src.size(0) != cache.size(0))
    shape_error(op, "cache must be [B, H, Tmax, D] and src [B, Tn, S], got " + shapes(cache, src));
  const int64_t B = cache.size(0), H = cache.size(1), Tmax = cache.size(2), D = cache.size(3);
  const int64_t Tn = src.size(1), S = src.size(2);
  check_cache_write(op, column, H * D, S, start, Tn, Tmax);
  AHA_DISPATCH(dev, kv_cache_write(cache.data(), src.data(), B, H, Tmax, D, Tn, S, column, start,
                                   clock_data(op, dev, clock)));
}

// A cache read: one query row per cache row (qkv [B, S], its columns
// [column, column + width)), one pad per row, positions [.., length) of Tmax.
static void check_cache_read(const char* op, const Tensor& qkv, const Tensor& pads, int64_t B, int64_t column,
                             int64_t width, int64_t length, int64_t Tmax) {
  const int64_t S = qkv.shape().last();
  if (qkv.numel() != B * S || pads.numel() != B)
    shape_error(op, "qkv " + qkv.shape().str() + " and pads " + pads.shape().str() + " must have " +
                        std::to_string(B) + " rows");
  if (column < 0 || column + width > S)
    shape_error(op, "query columns [" + std::to_string(column) + ", " + std::to_string(column + width) +
                        ") do not fit rows of " + std::to_string(S));
  if (length < 1 || length > Tmax)
    shape_error(op, "length " + std::to_string(length) + " outside [1, " + std::to_string(Tmax) + "]");
}

Tensor decode_attention(const Tensor& qkv, int64_t column, const Tensor& keys, const Tensor& values,
                        const Tensor& pads, int64_t length, const Tensor& clock) {
  const char* op = "decode_attention";
  Device dev = same_device(op, qkv, keys);
  same_device(op, keys, values);
  same_device(op, keys, pads);
  if (keys.ndim() != 4 || values.shape() != keys.shape())
    shape_error(op, "keys and values must both be [B, H, Tmax, D], got " + shapes(keys, values));
  const int64_t B = keys.size(0), H = keys.size(1), Tmax = keys.size(2), D = keys.size(3);
  const int64_t S = qkv.shape().last();
  check_cache_read(op, qkv, pads, B, column, H * D, length, Tmax);
  Tensor y = Tensor::empty(Shape{B, H * D}, dev);
  AHA_DISPATCH(dev, decode_attention(qkv.data(), S, column, keys.data(), values.data(), pads.data(), y.data(), B,
                                     H, Tmax, D, length, clock_data(op, dev, clock)));
  return y;
}

// A bf16 cache [B, H, Tmax, D/2] for head size D: D even and the width D/2.
static void check_bf16_cache(const char* op, const Tensor& cache, int64_t head_dim) {
  if (head_dim < 2 || head_dim % 2 != 0)
    shape_error(op, "a bf16 cache holds two values a word: head_dim must be even and >= 2, got " +
                        std::to_string(head_dim));
  if (cache.ndim() != 4 || cache.size(3) * 2 != head_dim)
    shape_error(op, "a bf16 cache of head_dim " + std::to_string(head_dim) + " must be [B, H, Tmax, " +
                        std::to_string(head_dim / 2) + "], got " + cache.shape().str());
}

void kv_cache_write_bf16_(Tensor& cache, const Tensor& src, int64_t head_dim, int64_t column, int64_t start,
                          const Tensor& clock) {
  const char* op = "kv_cache_write_bf16_";
  Device dev = same_device(op, cache, src);
  check_bf16_cache(op, cache, head_dim);
  if (src.ndim() != 3 || src.size(0) != cache.size(0))
    shape_error(op, "cache must be [B, H, Tmax, D/2] and src [B, Tn, S], got " + shapes(cache, src));
  const int64_t B = cache.size(0), H = cache.size(1), Tmax = cache.size(2), D = head_dim;
  const int64_t Tn = src.size(1), S = src.size(2);
  check_cache_write(op, column, H * D, S, start, Tn, Tmax);
  AHA_DISPATCH(dev, kv_cache_write_bf16(cache.data(), src.data(), B, H, Tmax, D, Tn, S, column, start,
                                        clock_data(op, dev, clock)));
}

Tensor decode_attention_bf16(const Tensor& qkv, int64_t column, const Tensor& keys, const Tensor& values,
                             int64_t head_dim, const Tensor& pads, int64_t length, const Tensor& clock) {
  const char* op = "decode_attention_bf16";
  Device dev = same_device(op, qkv, keys);
  same_device(op, keys, values);
  same_device(op, keys, pads);
  check_bf16_cache(op, keys, head_dim);
  if (values.shape() != keys.shape())
    shape_error(op, "keys and values must both be [B, H, Tmax, D/2], got " + shapes(keys, values));
  const int64_t B = keys.size(0), H = keys.size(1), Tmax = keys.size(2), D = head_dim;
  const int64_t S = qkv.shape().last();
  check_cache_read(op, qkv, pads, B, column, H * D, length, Tmax);
  Tensor y = Tensor::empty(Shape{B, H * D}, dev);
  AHA_DISPATCH(dev, decode_attention_bf16(qkv.data(), S, column, keys.data(), values.data(), pads.data(), y.data(),
                                          B, H, Tmax, D, length, clock_data(op, dev, clock)));
  return y;
}

uint16_t bf16_round(float x) { return cpu::bf16_round(x); }
float bf16_widen(uint16_t bits) { return cpu::bf16_widen(bits); }

void sample_step_(const Tensor& logits, const Tensor& rows, DecodeState& state, Tensor& next_tokens,
                  Tensor& next_positions, const SampleStepConfig& config, const Tensor& clock) {
  const char* op = "sample_step_";
  Device dev = same_device(op, logits, rows);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&state.prompt_lengths, &state.done, &state.lengths,
                                                             &state.tokens, &state.logprobs, &state.policy_logprobs,
                                                             &next_tokens, &next_positions})
    same_device(op, logits, *t);
  if (logits.ndim() != 2) shape_error(op, "logits must be [Bc, V], got " + logits.shape().str());
  const int64_t Bc = logits.size(0), B0 = state.done.numel();
  if (rows.numel() != Bc || next_tokens.numel() != Bc || next_positions.numel() != Bc)
    shape_error(op, "rows, next_tokens and next_positions must have the " + std::to_string(Bc) + " rows of the logits");
  if (state.prompt_lengths.numel() != B0 || state.lengths.numel() != B0 ||
      state.tokens.shape() != Shape{B0, config.max_new} || state.logprobs.shape() != state.tokens.shape() ||
      state.policy_logprobs.shape() != state.tokens.shape())
    shape_error(op, "the decode state must hold [B0] counters and [B0, max_new] records, B0 = " + std::to_string(B0));
  if (config.step < 0 || config.step >= config.max_new)
    shape_error(op, "step " + std::to_string(config.step) + " outside [0, max_new " + std::to_string(config.max_new) + ")");
  if (!config.greedy && !(config.temperature > 0.0f))
    shape_error(op, "temperature must be > 0 when sampling, got " + std::to_string(config.temperature));
  if (config.num_stop_tokens < 0 || config.num_stop_tokens > SampleStepConfig::kMaxStopTokens)
    shape_error(op, "at most " + std::to_string(SampleStepConfig::kMaxStopTokens) + " stop tokens");
  AHA_DISPATCH(dev, sample_step(logits.data(), rows.data(), state.prompt_lengths.data(), state.done.data(),
                                state.lengths.data(), state.tokens.data(), state.logprobs.data(),
                                state.policy_logprobs.data(), next_tokens.data(), next_positions.data(), Bc,
                                logits.size(1), config, clock_data(op, dev, clock)));
}

}  // namespace aha
