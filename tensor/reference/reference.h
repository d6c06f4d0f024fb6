// Plain references: the forward and backward of softmax, layernorm,
// cross-entropy, GELU and causal attention written as plain loops, one file
// each, to be read next to the paper (llm.c's train_gpt2.c is the model).
//
// No vector lanes, no OpenMP, no bf16, no Eigen: each backward is derived line
// by line from its forward, in comments of the form "in the forward pass this
// was ..., so now we have ...". The fast kernels (tensor/cpu/*.cpp and
// tensor/cuda/*.cu) compute the same functions and are tested against these
// (tests/test_tensor_reference.cpp), and these against finite differences of
// their own forwards (tests/gradcheck.h). They are what the exercises ask a
// student to write; nothing in the product calls them.
//
// Raw float pointers in, raw float pointers out, rows first, as the CPU kernels
// (tensor/cpu/kernels.h); shapes are not checked. Values are float; sums over
// a row are taken in double, so a reference is the more accurate side of every
// comparison. A backward overwrites its outputs.
#pragma once

#include <cstdint>

namespace aha {
namespace reference {

// softmax.cpp: over the last dim of x [rows, cols]
void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols);
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);
void log_softmax_forward(const float* x, float* y, int64_t rows, int64_t cols);
void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);

// layernorm.cpp: over the last dim of x [rows, cols]; mean, rstd [rows] saved for the backward
void layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                       float* rstd, int64_t rows, int64_t cols, float eps);
void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                        int64_t cols);

// cross_entropy.cpp: the masked mean loss of logits [N, V], targets and mask [N] -> loss [1]
void cross_entropy_forward(const float* logits, const float* targets, const float* mask, float* loss,
                           int64_t N, int64_t V);
void cross_entropy_backward(const float* logits, const float* targets, const float* mask, float dloss,
                            float* dlogits, int64_t N, int64_t V);

// gelu.cpp: elementwise, the tanh form GPT-2 uses
void gelu_forward(const float* x, float* y, int64_t n);
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n);

// attention.cpp: causal self-attention; q, k, v, y, dy, dq, dk, dv [B, T, H*D]
// (head h is columns h*D .. h*D + D - 1); att [B, H, T, T], the probabilities
// the forward saves for the backward (0 above the diagonal).
void causal_attention_forward(const float* q, const float* k, const float* v, float* y, float* att,
                              int64_t B, int64_t T, int64_t H, int64_t D);
void causal_attention_backward(const float* q, const float* k, const float* v, const float* att,
                               const float* dy, float* dq, float* dk, float* dv, int64_t B, int64_t T,
                               int64_t H, int64_t D);

}  // namespace reference
}  // namespace aha
