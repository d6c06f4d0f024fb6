// Bit-for-bit reproducibility on the CPU (issue 15: the demo's table must be
// the same on any x86-64 CPU with AVX2 and FMA). Two things could make the
// same seed give other bits on another machine: the thread count (cores), and
// the blocking of Eigen's matrix products, which Eigen derives from the cache
// sizes it reads off the CPU. tensor/cpu/parallel.h splits work only by shape,
// and tensor/cpu/eigen_maps.h pins the blocking; these tests change each of the
// two on purpose and ask for identical bits: a product, attention, and a whole
// GPT loss and gradient at the cpu-tiny shape.
#include <doctest/doctest.h>
#include <omp.h>

#include <Eigen/Core>
#include <cstring>
#include <vector>

#include "autograd/ops.h"
#include "model/gpt.h"

using namespace aha;

namespace {

// The cache sizes (L1, L2, L3) Eigen would read on a few real CPUs: a small
// old core, a desktop, a server part with a large L2 (the CI machine's).
struct CacheSizes {
  std::ptrdiff_t l1, l2, l3;
};
const CacheSizes kHosts[] = {{16 * 1024, 256 * 1024, 2 * 1024 * 1024},
                             {32 * 1024, 1024 * 1024, 8 * 1024 * 1024},
                             {48 * 1024, 2048 * 1024, 480 * 1024 * 1024}};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs `work` under every (threads, host cache sizes) pair and checks that each
// gives the bits of the first. Restores the thread count it found.
template <class Work>
void check_same_everywhere(Work work) {
  const int threads_before = omp_get_max_threads();
  std::vector<float> first;
  bool have_first = false;
  for (int threads : {1, 2, 3}) {
    for (const CacheSizes& host : kHosts) {
      omp_set_num_threads(threads);
      Eigen::setCpuCacheSizes(host.l1, host.l2, host.l3);  // as Eigen would find them on that CPU
      std::vector<float> bits = work();
      if (!have_first) {
        first = bits;
        have_first = true;
        continue;
      }
      INFO("threads " << threads << ", L1 " << host.l1 << ", L2 " << host.l2);
      CHECK(same_bits(bits, first));
    }
  }
  omp_set_num_threads(threads_before);
}

Tensor randn(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, Device::CPU);
}

}  // namespace

TEST_CASE("matrix products give the same bits for any thread count and any host cache sizes") {
  // Depths longer than any L1 block (so Eigen would split the sum differently),
  // odd sizes (remainder rows and columns take other code paths), a batch, and
  // a single product large enough to be tiled across threads.
  struct Case {
    int64_t batch, M, N, K;
    bool ta, tb;
  };
  for (const Case& c : {Case{1, 67, 45, 1500, false, false}, Case{1, 300, 130, 520, false, true},
                        Case{1, 130, 300, 777, true, false}, Case{3, 41, 97, 1100, true, true},
                        Case{1, 1280, 512, 128, false, false}}) {
    INFO("batch " << c.batch << " M " << c.M << " N " << c.N << " K " << c.K);
    const Shape sa = c.ta ? Shape{c.batch, c.K, c.M} : Shape{c.batch, c.M, c.K};
    const Shape sb = c.tb ? Shape{c.batch, c.N, c.K} : Shape{c.batch, c.K, c.N};
    const Tensor a = randn(sa, 11), b = randn(sb, 12);
    check_same_everywhere([&] { return aha::matmul(a, b, c.ta, c.tb).to_vector(); });
  }
}

TEST_CASE("the cpu-tiny GPT's loss and every gradient give the same bits for any thread count and cache sizes") {
  // The demo's model (cpu-tiny: d 128, 4 layers, 4 heads) on a batch of 8
  // sequences of 160 tokens: every kernel's threaded path runs.
  const GPTConfig config{20, 160, 128, 4, 4};
  GPT model(config);
  Generator gen(5);
  for (const NamedParam& p : model.named_params()) {
    Var v = p.var;
    v.value().copy_from(Tensor::randn(v.shape(), gen, Device::CPU, 0.1f));
  }
  const int64_t B = 8, T = 160;
  std::vector<float> ids(B * T), targets(B * T), mask(B * T);
  for (int64_t i = 0; i < B * T; ++i) {
    ids[i] = (float)((i * 7 + 3) % config.vocab_size);
    targets[i] = (float)((i * 5 + 1) % config.vocab_size);
    mask[i] = (i % 3 == 0) ? 0.0f : 1.0f;
  }
  const Tensor tokens = Tensor::from_vector(ids, Shape{B, T});
  const Tensor target = Tensor::from_vector(targets, Shape{B, T});
  const Tensor weights = Tensor::from_vector(mask, Shape{B, T});
  check_same_everywhere([&] {
    for (const NamedParam& p : model.named_params()) {
      Var v = p.var;
      v.zero_grad();
    }
    Var loss = model.loss(tokens, target, weights);
    loss.backward();
    std::vector<float> bits = loss.value().to_vector();
    for (const NamedParam& p : model.named_params()) {
      const std::vector<float> g = p.var.grad().to_vector();
      bits.insert(bits.end(), g.begin(), g.end());
    }
    return bits;
  });
}
