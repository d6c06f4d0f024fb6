// Layout copies (docs/ARCHITECTURE.md: tensors are always contiguous, so a
// transpose is a copy) and the causal mask of attention scores. Pure copies: large ones are
// split across threads by their outer index.
#include <algorithm>
#include <cstring>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

// out[b, n, m] = a[b, m, n]    a [batch, M, N] -> out [batch, N, M]
// Threads take output rows (b, n); each gathers a column of a[b].
void transpose_last2(const float* a, float* out, int64_t batch, int64_t M, int64_t N) {
#pragma omp parallel for collapse(2) schedule(static) if (batch * M * N >= kParallelMinWork)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t n = 0; n < N; ++n) {
      const float* col = a + b * M * N + n;
      float* orow = out + (b * N + n) * M;
      for (int64_t m = 0; m < M; ++m) orow[m] = col[m * N];
    }
}

// out[a, c, b, d] = in[a, b, c, d]    [A, B, C, D] -> [A, C, B, D]
// The attention head split [B, T, H, Dh] -> [B, H, T, Dh], and (applied again) its merge.
void permute_0213(const float* in, float* out, int64_t A, int64_t B, int64_t C, int64_t D) {
#pragma omp parallel for collapse(2) schedule(static) if (A * B * C * D >= kParallelMinWork)
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) {
        const float* src = in + ((a * B + b) * C + c) * D;
        float* dst = out + ((a * C + c) * B + b) * D;
        std::memcpy(dst, src, (size_t)D * sizeof(float));
      }
}

// scores [batch, Tq, Tk]; query i sits at absolute position i + (Tk - Tq) (with a
// KV cache the queries are the last Tq of Tk positions), and may attend to keys
// j <= that position:  out[b, i, j] = j > i + (Tk - Tq) ? fill : scores[b, i, j]
// Per row: copy the visible prefix, fill the rest (safe in place).
void causal_mask(const float* scores, float* out, int64_t batch, int64_t Tq, int64_t Tk,
                 float fill) {
  int64_t offset = Tk - Tq;
#pragma omp parallel for schedule(static) if (batch * Tq * Tk >= kParallelMinWork)
  for (int64_t row = 0; row < batch * Tq; ++row) {
    int64_t i = row % Tq;
    int64_t visible = std::min(std::max(i + offset + 1, int64_t(0)), Tk);  // keys j <= i + offset
    const float* src = scores + row * Tk;
    float* dst = out + row * Tk;
    if (dst != src) std::memcpy(dst, src, (size_t)visible * sizeof(float));
    std::fill(dst + visible, dst + Tk, fill);
  }
}

}  // namespace cpu
}  // namespace aha
