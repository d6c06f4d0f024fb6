// The batched-decoding ops (tensor/cpu/decode.cpp, tensor/cuda/decode.cu):
// the in-place cache write, one-query attention over the cache, and the
// device-side sampling step, against hand computations in double; then the
// CUDA kernels against the CPU ones (skipped, and saying so, without a GPU).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tensor/tensor.h"

using namespace aha;

namespace {

Tensor randn_cpu(const Shape& shape, uint64_t seed, float std = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, Device::CPU, std);
}

// y[b, h, :] by the definition, in double: softmax over keys [pad_b, length).
std::vector<double> attention_by_hand(const Tensor& qkv, int64_t column, const Tensor& keys, const Tensor& values,
                                      const std::vector<float>& pads, int64_t length) {
  const int64_t B = keys.size(0), H = keys.size(1), Tmax = keys.size(2), D = keys.size(3), S = qkv.shape().last();
  const std::vector<float> q = qkv.to_vector(), k = keys.to_vector(), v = values.to_vector();
  std::vector<double> y((size_t)(B * H * D), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> s;
      double max = -INFINITY;
      for (int64_t j = (int64_t)pads[(size_t)b]; j < length; ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < D; ++d)
          dot += (double)q[(size_t)(b * S + column + h * D + d)] * k[(size_t)(((b * H + h) * Tmax + j) * D + d)];
        s.push_back(dot / std::sqrt((double)D));
        max = std::max(max, s.back());
      }
      double sum = 0.0;
      for (double& e : s) sum += e = std::exp(e - max);
      for (size_t i = 0; i < s.size(); ++i) {
        const int64_t j = (int64_t)pads[(size_t)b] + (int64_t)i;
        for (int64_t d = 0; d < D; ++d)
          y[(size_t)(b * H * D + h * D + d)] += s[i] / sum * v[(size_t)(((b * H + h) * Tmax + j) * D + d)];
      }
    }
  return y;
}

DecodeState fresh_state(const std::vector<float>& prompt_lengths, int64_t max_new, Device device) {
  const int64_t B0 = (int64_t)prompt_lengths.size();
  DecodeState s;
  s.prompt_lengths = Tensor::from_vector(prompt_lengths, Shape{B0}, device);
  s.done = Tensor::zeros(Shape{B0}, device);
  s.lengths = Tensor::zeros(Shape{B0}, device);
  s.tokens = Tensor::zeros(Shape{B0, max_new}, device);
  s.logprobs = Tensor::zeros(Shape{B0, max_new}, device);
  s.policy_logprobs = Tensor::zeros(Shape{B0, max_new}, device);
  return s;
}

double log_softmax_at(const std::vector<float>& z, int64_t offset, int64_t V, int64_t token, double temperature) {
  double max = -INFINITY, sum = 0.0;
  for (int64_t j = 0; j < V; ++j) max = std::max(max, z[(size_t)(offset + j)] / temperature);
  for (int64_t j = 0; j < V; ++j) sum += std::exp(z[(size_t)(offset + j)] / temperature - max);
  return z[(size_t)(offset + token)] / temperature - max - std::log(sum);
}

}  // namespace

