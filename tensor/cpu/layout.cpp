// Layout copies (DESIGN.md: tensors are always contiguous, so a transpose is a
// copy) and the causal mask of attention scores.
#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

// out[b, n, m] = a[b, m, n]    a [batch, M, N] -> out [batch, N, M]
void transpose_last2(const float* a, float* out, int64_t batch, int64_t M, int64_t N) {
  for (int64_t b = 0; b < batch; ++b) {
    const float* ab = a + b * M * N;
    float* ob = out + b * M * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) ob[n * M + m] = ab[m * N + n];
  }
}

// out[a, c, b, d] = in[a, b, c, d]    [A, B, C, D] -> [A, C, B, D]
// The attention head split [B, T, H, Dh] -> [B, H, T, Dh], and (applied again) its merge.
void permute_0213(const float* in, float* out, int64_t A, int64_t B, int64_t C, int64_t D) {
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) {
        const float* src = in + ((a * B + b) * C + c) * D;
        float* dst = out + ((a * C + c) * B + b) * D;
        for (int64_t d = 0; d < D; ++d) dst[d] = src[d];
      }
}

// scores [batch, Tq, Tk]; query i sits at absolute position i + (Tk - Tq) (with a
// KV cache the queries are the last Tq of Tk positions), and may attend to keys
// j <= that position:  out[b, i, j] = j > i + (Tk - Tq) ? fill : scores[b, i, j]
void causal_mask(const float* scores, float* out, int64_t batch, int64_t Tq, int64_t Tk,
                 float fill) {
  int64_t offset = Tk - Tq;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j) {
        int64_t k = (b * Tq + i) * Tk + j;
        out[k] = j > i + offset ? fill : scores[k];
      }
}

}  // namespace cpu
}  // namespace aha
