// Host memory for CPU tensors. 64-byte alignment matches a cache line and the
// widest SIMD loads Eigen may use, so no kernel ever straddles a line at row 0.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

namespace {
constexpr size_t kAlignment = 64;

// A training step frees and re-allocates the same large temporaries (attention
// scores are 16 MiB at cpu-tiny). By default glibc serves blocks over a
// threshold with mmap and gives freed memory back to the kernel, so every step
// page-faults its temporaries in again (zeroed by the kernel: ~10% of a step).
// Keeping blocks up to 32 MiB on the heap and not trimming it makes a freed block
// reusable as is, like the CUDA caching allocator (tensor/cuda/allocator.h);
// the cost is that the process keeps its peak memory.
constexpr int kMmapThreshold = 32 << 20;  // bytes: the largest glibc accepts (64-bit)
constexpr int kTrimThreshold = 1 << 30;   // bytes of free heap top before glibc gives any back
bool keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
#endif
  return true;
}
}  // namespace

float* alloc(int64_t n) {
  static const bool configured = keep_freed_memory();
  (void)configured;
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
