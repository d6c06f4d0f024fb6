// The bf16 element type (tensor/tensor.h): rounding, widening, casts, and the
// in-place add that accumulates bf16 gradients. tensor/cuda/bf16.cu mirrors it
// bit for bit.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

// bf16 keeps float32's sign and 8 exponent bits and the top 7 of its 23
// mantissa bits. Round to nearest even on the float's bits: add 0x7fff, plus 1
// when the kept part is odd, and cut the low 16 bits; a carry out of the
// mantissa steps the exponent, so the largest floats round to infinity as
// they should. NaN would be rounded into anything (even infinity): it becomes
// the one quiet NaN 0x7fff, as on CUDA (tensor/cuda/bf16.cuh).
uint16_t bf16_round(float x) {
  if (std::isnan(x)) return 0x7fff;
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return (uint16_t)(bits >> 16);
}

float bf16_widen(uint16_t bits) {
  const uint32_t wide = (uint32_t)bits << 16;
  float x;
  std::memcpy(&x, &wide, sizeof x);
  return x;
}

void cast_to_bf16(const float* x, uint16_t* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_round(x[i]);
}

void cast_to_f32(const uint16_t* x, float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_widen(x[i]);
}

// One rounding per add: a + b is exact in float for two bf16 values of close
// magnitude, and rounded once to bf16.
void add_bf16_(uint16_t* a, const uint16_t* b, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) a[i] = bf16_round(bf16_widen(a[i]) + bf16_widen(b[i]));
}

}  // namespace cpu
}  // namespace aha
