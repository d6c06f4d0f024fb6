// The CUDA kernels: the same functions as tensor/cpu/kernels.h, one for one,
// on device pointers, launched on aha's one stream (asynchronous: nothing here
// syncs with the host unless a value must come back). Each .cu file mirrors a
// .cpp file of tensor/cpu/ and states each kernel's launch shape and memory
// pattern. Only compiled when the CUDA backend is built (AHA_CUDA=1).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "tensor/cpu/kernels.h"  // the shared enums and parameter structs (tensor/kernel_args.h)

namespace aha {
namespace cuda {

// device and memory (tensor/cuda/allocator.cu; see tensor/cuda/allocator.h)
int device_count();                 // 0 on any CUDA error (no driver, no device)
float* alloc(int64_t n);            // from the caching allocator: no cudaMalloc in steady state
void free(float* p);                // back to the cache
void copy(float* dst, const float* src, int64_t n);   // device to device, async on the stream
void copy_to_host(float* host_dst, const float* src, int64_t n);    // syncs
void copy_from_host(float* dst, const float* host_src, int64_t n);  // syncs (pageable source)
void synchronize();
void set_tf32(bool enabled);        // cuBLAS math mode for matmul
bool tf32_enabled();                // and for the attention kernels (attention.cu)

// random.cpp: fill with the counter-based streams of tensor/random.h, element i uses counter offset+i
void fill(float* out, int64_t n, float value);
void arange(float* out, int64_t n);
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset);
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float std);

// matmul.cpp: c[b] = op(a[b]) @ op(b[b]); a is M x K after op, b is K x N after op.
// b_shared: b is one matrix used for every batch.
void matmul(const float* a, const float* b, float* c, int64_t batch, int64_t M, int64_t N,
            int64_t K, bool trans_a, bool trans_b, bool b_shared);
// y [rows, N] = x [rows, K] @ w [K, N] + b [N] (each row gets b) + residual
// [rows, N] when it is not null.
void linear(const float* x, const float* w, const float* b, const float* residual, float* y, int64_t rows,
            int64_t N, int64_t K);
// The bf16 path (tensor/ops.h "bf16"): a, b, x, w are bf16 bits, sums in float.
// matmul_bf16's c is float (out F32) or bf16 bits (out BF16); linear_bf16's y is
// float when a residual is given, else bf16 bits; b is in y's type, the residual float.
void matmul_bf16(const uint16_t* a, const uint16_t* b, void* c, DType out, int64_t batch, int64_t M, int64_t N,
                 int64_t K, bool trans_a, bool trans_b, bool b_shared);
void linear_bf16(const uint16_t* x, const uint16_t* w, const void* b, const float* residual, void* y,
                 int64_t rows, int64_t N, int64_t K);

// elementwise.cpp; n = numel(a), last = a's last dim
void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int64_t last,
            Broadcast bc);
void affine(const float* a, float* out, int64_t n, float scale, float shift);  // a*scale + shift
void clamp(const float* a, float* out, int64_t n, float lo, float hi);
void clamp_mask(const float* a, float* out, int64_t n, float lo, float hi);

// unary.cpp
void unary(UnaryOp op, const float* a, float* out, int64_t n);
void relu_backward(const float* x, const float* dy, float* dx, int64_t n);
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n);
// The bf16 path: bf16 bits in and out, math in float, one rounding on store.
void gelu_bf16(const uint16_t* a, uint16_t* out, int64_t n);
void gelu_backward_bf16(const uint16_t* x, const uint16_t* dy, uint16_t* dx, int64_t n);

// reduce.cpp; "all" reductions are rows = 1
void reduce_last(ReduceOp op, const float* a, float* out, int64_t rows, int64_t cols);
void sum_rows(const float* a, float* out, int64_t rows, int64_t cols);
void sum_rows_bf16(const uint16_t* a, float* out, int64_t rows, int64_t cols);  // fp32 out
void expand_last(const float* a, float* out, int64_t rows, int64_t size);
void sum_squares(const float* a, float* out, int64_t n);  // out[0] = sum a^2

// softmax.cpp (log = log-softmax)
void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log);
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                      bool log);

// layernorm.cpp
void layernorm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
               float* rstd, int64_t rows, int64_t cols, float eps);
void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                        int64_t cols);
// The bf16 path: y bf16 bits (math in float, one rounding); dy bf16 bits (dx fp32).
void layernorm_bf16(const float* x, const float* gamma, const float* beta, uint16_t* y, float* mean,
                    float* rstd, int64_t rows, int64_t cols, float eps);
void layernorm_backward_bf16(const uint16_t* dy, const float* x, const float* gamma, const float* mean,
                             const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                             int64_t cols);

// embedding.cpp; ids are float-coded integers in [0, V)
void embedding(const float* weight, const float* ids, float* out, int64_t n, int64_t C,
               int64_t V);
void embedding_backward(const float* dout, const float* ids, float* dweight, int64_t n,
                        int64_t C, int64_t V);  // dweight is overwritten

