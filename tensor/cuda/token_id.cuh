// Token ids are stored as floats (tensor/tensor.h). The CUDA kernels that index
// by id (embedding, the losses) read them through this one test, the device
// twin of tensor/cpu/token_id.h. A kernel cannot throw, so where the CPU throws
// on a bad id, the CUDA kernel writes NaN into the output it was computing
// (documented at each kernel): the NaN surfaces in the loss at the next host read.
// Included by .cu files only.
#pragma once

namespace aha {
namespace cuda {

// True when id is an integer in [0, V), the CPU's checked_id condition.
__device__ __forceinline__ bool valid_id(float id, long long V) {
  return isfinite(id) && id >= 0.0f && id < (float)V && id == floorf(id);
}

}  // namespace cuda
}  // namespace aha
