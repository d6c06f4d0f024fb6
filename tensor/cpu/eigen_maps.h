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

}  // namespace cpu
}  // namespace aha
