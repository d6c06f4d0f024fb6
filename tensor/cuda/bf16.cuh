// bf16 on the device: rounding and widening, bit for bit as tensor/cpu/bf16.cpp
// does them by hand, so both backends store the same bits. Included by .cu
// files only.
#pragma once

#include <cuda_bf16.h>

namespace aha {
namespace cuda {

// float -> bf16 bits, round to nearest even; NaN -> 0x7fff (the CPU's choice).
__device__ __forceinline__ unsigned int bf16_round(float x) {
  return isnan(x) ? 0x7fffu : (unsigned int)__bfloat16_as_ushort(__float2bfloat16_rn(x));
}
// bf16 bits -> float, exact: the bits are float32's top half.
__device__ __forceinline__ float bf16_widen(unsigned short bits) { return __uint_as_float((unsigned int)bits << 16); }

// Two bf16 values in one 32-bit word (element 2i the low half, 2i+1 the high
// one, as a little-endian bf16 array lays them out): the widened halves, and
// two floats rounded into a word. Kernels move bf16 a word (or more) at a time.
__device__ __forceinline__ float bf16_low(unsigned int word) { return __uint_as_float(word << 16); }
__device__ __forceinline__ float bf16_high(unsigned int word) { return __uint_as_float(word & 0xffff0000u); }
__device__ __forceinline__ unsigned int bf16_pack(float low, float high) {
  return bf16_round(low) | bf16_round(high) << 16;
}

}  // namespace cuda
}  // namespace aha
