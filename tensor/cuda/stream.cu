// The one stream (see stream.h).
#include "tensor/cuda/stream.h"

#include "tensor/cuda/check.h"

namespace aha {
namespace cuda {

cudaStream_t stream() {
  // Created lazily so that a CPU-only run never touches the driver; a function
  // static is initialised once even when threads race to it.
  static cudaStream_t the_stream = [] {
    cudaStream_t s = nullptr;
    AHA_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }();
  return the_stream;
}

}  // namespace cuda
}  // namespace aha