TEST_CASE("kv_cache_write_ puts each head's slice of the new positions in place, nothing else") {
  const int64_t B = 2, H = 3, Tmax = 5, D = 4, Tn = 2, S = 3 * H * D;
  Tensor cache = Tensor::full(Shape{B, H, Tmax, D}, -1.0f);
  Tensor src = randn_cpu(Shape{B, Tn, S}, 1);
  kv_cache_write_(cache, src, H * D, 1);  // the k slice of a q|k|v row, at positions 1 and 2
  const std::vector<float> c = cache.to_vector(), s = src.to_vector();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < Tmax; ++t)
        for (int64_t d = 0; d < D; ++d) {
          const float got = c[(size_t)(((b * H + h) * Tmax + t) * D + d)];
          if (t == 1 || t == 2)
            CHECK(got == s[(size_t)((b * Tn + t - 1) * S + H * D + h * D + d)]);
          else
            CHECK(got == -1.0f);
        }
  CHECK_THROWS_WITH_AS(kv_cache_write_(cache, src, 2 * H * D, 4), doctest::Contains("do not fit a cache of 5"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(kv_cache_write_(cache, src, 2 * H * D + 1, 0), doctest::Contains("do not fit src rows"),
                       ShapeError);
}

TEST_CASE("decode_attention is softmax(q k / sqrt(D)) v over the unpadded cache positions") {
  const int64_t B = 3, H = 2, Tmax = 9, D = 8, S = 3 * H * D, length = 7;
  Tensor keys = randn_cpu(Shape{B, H, Tmax, D}, 2), values = randn_cpu(Shape{B, H, Tmax, D}, 3);
  Tensor qkv = randn_cpu(Shape{B, S}, 4, 2.0f);
  const std::vector<float> pads = {0, 2, 6};
  Tensor y = decode_attention(qkv, 0, keys, values, Tensor::from_vector(pads, Shape{B}), length);
  REQUIRE(y.shape() == Shape{B, H * D});
  const std::vector<double> want = attention_by_hand(qkv, 0, keys, values, pads, length);
  const std::vector<float> got = y.to_vector();
  for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
  // Positions at or past `length` and before the pad are never read: changing them changes nothing.
  Tensor poked = keys.clone();
  poked.set({0, 0, 7, 0}, 1e9f);
  poked.set({2, 1, 5, 3}, 1e9f);
  CHECK(decode_attention(qkv, 0, poked, values, Tensor::from_vector(pads, Shape{B}), length).to_vector() == got);
  CHECK_THROWS_WITH_AS(decode_attention(qkv, 0, keys, values, Tensor::from_vector(pads, Shape{B}), 10),
                       doctest::Contains("length 10 outside [1, 9]"), ShapeError);
}

TEST_CASE("sample_step_, greedy: argmax, the policy log-prob, and each stop rule") {
  // Four sequences; the batch holds three of them, in the order 3, 0, 2.
  const int64_t V = 5, max_new = 4;
  SampleStepConfig config;
  config.greedy = true;
  config.eos_token = 4;
  config.stop_tokens[0] = 3;
  config.num_stop_tokens = 1;
  config.max_new = max_new;
  config.context = 10;
  config.step = 1;
  DecodeState state = fresh_state({2, 3, 4, 9}, max_new, Device::CPU);
  // sequence 3 -> token 1, but prompt 9 + 2 tokens > context 10: done; sequence 0 -> token 2
  // (tied with 3: the lower id) and goes on; sequence 2 -> eos.
  std::vector<float> z = {0.5f, 3.0f, 0.0f, 1.0f, 2.0f,   // sequence 3: argmax 1
                          1.0f, 0.0f, 1.5f, 1.5f, -1.0f,  // sequence 0: a tie of 2 and 3: the lower id, 2
                          0.0f, 0.0f, 0.0f, 0.0f, 9.0f};  // sequence 2: eos
  Tensor logits = Tensor::from_vector(z, Shape{3, V});
  Tensor rows = Tensor::from_vector({3, 0, 2}, Shape{3});
  Tensor next_tokens = Tensor::full(Shape{3, 1}, -7.0f), next_positions = Tensor::full(Shape{3, 1}, -7.0f);
  sample_step_(logits, rows, state, next_tokens, next_positions, config);
  const std::vector<float> tokens = state.tokens.to_vector(), policy = state.policy_logprobs.to_vector();
  CHECK(tokens[3 * max_new + 1] == 1.0f);
  CHECK(tokens[0 * max_new + 1] == 2.0f);
  CHECK(tokens[2 * max_new + 1] == 4.0f);
  CHECK(policy[3 * max_new + 1] == doctest::Approx(log_softmax_at(z, 0, V, 1, 1.0)).epsilon(1e-6));
  CHECK(policy[0 * max_new + 1] == doctest::Approx(log_softmax_at(z, V, V, 2, 1.0)).epsilon(1e-6));
  CHECK(state.logprobs.to_vector() == std::vector<float>(4 * max_new, 0.0f));  // greedy: probability 1
  CHECK(state.done.to_vector() == std::vector<float>{0, 0, 1, 1});
  CHECK(state.lengths.to_vector() == std::vector<float>{2, 0, 2, 2});
  CHECK(next_tokens.to_vector() == std::vector<float>{0, 2, 0});
  CHECK(next_positions.to_vector() == std::vector<float>{0, 2 + 1, 0});  // prompt 2, fed at position 2 + step
  // A done sequence is skipped: nothing is recorded for it.
  config.step = 2;
  sample_step_(logits, rows, state, next_tokens, next_positions, config);
  CHECK(state.tokens.to_vector()[3 * max_new + 2] == 0.0f);
  CHECK(state.tokens.to_vector()[0 * max_new + 2] == 2.0f);
  // The last step ends every row (max_new); a stop token ends one too.
  config.step = 3;
  z[5 + 3] = 5.0f;  // sequence 0 now picks the stop token 3
  sample_step_(Tensor::from_vector(z, Shape{3, V}), rows, state, next_tokens, next_positions, config);
  CHECK(state.done.to_vector()[0] == 1.0f);
  CHECK(state.tokens.to_vector()[0 * max_new + 3] == 3.0f);
  CHECK(state.lengths.to_vector()[0] == 4.0f);
}

TEST_CASE("sample_step_, sampled: tokens follow softmax(z / T), with their log-probs") {
  const int64_t V = 5, N = 40000;
  const std::vector<float> row = {1.0f, -0.5f, 0.3f, 2.0f, 0.0f};
  std::vector<float> z;
  for (int64_t i = 0; i < N; ++i) z.insert(z.end(), row.begin(), row.end());
  std::vector<float> rows_f, prompts(N, 1.0f);
  for (int64_t i = 0; i < N; ++i) rows_f.push_back((float)i);
  SampleStepConfig config;
  config.temperature = 0.7f;
  config.max_new = 1;
  config.context = 100;
  config.seed = 1234;
  DecodeState state = fresh_state(prompts, 1, Device::CPU);
  Tensor next_tokens = Tensor::empty(Shape{N, 1}), next_positions = Tensor::empty(Shape{N, 1});
  sample_step_(Tensor::from_vector(z, Shape{N, V}), Tensor::from_vector(rows_f, Shape{N}), state, next_tokens,
               next_positions, config);
  const std::vector<float> tokens = state.tokens.to_vector(), logprobs = state.logprobs.to_vector(),
                           policy = state.policy_logprobs.to_vector();
  std::vector<double> counts(V, 0.0);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = (int64_t)tokens[(size_t)i];
    REQUIRE(t >= 0);
    REQUIRE(t < V);
    counts[(size_t)t] += 1;
    CHECK(logprobs[(size_t)i] == policy[(size_t)i]);
  }
  for (int64_t t = 0; t < V; ++t) {
    const double p = std::exp(log_softmax_at(row, 0, V, t, 0.7));
    const double sigma = std::sqrt(p * (1 - p) / N);
    CAPTURE(t);
    CHECK(std::fabs(counts[(size_t)t] / N - p) < 5 * sigma);
    for (int64_t i = 0; i < N; ++i)
      if (tokens[(size_t)i] == (float)t) {
        CHECK(policy[(size_t)i] == doctest::Approx(std::log(p)).epsilon(1e-5));
        break;
      }
  }
  CHECK(state.done.to_vector() == std::vector<float>(N, 1.0f));  // max_new = 1
}

