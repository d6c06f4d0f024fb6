// The batched-decoding ops (tensor/cpu/decode.cpp, tensor/cuda/decode.cu):
// the in-place cache write, one-query attention over the cache, and the
// device-side sampling step, against hand computations in double; then the
// CUDA kernels against the CPU ones (skipped, and saying so, without a GPU).
// The bf16 cache's ops: hand-made rounding cases, and the fp32 ops as reference.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
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

// ---- the bf16 cache: [B, H, Tmax, D/2] floats, two bf16 a word (tensor/ops.h) ----

namespace {

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

float float_of(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// A bf16 cache [B, H, Tmax, D/2] as the bf16 halves of its words, in element order [B, H, Tmax, D].
std::vector<uint16_t> halves_of(const Tensor& cache) {
  std::vector<uint16_t> out;
  for (float word : cache.to_vector()) {
    out.push_back((uint16_t)(bits_of(word) & 0xffffu));
    out.push_back((uint16_t)(bits_of(word) >> 16));
  }
  return out;
}

// The fp32 cache [B, H, Tmax, D] holding exactly the values a bf16 cache holds.
Tensor widened(const Tensor& cache) {
  std::vector<float> out;
  for (uint16_t h : halves_of(cache)) out.push_back(float_of((uint32_t)h << 16));
  Shape shape = cache.shape();
  shape.dims[3] *= 2;
  return Tensor::from_vector(out, shape, cache.device());
}

// A bf16 cache [B, H, Tmax, D/2] of an fp32 one [B, H, Tmax, D], written through the op.
Tensor bf16_cache_of(const Tensor& keys) {
  const int64_t B = keys.size(0), H = keys.size(1), Tmax = keys.size(2), D = keys.size(3);
  Tensor cache = Tensor::zeros(Shape{B, H, Tmax, D / 2}, keys.device());
  // src [B, Tmax, H*D]: the cache's positions as a linear layer would write them.
  kv_cache_write_bf16_(cache, permute_0213(keys).reshape(Shape{B, Tmax, H * D}), D, 0, 0);
  return cache;
}

double relative_l2(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i)
    diff += std::pow((double)got[i] - want[i], 2), norm += (double)want[i] * want[i];
  return std::sqrt(diff / norm);
}

// Hand-made cases of float -> bf16, round to nearest even on the bits: {float bits, bf16 bits}.
const std::vector<std::pair<uint32_t, uint16_t>> kRoundingCases = {
    {0x3f800000, 0x3f80},  // 1: representable, exact
    {0xc0200000, 0xc020},  // -2.5: exact
    {0x40490000, 0x4049},  // 3.140625: exact
    {0x80000000, 0x8000},  // -0: exact, sign kept
    {0x3f807fff, 0x3f80},  // just below half an ulp: down
    {0x3f808001, 0x3f81},  // just above half: up
    {0x3f808000, 0x3f80},  // exactly half, kept part even (0x3f80): stays
    {0x3f818000, 0x3f82},  // exactly half, kept part odd (0x3f81): up to even
    {0xbf818000, 0xbf82},  // the same, negative: magnitude up
    {0x3fffffff, 0x4000},  // the carry runs into the exponent: 2
    {0x7f7fffff, 0x7f80},  // FLT_MAX rounds to infinity
    {0x7f800000, 0x7f80},  // inf
    {0xff800000, 0xff80},  // -inf
    {0x00018000, 0x0002},  // a subnormal at half, odd: up
    {0x00008000, 0x0000},  // a subnormal at half, even: down to 0
    {0x7fc00000, 0x7fff},  // quiet NaN: the one NaN
    {0xffc00001, 0x7fff},  // negative NaN with payload
    {0x7f800001, 0x7fff},  // signalling NaN (adding the bias would have made it infinity)
    {0x7fffffff, 0x7fff},  // NaN whose rounding would carry
};

}  // namespace

