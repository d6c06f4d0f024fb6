// Vectorisable exp and tanh, and a fixed-order row sum, for the hot CPU kernels
// (softmax, the losses, GELU).
//
// Why: libm's expf/exp/tanhf are scalar calls, so a loop over a row that calls
// them runs one element at a time, and they were ~30% of a cpu-tiny training
// step. The functions below are plain float arithmetic with no calls and no
// branches (both sides of a choice are computed, then selected), so under
// `#pragma omp simd` GCC compiles a loop of them to AVX2 code, 8 elements per
// instruction (the Makefile builds tensor/cpu with -fno-trapping-math, which
// lets GCC turn the selects into vector blends).
//
// Accuracy: within 1.3 ulp (relative error < 1.4e-7) of the exact value over
// the whole float range, like libm's expf/tanhf, including inf, -inf and NaN.
// Each is a pure function of its argument, and GCC contracts a*b + c into FMAs
// alike in a loop's vector body and its scalar remainder (checked: the same bits
// at every offset), so results do not depend on alignment or on how threads
// split a loop.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace aha {
namespace cpu {

namespace fast_math_detail {
inline uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
inline float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
}  // namespace fast_math_detail

// exp(x) = 2^n e^r,  n = round(x / ln 2),  r = x - n ln 2 in [-ln2/2, ln2/2]
// (Cephes expf). e^r is a degree-7 polynomial, good to 1 ulp on that interval;
// n ln 2 is subtracted in two parts (Cody-Waite: ln2_hi has 9 significant bits,
// so n ln2_hi is exact) so r keeps full precision. Rounding to the integer n is
// done by adding 1.5 * 2^23, which leaves n in the low mantissa bits of the sum;
// 2^n is then built from exponent bits, as two factors 2^(n/2) 2^(n - n/2) so
// that each factor stays a normal float for every n that matters.
inline float exp_fast(float x) {
  using namespace fast_math_detail;
  // Clamping x to [kMinX, kMaxX] keeps n in [-150, 145]: below kMinX the
  // product underflows to 0, like exp; n > 128 means exp(x) > FLT_MAX, and the
  // second factor is made inf (exponent bits all ones).
  constexpr float kMaxX = 100.0f;
  constexpr float kMinX = -104.0f;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23
  float xc = x < kMinX ? kMinX : x;           // NaN fails both compares and passes through
  xc = xc > kMaxX ? kMaxX : xc;
  float t = xc * kLog2e + kRoundMagic;
  float n = t - kRoundMagic;
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float er = p * (r * r) + r + 1.0f;
  // Unsigned arithmetic: for a NaN x, t's bits are garbage, but no signed overflow occurs.
  int32_t n_int = (int32_t)(bits_of(t) - bits_of(kRoundMagic));
  int32_t n_half = n_int / 2;
  uint32_t exponent2 = n_int > 128 ? 255u : (uint32_t)(n_int - n_half + 127);
  float scale1 = float_of((uint32_t)(n_half + 127) << 23);
  float scale2 = float_of(exponent2 << 23);
  return er * scale1 * scale2;
}

// tanh(x) (Cephes tanhf):
//   |x| < 0.625:  tanh x = x + x^3 P(x^2), a minimax odd polynomial
//   otherwise:    tanh |x| = 1 - 2 / (exp(2|x|) + 1)
// computed for |x|, then given the sign of x (tanh is odd; -0 stays -0).
// The split avoids the cancellation of 1 - 2/(e^2x + 1) near 0. For large |x|,
// exp overflows to inf and the second form gives exactly +-1.
inline float tanh_fast(float x) {
  float a = std::fabs(x);
  float z = a * a;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = p * z * a + a;
  float large = 1.0f - 2.0f / (exp_fast(a + a) + 1.0f);
  return std::copysign(a < 0.625f ? small : large, x);
}

// sum_j x_j and sum_j x_j y_j, accumulated in double in a fixed order: 8
// running sums (lane j % 8), then added pairwise. Eight independent sums keep the
// adder busy (a single running sum waits ~4 cycles per element) and vectorise;
// the order depends only on n, so the result never depends on threads or alignment.
inline double add_lanes(const double lane[8]) {
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

inline double sum_f64(const float* x, int64_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) lane[l] += (double)x[j + l];
  for (int l = 0; j < n; ++j, ++l) lane[l] += (double)x[j];
  return add_lanes(lane);
}

inline double dot_f64(const float* x, const float* y, int64_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) lane[l] += (double)x[j + l] * (double)y[j + l];
  for (int l = 0; j < n; ++j, ++l) lane[l] += (double)x[j] * (double)y[j];
  return add_lanes(lane);
}

// max_j x_j (-inf for an empty row); NaNs are skipped, as in the scalar loop
// `m = x > m ? x : m`. Eight running maxima, like sum_f64; max is exact, so the
// order changes nothing.
inline float max_f32(const float* x, int64_t n) {
  float lane[8];
  for (int l = 0; l < 8; ++l) lane[l] = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l];
  for (int l = 0; j < n; ++j, ++l) lane[l] = x[j] > lane[l] ? x[j] : lane[l];
  float m = lane[0];
  for (int l = 1; l < 8; ++l) m = lane[l] > m ? lane[l] : m;
  return m;
}

}  // namespace cpu
}  // namespace aha
