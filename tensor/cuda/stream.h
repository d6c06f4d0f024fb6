// aha's one CUDA stream. Every kernel, cuBLAS call and copy of the CUDA backend
// is queued on it, so work runs in the order it was issued and a block freed to
// the caching allocator can be handed to the next op without a sync: anything
// that reuses it is queued after everything that used it.
#pragma once

#include <cuda_runtime.h>

namespace aha {
namespace cuda {

// Created on first use (non-blocking with respect to the legacy default stream).
cudaStream_t stream();

}  // namespace cuda
}  // namespace aha