TEST_CASE("cuda: the decoding ops match the CPU (kernels for the batched decoder)") {
  if (!cuda_available()) {
    MESSAGE("skipped: no CUDA GPU");
    return;
  }
  const Device gpu = Device::CUDA;
  SUBCASE("kv_cache_write_ copies exactly") {
    Tensor src = randn_cpu(Shape{5, 3, 3 * 6 * 64}, 7);
    Tensor cpu_cache = Tensor::zeros(Shape{5, 6, 20, 64}), gpu_cache = cpu_cache.to(gpu);
    kv_cache_write_(cpu_cache, src, 6 * 64, 4);
    kv_cache_write_(gpu_cache, src.to(gpu), 6 * 64, 4);
    CHECK(gpu_cache.to_vector() == cpu_cache.to_vector());
  }
  SUBCASE("decode_attention within 1e-5, head sizes 64 (float4 path), 32, 7 and 200") {
    for (int64_t D : {int64_t(64), int64_t(32), int64_t(7), int64_t(200)}) {
      const int64_t B = 5, H = 3, Tmax = 256, S = 3 * H * D;
      Tensor keys = randn_cpu(Shape{B, H, Tmax, D}, 8), values = randn_cpu(Shape{B, H, Tmax, D}, 9);
      Tensor qkv = randn_cpu(Shape{B, S}, 10);
      Tensor pads = Tensor::from_vector({0, 3, 100, 250, 0}, Shape{B});
      for (int64_t length : {int64_t(251), int64_t(256)}) {
        CAPTURE(D);
        CAPTURE(length);
        const std::vector<float> want = decode_attention(qkv, H * D, keys, values, pads, length).to_vector();
        const std::vector<float> got =
            decode_attention(qkv.to(gpu), H * D, keys.to(gpu), values.to(gpu), pads.to(gpu), length).to_vector();
        double diff = 0, norm = 0;
        for (size_t i = 0; i < want.size(); ++i) diff += std::pow(got[i] - want[i], 2), norm += want[i] * want[i];
        CHECK(std::sqrt(diff / norm) < 1e-5);
      }
    }
  }
  SUBCASE("sample_step_: greedy exactly; sampled the same draws but for float rounding at a boundary") {
    const int64_t N = 20000, V = 56, max_new = 3;
    Tensor logits = randn_cpu(Shape{N, V}, 11, 2.0f);
    std::vector<float> rows_f, prompts;
    for (int64_t i = 0; i < N; ++i) rows_f.push_back((float)(N - 1 - i)), prompts.push_back((float)(1 + i % 50));
    Tensor rows = Tensor::from_vector(rows_f, Shape{N});
    for (bool greedy : {true, false}) {
      SampleStepConfig config;
      config.greedy = greedy;
      config.temperature = 0.9f;
      config.eos_token = 2;
      config.max_new = max_new;
      config.context = 40;
      config.step = 1;
      config.seed = 99;
      DecodeState cpu = fresh_state(prompts, max_new, Device::CPU), cuda = fresh_state(prompts, max_new, gpu);
      Tensor cpu_next = Tensor::empty(Shape{N, 1}), cpu_pos = Tensor::empty(Shape{N, 1});
      Tensor gpu_next = Tensor::empty(Shape{N, 1}, gpu), gpu_pos = Tensor::empty(Shape{N, 1}, gpu);
      sample_step_(logits, rows, cpu, cpu_next, cpu_pos, config);
      sample_step_(logits.to(gpu), rows.to(gpu), cuda, gpu_next, gpu_pos, config);
      const std::vector<float> a = cpu.tokens.to_vector(), b = cuda.tokens.to_vector();
      const std::vector<float> pa = cpu.policy_logprobs.to_vector(), pb = cuda.policy_logprobs.to_vector();
      int64_t differ = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) ++differ;
        else CHECK(pb[i] == doctest::Approx(pa[i]).epsilon(1e-5));
      }
      CAPTURE(greedy);
      CHECK(differ <= (greedy ? 0 : N / 1000));
      if (differ == 0) {
        CHECK(cuda.done.to_vector() == cpu.done.to_vector());
        CHECK(gpu_next.to_vector() == cpu_next.to_vector());
        CHECK(gpu_pos.to_vector() == cpu_pos.to_vector());
      }
    }
  }
}