TEST_CASE("bf16 rounding: exact where representable, to nearest even otherwise, one NaN") {
  for (const auto& c : kRoundingCases) {
    CAPTURE(c.first);
    CHECK(bf16_round(float_of(c.first)) == c.second);
    if (!std::isnan(float_of(c.first))) CHECK(bits_of(bf16_widen(c.second)) == (uint32_t)c.second << 16);
  }
  CHECK(std::isnan(bf16_widen(0x7fff)));
  // Every bf16 value but NaN round-trips: widen, round, the same bits.
  int64_t checked = 0;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float x = bf16_widen((uint16_t)h);
    if (std::isnan(x)) continue;
    if (bf16_round(x) != h) FAIL("bf16 " << h << " does not round-trip");
    ++checked;
  }
  CHECK(checked == 0x10000 - 2 * 0x7f);  // all but the 2 * 127 NaN encodings
}

TEST_CASE("kv_cache_write_bf16_ packs each head's rounded slice two to a word, in place, nothing else") {
  const int64_t B = 2, H = 3, Tmax = 5, D = 6, Tn = 2, S = 3 * H * D;
  const float sentinel = float_of(0x12345678);
  Tensor cache = Tensor::full(Shape{B, H, Tmax, D / 2}, sentinel);
  Tensor src = randn_cpu(Shape{B, Tn, S}, 21);
  kv_cache_write_bf16_(cache, src, D, H * D, 1);  // the k slice of a q|k|v row, at positions 1 and 2
  const std::vector<float> c = cache.to_vector(), s = src.to_vector();
  const std::vector<uint16_t> halves = halves_of(cache);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < Tmax; ++t)
        for (int64_t d = 0; d < D; ++d) {
          const size_t at = (size_t)(((b * H + h) * Tmax + t) * D + d);
          if (t == 1 || t == 2) {
            const float x = s[(size_t)((b * Tn + t - 1) * S + H * D + h * D + d)];
            CHECK(halves[at] == bf16_round(x));
            // within half an ulp: bf16 has 8 significant bits
            CHECK(std::fabs(bf16_widen(halves[at]) - x) <= std::ldexp(std::fabs(x), -8));
          } else {
            CHECK(bits_of(c[at / 2]) == 0x12345678u);
          }
        }
  SUBCASE("values representable in bf16 come back exactly") {
    std::vector<float> rounded = src.to_vector();
    for (float& x : rounded) x = bf16_widen(bf16_round(x));
    Tensor exact = Tensor::zeros(Shape{B, H, Tmax, D / 2});
    kv_cache_write_bf16_(exact, Tensor::from_vector(rounded, src.shape()), D, 2 * H * D, 3);
    const std::vector<float> back = widened(exact).to_vector();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = 3; t < 5; ++t)
          for (int64_t d = 0; d < D; ++d)
            CHECK(back[(size_t)(((b * H + h) * Tmax + t) * D + d)] ==
                  rounded[(size_t)((b * Tn + t - 3) * S + 2 * H * D + h * D + d)]);
  }
  SUBCASE("the hand-made rounding cases, through the op") {
    const int64_t n = (int64_t)kRoundingCases.size();
    std::vector<float> x;
    for (const auto& c : kRoundingCases) x.push_back(float_of(c.first));
    x.push_back(0.0f);  // an even count
    Tensor one_row = Tensor::zeros(Shape{1, 1, 1, (n + 1) / 2});
    kv_cache_write_bf16_(one_row, Tensor::from_vector(x, Shape{1, 1, n + 1}), n + 1, 0, 0);
    const std::vector<uint16_t> got = halves_of(one_row);
    for (int64_t i = 0; i < n; ++i) CHECK(got[(size_t)i] == kRoundingCases[(size_t)i].second);
  }
  CHECK_THROWS_WITH_AS(kv_cache_write_bf16_(cache, src, D, 2 * H * D, 4), doctest::Contains("do not fit a cache of 5"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(kv_cache_write_bf16_(cache, src, D, 2 * H * D + 1, 0),
                       doctest::Contains("do not fit src rows"), ShapeError);
  CHECK_THROWS_WITH_AS(kv_cache_write_bf16_(cache, src, D + 2, 0, 0),
                       doctest::Contains("must be [B, H, Tmax, 4], got [2, 3, 5, 3]"), ShapeError);
  Tensor odd = Tensor::zeros(Shape{B, H, Tmax, 3});
  CHECK_THROWS_WITH_AS(kv_cache_write_bf16_(odd, src, 7, 0, 0), doctest::Contains("head_dim must be even"),
                       ShapeError);
}

TEST_CASE("decode_attention_bf16 is decode_attention over the rounded cache, near it over the exact one") {
  for (int64_t D : {int64_t(8), int64_t(6), int64_t(64), int64_t(2)}) {
    const int64_t B = 3, H = 2, Tmax = 9, S = 3 * H * D, length = 7;
    CAPTURE(D);
    Tensor keys = randn_cpu(Shape{B, H, Tmax, D}, 22), values = randn_cpu(Shape{B, H, Tmax, D}, 23);
    Tensor qkv = randn_cpu(Shape{B, S}, 24, 2.0f);
    const Tensor pads = Tensor::from_vector({0, 2, 6}, Shape{B});
    const Tensor k16 = bf16_cache_of(keys), v16 = bf16_cache_of(values);
    const std::vector<float> got = decode_attention_bf16(qkv, H * D, k16, v16, D, pads, length).to_vector();
    REQUIRE(got.size() == (size_t)(B * H * D));
    // The same (rounded) numbers through the fp32 op, and by hand in double.
    const std::vector<float> same = decode_attention(qkv, H * D, widened(k16), widened(v16), pads, length).to_vector();
    const std::vector<double> by_hand =
        attention_by_hand(qkv, H * D, widened(k16), widened(v16), {0, 2, 6}, length);
    for (size_t i = 0; i < same.size(); ++i) {
      CHECK(got[i] == doctest::Approx(same[i]).epsilon(1e-5));
      CHECK(got[i] == doctest::Approx(by_hand[i]).epsilon(1e-5));
    }
    // Against the unrounded cache: each key and value is off by at most 2^-8 of
    // itself, so y moves by about that (measured: 1.8e-3 to 2.0e-3 of its norm
    // at these sizes); the bound is 5e-3.
    const double error = relative_l2(got, decode_attention(qkv, H * D, keys, values, pads, length).to_vector());
    CHECK(error < 5e-3);
    CHECK(error > 0);  // the rounding did happen
  }
  Tensor k16 = Tensor::zeros(Shape{2, 2, 4, 3}), qkv = randn_cpu(Shape{2, 36}, 25);
  const Tensor pads = Tensor::zeros(Shape{2});
  CHECK_THROWS_WITH_AS(decode_attention_bf16(qkv, 0, k16, k16, 6, pads, 5),
                       doctest::Contains("length 5 outside [1, 4]"), ShapeError);
  CHECK_THROWS_WITH_AS(decode_attention_bf16(qkv, 0, k16, k16, 3, pads, 4), doctest::Contains("head_dim must be even"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(decode_attention_bf16(qkv, 0, k16, k16, 4, pads, 4),
                       doctest::Contains("decode_attention_bf16: a bf16 cache of head_dim 4 must be [B, H, Tmax, 2]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(decode_attention_bf16(qkv, 30, k16, k16, 6, pads, 4), doctest::Contains("do not fit rows of 36"),
                       ShapeError);
}

TEST_CASE("a clock tensor shifts the bf16 cache position and the bf16 attention length") {
  const int64_t B = 2, H = 2, Tmax = 6, D = 4, S = 3 * H * D;
  Tensor src = randn_cpu(Shape{B, 1, S}, 26);
  Tensor by_start = Tensor::zeros(Shape{B, H, Tmax, D / 2}), by_clock = Tensor::zeros(Shape{B, H, Tmax, D / 2});
  kv_cache_write_bf16_(by_start, src, D, H * D, 3);
  kv_cache_write_bf16_(by_clock, src, D, H * D, 1, Tensor::from_vector({2}, Shape{1}));
  CHECK(halves_of(by_clock) == halves_of(by_start));
  const Tensor keys = bf16_cache_of(randn_cpu(Shape{B, H, Tmax, D}, 27));
  const Tensor values = bf16_cache_of(randn_cpu(Shape{B, H, Tmax, D}, 28));
  const Tensor pads = Tensor::from_vector({0, 1}, Shape{B}), qkv = randn_cpu(Shape{B, S}, 29);
  CHECK(decode_attention_bf16(qkv, 0, keys, values, D, pads, 2, Tensor::from_vector({3}, Shape{1})).to_vector() ==
        decode_attention_bf16(qkv, 0, keys, values, D, pads, 5).to_vector());
}

TEST_CASE("cuda: the bf16 cache ops match the CPU (the write bit for bit)") {
  if (!cuda_available()) {
    MESSAGE("skipped: no CUDA GPU");
    return;
  }
  const Device gpu = Device::CUDA;
  SUBCASE("kv_cache_write_bf16_: the same bits, rounding cases and NaNs included") {
    for (int64_t D : {int64_t(64), int64_t(6), int64_t(200)}) {
      CAPTURE(D);
      const int64_t B = 5, H = 3, Tn = 3, S = 3 * H * D;
      std::vector<float> x = randn_cpu(Shape{B, Tn, S}, 30).to_vector();
      for (size_t i = 0; i < kRoundingCases.size(); ++i) x[i * 7] = float_of(kRoundingCases[i].first);
      const Tensor src = Tensor::from_vector(x, Shape{B, Tn, S});
      Tensor cpu_cache = Tensor::zeros(Shape{B, H, 20, D / 2}), gpu_cache = cpu_cache.to(gpu);
      for (int64_t column : {int64_t(0), H * D, 2 * H * D}) {
        kv_cache_write_bf16_(cpu_cache, src, D, column, 4 + column / (H * D));
        kv_cache_write_bf16_(gpu_cache, src.to(gpu), D, column, 4 + column / (H * D));
      }
      CHECK(halves_of(gpu_cache) == halves_of(cpu_cache));
    }
  }
  SUBCASE("decode_attention_bf16 within 1e-5, head sizes 64 and 32 (uint4 path), 6, 14, 200 and 2") {
    for (int64_t D : {int64_t(64), int64_t(32), int64_t(6), int64_t(14), int64_t(200), int64_t(2)}) {
      const int64_t B = 5, H = 3, Tmax = 256, S = 3 * H * D;
      const Tensor keys = bf16_cache_of(randn_cpu(Shape{B, H, Tmax, D}, 31));
      const Tensor values = bf16_cache_of(randn_cpu(Shape{B, H, Tmax, D}, 32));
      const Tensor qkv = randn_cpu(Shape{B, S}, 33);
      const Tensor pads = Tensor::from_vector({0, 3, 100, 250, 0}, Shape{B});
      for (int64_t length : {int64_t(251), int64_t(256)}) {
        CAPTURE(D);
        CAPTURE(length);
        const std::vector<float> want = decode_attention_bf16(qkv, H * D, keys, values, D, pads, length).to_vector();
        const std::vector<float> got =
            decode_attention_bf16(qkv.to(gpu), H * D, keys.to(gpu), values.to(gpu), D, pads.to(gpu), length)
                .to_vector();
        CHECK(relative_l2(got, want) < 1e-5);
      }
      // With a clock on the device, as a captured decode step runs it.
      const std::vector<float> want = decode_attention_bf16(qkv, 0, keys, values, D, pads, 251).to_vector();
      const std::vector<float> got = decode_attention_bf16(qkv.to(gpu), 0, keys.to(gpu), values.to(gpu), D,
                                                           pads.to(gpu), 200, Tensor::from_vector({51}, Shape{1}, gpu))
                                         .to_vector();
      CHECK(relative_l2(got, want) < 1e-5);
    }
  }
}