// loss.cpp; logits [N, V]
void cross_entropy(const float* logits, const float* targets, const float* mask, float* loss,
                   int64_t N, int64_t V);
void cross_entropy_backward(const float* logits, const float* targets, const float* mask,
                            float dloss, float* dlogits, int64_t N, int64_t V);
void token_logprobs(const float* logits, const float* tokens, float* out, int64_t N, int64_t V);
void token_logprobs_backward(const float* logits, const float* tokens, const float* dout,
                             float* dlogits, int64_t N, int64_t V);
void softmax_entropy(const float* logits, float* out, int64_t N, int64_t V);

// layout.cpp
void transpose_last2(const float* a, float* out, int64_t batch, int64_t M, int64_t N);
void permute_0213(const float* a, float* out, int64_t A, int64_t B, int64_t C, int64_t D);
void causal_mask(const float* scores, float* out, int64_t batch, int64_t Tq, int64_t Tk,
                 float fill);

// attention.cpp: fused causal attention; q, k, v, y, dy, dq, dk, dv [B, T, H*D],
// lse [B, H, T]; the backward overwrites dq, dk, dv
void causal_attention(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B,
                      int64_t T, int64_t H, int64_t D);
void causal_attention_backward(const float* q, const float* k, const float* v, const float* y,
                               const float* lse, const float* dy, float* dq, float* dk, float* dv,
                               int64_t B, int64_t T, int64_t H, int64_t D);
// attention_tc.cu: the same on bf16 tensor cores, for the head dims
// causal_attention_bf16_supports says (32, 64): q, k, v, y, dy, dq, dk, dv are
// bf16 bits, lse float.
bool causal_attention_bf16_supports(int64_t D);
void causal_attention_bf16(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* y, float* lse,
                           int64_t B, int64_t T, int64_t H, int64_t D);
void causal_attention_backward_bf16(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* y,
                                    const float* lse, const uint16_t* dy, uint16_t* dq, uint16_t* dk, uint16_t* dv,
                                    int64_t B, int64_t T, int64_t H, int64_t D);

// decode.cpp: batched decoding with an in-place KV cache (inference only)
// `clock` (may be null): a device scalar added to start / length / config.step,
// so a captured graph can advance them without new kernel arguments.
void kv_cache_write(float* cache, const float* src, int64_t B, int64_t H, int64_t Tmax, int64_t D,
                    int64_t Tn, int64_t S, int64_t column, int64_t start, const float* clock);
void decode_attention(const float* qkv, int64_t S, int64_t column, const float* keys, const float* values,
                      const float* pads, float* y, int64_t B, int64_t H, int64_t Tmax, int64_t D,
                      int64_t length, const float* clock);
// The bf16 cache (tensor/ops.h): cache [B, H, Tmax, D/2] floats, each two bf16.
void kv_cache_write_bf16(float* cache, const float* src, int64_t B, int64_t H, int64_t Tmax, int64_t D,
                         int64_t Tn, int64_t S, int64_t column, int64_t start, const float* clock);
void decode_attention_bf16(const float* qkv, int64_t S, int64_t column, const float* keys, const float* values,
                           const float* pads, float* y, int64_t B, int64_t H, int64_t Tmax, int64_t D,
                           int64_t length, const float* clock);
void sample_step(const float* logits, const float* rows, const float* prompt_lengths, float* done,
                 float* lengths, float* tokens, float* logprobs, float* policy_logprobs, float* next_tokens,
                 float* next_positions, int64_t Bc, int64_t V, const SampleStepConfig& config,
                 const float* clock);

// bf16.cu: the bf16 element type of the mixed-precision path (tensor/tensor.h)
void cast_to_bf16(const float* x, uint16_t* y, int64_t n);   // y[i] = bf16(x[i])
void cast_to_f32(const uint16_t* x, float* y, int64_t n);    // y[i] = x[i], exact
void add_bf16_(uint16_t* a, const uint16_t* b, int64_t n);   // a[i] = bf16(a[i] + b[i]), the sum in float

// graph.cpp: capture a step into a graph, replay it (tensor/step_graph.h)
void* graph_capture(const std::function<void()>& step, std::vector<float*>& blocks);
void graph_launch(void* graph);
void graph_destroy(void* graph, const std::vector<float*>& blocks);

// optim.cpp
void axpy(float* a, const float* b, int64_t n, float alpha);  // a += alpha * b
void adamw(float* param, const float* grad, float* m, float* v, int64_t n,
           const AdamWParams& hp);
// The same for a list of tensors in one go (tensor/ops.h "multi-tensor"):
// out[0] = sum over every tensor of its squares; every tensor *= s; one AdamW
// step of every slot (its own weight decay; hp.weight_decay is not read).
void sum_squares_list(const std::vector<const float*>& tensors, const std::vector<int64_t>& sizes, float* out);
void scale_list(const std::vector<float*>& tensors, const std::vector<int64_t>& sizes, float s);
void adamw_list(const std::vector<AdamWSlot>& slots, const AdamWParams& hp);

}  // namespace cuda
}  // namespace aha
