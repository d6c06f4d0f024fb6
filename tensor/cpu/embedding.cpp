// Token embedding: a gather of weight rows by id, and its scatter-add backward.
#include <cstring>
#include <vector>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/token_id.h"

namespace aha {
namespace cpu {

// out[i, :] = weight[ids[i], :]    weight [V, C], ids [n], out [n, C]
// Ids are checked on one thread first (no exception may leave an OpenMP region);
// then rows are copied, split across threads.
void embedding(const float* weight, const float* ids, float* out, int64_t n, int64_t C,
               int64_t V) {
  std::vector<int64_t> v((size_t)n);
  for (int64_t i = 0; i < n; ++i) v[(size_t)i] = checked_id("embedding", ids[i], i, V);
#pragma omp parallel for schedule(static) if (n * C >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * C, weight + v[(size_t)i] * C, (size_t)C * sizeof(float));
}

// dweight[v, :] = sum over i with ids[i] = v of dout[i, :]   (overwrites dweight)
// A repeated id receives the sum of all its rows' gradients, added in order of i
// (one thread: a scatter-add split across threads would race or reorder sums).
void embedding_backward(const float* dout, const float* ids, float* dweight, int64_t n,
                        int64_t C, int64_t V) {
  for (int64_t j = 0; j < V * C; ++j) dweight[j] = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = checked_id("embedding_backward", ids[i], i, V);
    for (int64_t c = 0; c < C; ++c) dweight[v * C + c] += dout[i * C + c];
  }
}

}  // namespace cpu
}  // namespace aha
