// Fills: constants, 0..n-1, and the counter-based random streams of
// tensor/random.h. Element i of a fill draws counter offset + i, so the CUDA
// kernel (one thread per element) produces exactly these numbers, and so does
// any split of the elements across CPU threads.
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/random.h"

namespace aha {
namespace cpu {

// out[i] = value
void fill(float* out, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

// out[i] = i (exact in float up to 2^24, like every integer aha stores)
void arange(float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = (float)i;
}

// out[i] ~ U[0, 1), drawn as rng::uniform(seed, offset + i)
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) out[i] = rng::uniform(seed, offset + (uint64_t)i);
}

// out[i] ~ N(0, std^2), drawn as std * rng::normal(seed, offset + i)
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float std) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) out[i] = std * rng::normal(seed, offset + (uint64_t)i);
}

}  // namespace cpu
}  // namespace aha
