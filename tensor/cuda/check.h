// The one checking macro for the CUDA backend. Every CUDA runtime call, every
// cuBLAS call and every kernel launch (through cudaGetLastError) goes through
// AHA_CUDA_CHECK, so a failure names the call, the file and the line:
//
//   AHA_CUDA_CHECK(cudaMalloc(&p, bytes));
//   my_kernel<<<grid, block, 0, stream()>>>(...);
//   AHA_CUDA_CHECK(cudaGetLastError());
//
// Kernels run asynchronously, so an error inside a kernel surfaces at the next
// checked call that syncs (copy_to_host, synchronize), not at its launch.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace aha {
namespace cuda {

[[noreturn]] inline void throw_cuda_error(const char* call, const char* file, int line,
                                          const std::string& what) {
  throw std::runtime_error(std::string("CUDA error: ") + call + " failed at " + file + ":" +
                           std::to_string(line) + ": " + what);
}

inline void check_status(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess)
    throw_cuda_error(call, file, line,
                     std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ")");
}

inline void check_status(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_cuda_error(call, file, line,
                     std::string(cublasGetStatusName(status)) + " (" +
                         cublasGetStatusString(status) + ")");
}

}  // namespace cuda
}  // namespace aha

#define AHA_CUDA_CHECK(call) ::aha::cuda::check_status((call), #call, __FILE__, __LINE__)