TEST_CASE("a clock tensor shifts the cache position, the attention length and the sampling step") {
  const int64_t B = 2, H = 2, Tmax = 6, D = 4, S = 3 * H * D;
  Tensor src = randn_cpu(Shape{B, 1, S}, 12);
  Tensor by_start = Tensor::zeros(Shape{B, H, Tmax, D}), by_clock = Tensor::zeros(Shape{B, H, Tmax, D});
  kv_cache_write_(by_start, src, H * D, 3);
  kv_cache_write_(by_clock, src, H * D, 1, Tensor::from_vector({2}, Shape{1}));
  CHECK(by_clock.to_vector() == by_start.to_vector());
  Tensor keys = randn_cpu(Shape{B, H, Tmax, D}, 13), values = randn_cpu(Shape{B, H, Tmax, D}, 14);
  Tensor pads = Tensor::from_vector({0, 1}, Shape{B});
  Tensor qkv = randn_cpu(Shape{B, S}, 15);
  CHECK(decode_attention(qkv, 0, keys, values, pads, 2, Tensor::from_vector({3}, Shape{1})).to_vector() ==
        decode_attention(qkv, 0, keys, values, pads, 5).to_vector());
  SampleStepConfig config;
  config.greedy = true;
  config.max_new = 4;
  config.context = 50;
  config.step = 1;
  DecodeState a = fresh_state({1, 1}, 4, Device::CPU), b = fresh_state({1, 1}, 4, Device::CPU);
  Tensor logits = randn_cpu(Shape{B, 7}, 16), rows = Tensor::from_vector({0, 1}, Shape{B});
  Tensor na = Tensor::empty(Shape{B, 1}), pa = Tensor::empty(Shape{B, 1}), nb = na.clone(), pb = pa.clone();
  sample_step_(logits, rows, a, na, pa, config, Tensor::from_vector({2}, Shape{1}));
  config.step = 3;
  sample_step_(logits, rows, b, nb, pb, config);
  CHECK(a.tokens.to_vector() == b.tokens.to_vector());
  CHECK(a.done.to_vector() == std::vector<float>{1, 1});  // step 3 of max_new 4: the last
}
