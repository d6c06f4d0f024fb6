// Host memory for CPU tensors. 64-byte alignment matches a cache line and the
// widest SIMD loads Eigen may use, so no kernel ever straddles a line at row 0.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

namespace {
constexpr size_t kAlignment = 64;
}

float* alloc(int64_t n) {
  if (n < 0) throw std::runtime_error("cpu::alloc: negative size " + std::to_string(n));
  // std::aligned_alloc wants the byte count to be a multiple of the alignment.
  size_t bytes = (size_t)n * sizeof(float);
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (bytes == 0) bytes = kAlignment;
  void* p = std::aligned_alloc(kAlignment, bytes);
  if (!p)
    throw std::runtime_error("cpu::alloc: out of host memory allocating " + std::to_string(n) +
                             " floats");
  return static_cast<float*>(p);
}

// aha::cpu::free shadows ::free inside this namespace, hence std::free.
void free(float* p) { std::free(p); }

void copy(float* dst, const float* src, int64_t n) {
  if (n > 0 && dst != src) std::memmove(dst, src, (size_t)n * sizeof(float));
}

}  // namespace cpu
}  // namespace aha
