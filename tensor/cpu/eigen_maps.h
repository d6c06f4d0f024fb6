// Our row-major float storage seen as Eigen matrices, without a copy: a
// [rows, cols] block with row stride `stride` is Map(ptr, rows, cols,
// Stride(stride)). Eigen's own threading stays off (EIGEN_DONT_PARALLELIZE):
// the kernels split their work by a rule that depends only on the shapes
// (tensor/cpu/parallel.h), so results do not depend on the thread count.
#pragma once

#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Dense>

namespace aha {
namespace cpu {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Stride>;
using Map = Eigen::Map<RowMajor, Eigen::Unaligned, Stride>;

// Eigen blocks a matrix product by the cache sizes it assumes, and the blocks
// decide where the depth of a dot product is split and which entries take the
// vector path or the scalar remainder path: so the last bits of a product
// follow the cache sizes. Eigen reads them from the CPU; we pin them, so that
// a product gives the same bits on any x86-64 CPU with the instruction set the
// Makefile builds for (AVX2 + FMA). The values are a common desktop's; the
// speed barely depends on them at our sizes. Called at the top of every op
// that runs an Eigen product, outside any parallel region (it sets Eigen's
// globals, and does so only when something else changed them).
constexpr std::ptrdiff_t kPinnedL1 = 32 * 1024, kPinnedL2 = 1024 * 1024, kPinnedL3 = 8 * 1024 * 1024;
inline void pin_blocking() {
  if (Eigen::l1CacheSize() != kPinnedL1 || Eigen::l2CacheSize() != kPinnedL2 || Eigen::l3CacheSize() != kPinnedL3)
    Eigen::setCpuCacheSizes(kPinnedL1, kPinnedL2, kPinnedL3);
}

}  // namespace cpu
}  // namespace aha
