// Threads for the CPU kernels: OpenMP over independent rows (or elements), with
// a static schedule. Each output element is computed by exactly one thread, with
// the same arithmetic in the same order as on one thread, and no sum is ever
// split between threads; so results are bit-for-bit the same for any thread
// count (OMP_NUM_THREADS, default: one per core) and a resumed run reproduces
// an uninterrupted one. Kernels whose only parallelism is a reduction (a global
// sum, the scatter-add of embedding_backward) stay serial.
#pragma once

#include <cstdint>

namespace aha {
namespace cpu {

// Below this many elements of work, a fork/join (a few microseconds) costs more
// than a second core saves: `#pragma omp parallel for if (work >= kParallelMinWork)`.
constexpr int64_t kParallelMinWork = int64_t(1) << 15;

}  // namespace cpu
}  // namespace aha
