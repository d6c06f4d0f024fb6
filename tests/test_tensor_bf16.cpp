// The bf16 element type (tensor/tensor.h DType): storage, copies, the guard
// that keeps bf16 out of float32-only ops, cast and add_. The references are
// hand-computed bit patterns and the float32 ops on widened values.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "tests/gpu_cases.h"

using namespace aha;

namespace {

aha_test::GpuCaseCounter g_gpu_cases("test_tensor_bf16");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

float from_bits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// Values that exercise every rounding case: ties to even both ways, carries
// into the exponent, subnormals, the largest finite float (rounds to inf), inf.
std::vector<float> tricky_values() {
  return {0.0f, -0.0f, 1.0f, -2.5f, 3.14159265f, 1e-3f, -7.77e4f,
          from_bits(0x3f808000u),  // 1 + 2^-8: a tie, kept part even -> 1.0
          from_bits(0x3f818000u),  // a tie, kept part odd -> rounds up
          from_bits(0x3f80c000u),  // above the tie -> up
          from_bits(0x3fffffffu),  // carries into the exponent -> 2.0
          from_bits(0x00000001u),  // the smallest subnormal -> 0
          from_bits(0x00018000u),  // a subnormal tie with odd kept part -> up
          std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity(),
          -std::numeric_limits<float>::infinity()};
}

}  // namespace

TEST_CASE("bf16: dtype names parse and print, and unknown ones are refused") {
  CHECK(parse_dtype("fp32") == DType::F32);
  CHECK(parse_dtype("bf16") == DType::BF16);
  CHECK(std::string(dtype_name(DType::BF16)) == "bf16");
  CHECK_THROWS_WITH_AS(parse_dtype("fp16"), doctest::Contains("expected fp32 or bf16"), std::runtime_error);
}

TEST_CASE("bf16: cast rounds to nearest even, widens exactly, and round-trips") {
  const std::vector<float> values = tricky_values();
  const Tensor x = Tensor::from_vector(values, Shape{(int64_t)values.size()});
  const Tensor h = cast(x, DType::BF16);
  CHECK(h.dtype() == DType::BF16);
  CHECK(h.shape() == x.shape());
  const std::vector<float> back = h.to_vector();
  const uint16_t* bits = h.data_bf16();
  CHECK(bits[2] == 0x3f80);        // 1.0
  CHECK(bits[7] == 0x3f80);        // tie to even: down
  CHECK(bits[8] == 0x3f82);        // tie to even: up
  CHECK(bits[9] == 0x3f81);        // above the tie
  CHECK(bits[10] == 0x4000);       // 2.0
  CHECK(bits[11] == 0x0000);       // tiny subnormal -> +0
  CHECK(bits[12] == 0x0002);       // subnormal tie, odd -> up
  CHECK(bits[13] == 0x7f80);       // FLT_MAX -> +inf
  CHECK(bits[14] == 0x7f80);
  CHECK(bits[15] == 0xff80);
  CHECK(std::signbit(back[1]));    // -0 stays -0
  for (size_t i = 0; i < values.size(); ++i) {
    CHECK(back[i] == bf16_widen(bf16_round(values[i])));
    // Normal values land within half a bf16 ulp (2^-9 relative; subnormals are absolute).
    if (std::isfinite(back[i]) && std::fabs(values[i]) >= std::numeric_limits<float>::min())
      CHECK(std::fabs(back[i] - values[i]) <= std::fabs(values[i]) * 0x1p-8f);
  }
  // A bf16 value survives a trip through fp32 unchanged.
  const Tensor again = cast(cast(h, DType::F32), DType::BF16);
  CHECK(std::memcmp(again.data_bf16(), h.data_bf16(), values.size() * 2) == 0);
  // NaN becomes the one quiet NaN.
  const Tensor nan = cast(Tensor::full(Shape{3}, std::nanf("")), DType::BF16);
  CHECK(nan.data_bf16()[1] == 0x7fff);
  // Same dtype: the tensor itself, no copy.
  CHECK(cast(h, DType::BF16).shares_storage(h));
}

TEST_CASE("bf16: a float32-only op refuses a bf16 tensor with a message naming the problem") {
  const Tensor h = cast(Tensor::ones(Shape{2, 3}), DType::BF16);
  CHECK_THROWS_WITH_AS(exp(h), doctest::Contains("bf16 tensor [2, 3]"), std::runtime_error);
  CHECK_THROWS_WITH_AS(h.data(), doctest::Contains("takes fp32 tensors only"), std::runtime_error);
  const Tensor f = Tensor::ones(Shape{2, 3});
  CHECK_THROWS_WITH_AS(f.data_bf16(), doctest::Contains("bf16 data asked of a fp32 tensor"), std::runtime_error);
}

TEST_CASE("bf16: storage holds odd sizes; clone, reshape, copy_from and zeros keep the dtype") {
  std::vector<float> v = {1.5f, -2.0f, 0.25f, 8.0f, -0.125f};  // exact in bf16, odd count
  const Tensor h = cast(Tensor::from_vector(v, Shape{5}), DType::BF16);
  const Tensor c = h.clone();
  CHECK(c.dtype() == DType::BF16);
  CHECK_FALSE(c.shares_storage(h));
  CHECK(c.to_vector() == v);
  CHECK(h.reshape(Shape{5, 1}).dtype() == DType::BF16);
  CHECK(h.at({3}) == 8.0f);
  Tensor dst = Tensor::empty(Shape{5}, Device::CPU, DType::BF16);
  dst.copy_from(h);
  CHECK(dst.to_vector() == v);
  Tensor f = Tensor::empty(Shape{5});
  CHECK_THROWS_WITH_AS(f.copy_from(h), doctest::Contains("cast first"), ShapeError);
  const Tensor z = Tensor::zeros(Shape{3, 3}, Device::CPU, DType::BF16);
  CHECK(z.dtype() == DType::BF16);
  for (float x : z.to_vector()) CHECK(x == 0.0f);
  CHECK(Tensor::empty(Shape{0}, Device::CPU, DType::BF16).to_vector().empty());
}

