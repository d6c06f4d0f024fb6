// Counter-based random numbers: the i-th number of a stream is a pure function
// hash(seed, i), so CPU and CUDA kernels draw exactly the same values, any
// thread can compute its own element, and a run resumes by restoring
// (seed, offset). This is the one RNG of aha; every random choice flows from
// the user's --seed through a Generator.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define AHA_HD __host__ __device__ __forceinline__
#else
#define AHA_HD inline
#endif

namespace aha {
namespace rng {

// SplitMix64 finaliser (Steele et al. 2014): a bijective 64-bit mixer.
AHA_HD uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The `counter`-th 64 random bits of stream `seed`.
AHA_HD uint64_t bits(uint64_t seed, uint64_t counter) {
  return mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ (counter * 0xd1b54a32d192ed03ULL + 1));
}

// Uniform in [0, 1) from the top 24 bits (exactly representable in float).
AHA_HD float uniform(uint64_t seed, uint64_t counter) {
  return (float)(bits(seed, counter) >> 40) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller on two 32-bit halves of one draw; u1 in (0, 1].
AHA_HD float normal(uint64_t seed, uint64_t counter) {
  uint64_t b = bits(seed, counter);
  float u1 = ((float)(b >> 40) + 1.0f) * (1.0f / 16777216.0f);
  float u2 = (float)((b >> 8) & 0xffffff) * (1.0f / 16777216.0f);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

}  // namespace rng

// A seeded stream. Each draw advances `offset`; (seed, offset) is the whole state.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }

  // Reserve `n` consecutive counters (a tensor fill); returns the first.
  uint64_t advance(uint64_t n) { uint64_t first = offset_; offset_ += n; return first; }

  uint64_t next_u64() { return rng::bits(seed_, offset_++); }
  float uniform() { return rng::uniform(seed_, offset_++); }
  float normal() { return rng::normal(seed_, offset_++); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next_u64() % n; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

}  // namespace aha
