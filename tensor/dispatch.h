// The one place that picks a backend: AHA_DISPATCH(device, kernel(args...))
// calls cpu::kernel(args...) or cuda::kernel(args...) by the device. Without
// the CUDA backend built in, a CUDA tensor cannot exist (Storage refuses it),
// so the CUDA branch only names the error.
#pragma once

#include <stdexcept>

#include "tensor/cpu/kernels.h"
#if AHA_CUDA
#include "tensor/cuda/kernels.h"
#define AHA_DISPATCH(device, call) ((device) == ::aha::Device::CUDA ? ::aha::cuda::call : ::aha::cpu::call)
#else
#define AHA_DISPATCH(device, call)                                                      \
  ((device) == ::aha::Device::CUDA                                                      \
       ? throw std::runtime_error("this aha was built without the CUDA backend (CUDA=1)") \
       : ::aha::cpu::call)
#endif
