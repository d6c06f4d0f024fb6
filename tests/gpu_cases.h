// What the suites with GPU cases share: skipping (and counting) a GPU case
// when no GPU answers, TF32 for one scope, and the relative error that CPU vs
// CUDA agreement is measured in.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "tensor/ops.h"
#include "tensor/tensor.h"

namespace aha_test {

// Counts a suite's GPU cases that ran and that were skipped; prints the totals
// when the test binary exits (after doctest's own summary).
struct GpuCaseCounter {
  const char* suite;
  int ran = 0;
  int skipped = 0;
  explicit GpuCaseCounter(const char* name) : suite(name) {}
  ~GpuCaseCounter() {
    if (skipped > 0)
      std::printf("[%s] %d GPU test cases skipped: no CUDA GPU%s\n", suite, skipped,
                  AHA_CUDA ? "" : " (built with CUDA=0)");
    else if (ran > 0)
      std::printf("[%s] %d GPU test cases ran on the GPU, 0 skipped\n", suite, ran);
  }
};

// The first line of every GPU case: true (after saying so) when it must skip.
inline bool skip_without_gpu(GpuCaseCounter& counter) {
  if (aha::cuda_available()) {
    ++counter.ran;
    return false;
  }
  ++counter.skipped;
  MESSAGE("skipped: no CUDA GPU");
  return true;
}

// set_tf32 for one scope; the caller's setting comes back even if a check throws.
struct Tf32Scope {
  bool saved = aha::tf32_enabled();
  explicit Tf32Scope(bool enabled) { aha::set_tf32(enabled); }
  ~Tf32Scope() { aha::set_tf32(saved); }
};

// ||a - b|| / ||b|| in double (0 when they are equal, infinity when a NaN
// shows up or b is all zeros and a is not).
inline double relative_error(const aha::Tensor& a, const aha::Tensor& b) {
  std::vector<float> av = a.to_vector(), bv = b.to_vector();
  REQUIRE(av.size() == bv.size());
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < av.size(); ++i) {
    double d = (double)av[i] - (double)bv[i];
    diff += d * d;
    norm += (double)bv[i] * bv[i];
  }
  if (diff == 0.0) return 0.0;
  if (std::isnan(diff)) return std::numeric_limits<double>::infinity();
  return std::sqrt(diff) / std::max(std::sqrt(norm), std::numeric_limits<double>::min());
}

// relative_error, except against an all-zero reference: there the RMS of a.
// Some gradients are exactly 0 in theory and float32 rounding noise in
// practice (the fused attention's dq and dk at T = 1: the one key gets
// probability 1 whatever q.k is, and dS = P (dP - D_i) subtracts two roundings
// of one dot product).
inline double relative_error_or_rms(const aha::Tensor& a, const aha::Tensor& b) {
  std::vector<float> bv = b.to_vector();
  bool all_zero = true;
  for (float x : bv) all_zero = all_zero && x == 0.0f;
  if (!all_zero) return relative_error(a, b);
  std::vector<float> av = a.to_vector();
  REQUIRE(av.size() == bv.size());
  double sum = 0.0;
  for (float x : av) sum += (double)x * x;
  if (std::isnan(sum)) return std::numeric_limits<double>::infinity();
  return av.empty() ? 0.0 : std::sqrt(sum / (double)av.size());
}

}  // namespace aha_test