TEST_CASE("bf16: add_ accumulates with one rounding per add; mixed dtypes are refused") {
  const std::vector<float> a = {1.0f, 256.0f, -3.0f, 0.1f}, b = {0x1p-8f, 1.0f, 3.0f, 0.2f};
  Tensor ha = cast(Tensor::from_vector(a, Shape{4}), DType::BF16);
  const Tensor hb = cast(Tensor::from_vector(b, Shape{4}), DType::BF16);
  const std::vector<float> wa = ha.to_vector(), wb = hb.to_vector();
  add_(ha, hb);
  const std::vector<float> sum = ha.to_vector();
  for (size_t i = 0; i < a.size(); ++i) CHECK(sum[i] == bf16_widen(bf16_round(wa[i] + wb[i])));
  CHECK(sum[0] == 1.0f);    // 1 + 2^-8 ties to even: 1
  CHECK(sum[1] == 256.0f);  // 257 is between 256 and 258: a tie, to even (256)
  CHECK(sum[2] == 0.0f);
  Tensor f = Tensor::ones(Shape{4});
  CHECK_THROWS_WITH_AS(add_(f, hb), doctest::Contains("dtypes differ"), ShapeError);
}

TEST_CASE("bf16: causal attention takes bf16 q, k, v and equals the fp32 op on the widened values, rounded") {
  Generator gen(5);
  const int64_t B = 2, T = 9, H = 2, C = 8;
  const Tensor q = cast(Tensor::randn(Shape{B, T, C}, gen), DType::BF16);
  const Tensor k = cast(Tensor::randn(Shape{B, T, C}, gen), DType::BF16);
  const Tensor v = cast(Tensor::randn(Shape{B, T, C}, gen), DType::BF16);
  Tensor lse16, lse32;
  const Tensor y16 = causal_attention(q, k, v, (int)H, lse16);
  const Tensor y32 = causal_attention(cast(q, DType::F32), cast(k, DType::F32), cast(v, DType::F32), (int)H, lse32);
  CHECK(y16.dtype() == DType::BF16);
  CHECK(y16.to_vector() == cast(y32, DType::BF16).to_vector());
  CHECK(lse16.to_vector() == lse32.to_vector());
  const Tensor dy = cast(Tensor::randn(Shape{B, T, C}, gen), DType::BF16);
  Tensor dq, dk, dv, dq32, dk32, dv32;
  causal_attention_backward(q, k, v, y16, lse16, dy, (int)H, dq, dk, dv);
  causal_attention_backward(cast(q, DType::F32), cast(k, DType::F32), cast(v, DType::F32), cast(y16, DType::F32),
                            lse32, cast(dy, DType::F32), (int)H, dq32, dk32, dv32);
  CHECK(dq.dtype() == DType::BF16);
  CHECK(dq.to_vector() == cast(dq32, DType::BF16).to_vector());
  CHECK(dk.to_vector() == cast(dk32, DType::BF16).to_vector());
  CHECK(dv.to_vector() == cast(dv32, DType::BF16).to_vector());
  Tensor lse;
  CHECK_THROWS_WITH_AS(causal_attention(q, cast(k, DType::F32), v, (int)H, lse), doctest::Contains("one dtype"),
                       ShapeError);
}

TEST_CASE("bf16 CUDA: cast and add_ give the CPU's bits, and bf16 tensors move between devices") {
  if (skip_without_gpu()) return;
  Generator gen(3);
  std::vector<float> values = tricky_values();
  const std::vector<float> noise = Tensor::randn(Shape{1001}, gen, Device::CPU, 10.0f).to_vector();
  values.insert(values.end(), noise.begin(), noise.end());
  values.push_back(std::nanf(""));
  const Tensor x = Tensor::from_vector(values, Shape{(int64_t)values.size()});
  const Tensor cpu = cast(x, DType::BF16);
  const Tensor gpu = cast(x.to(Device::CUDA), DType::BF16);
  CHECK(gpu.device() == Device::CUDA);
  const Tensor back = gpu.to(Device::CPU);
  CHECK(back.dtype() == DType::BF16);
  CHECK(std::memcmp(back.data_bf16(), cpu.data_bf16(), values.size() * 2) == 0);
  const Tensor wide_gpu = cast(gpu, DType::F32).to(Device::CPU), wide_cpu = cast(cpu, DType::F32);
  CHECK(std::memcmp(wide_gpu.data(), wide_cpu.data(), values.size() * 4) == 0);
  Tensor acc_cpu = cpu.clone(), acc_gpu = gpu.clone();
  add_(acc_cpu, cpu);
  add_(acc_gpu, gpu);
  CHECK(std::memcmp(acc_gpu.to(Device::CPU).data_bf16(), acc_cpu.data_bf16(), values.size() * 2) == 0);
  const Tensor z = Tensor::zeros(Shape{7}, Device::CUDA, DType::BF16);
  for (float v : z.to_vector()) CHECK(v == 0.0f);
}
