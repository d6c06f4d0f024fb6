// The multi-tensor optimiser ops (tensor/ops.h "multi-tensor"): each against
// the one-tensor op it replaces, over lists longer than one launch holds (48
// tensors) with sizes around the chunk of a block (2048 elements) and empty
// tensors among them.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/tensor.h"
#include "tests/gpu_cases.h"

using namespace aha;

namespace {

aha_test::GpuCaseCounter g_gpu_cases("test_tensor_multi_tensor");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

std::vector<int64_t> list_sizes() {
  std::vector<int64_t> sizes = {1, 0, 7, 2047, 2048, 2049, 100000, 384, 0, 1536 * 4, 3};
  for (int i = 0; i < 50; ++i) sizes.push_back(1 + (i * 977) % 5000);  // 61 tensors: two launches
  return sizes;
}

std::vector<Tensor> random_list(const std::vector<int64_t>& sizes, uint64_t seed, Device device, float shift = 0.0f) {
  Generator gen(seed);
  std::vector<Tensor> out;
  for (int64_t n : sizes) out.push_back(add_scalar(Tensor::randn(Shape{n}, gen, Device::CPU), shift).to(device));
  return out;
}

std::vector<Tensor> clones(const std::vector<Tensor>& list) {
  std::vector<Tensor> out;
  for (const Tensor& t : list) out.push_back(t.clone());
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
}

void check_ops(Device device) {
  const std::vector<int64_t> sizes = list_sizes();
  const std::vector<Tensor> a = random_list(sizes, 1, device);
  // sum of squares: the one-tensor sums added up (on the CPU in exactly this
  // float loop; on CUDA in another fixed order, to float rounding)
  double want = 0.0;
  float loop = 0.0f;
  for (const Tensor& t : a) {
    const float part = sum_squares(t).item();
    want += part;
    loop += part;
  }
  const float got = sum_squares_all(a).item();
  CHECK(got == doctest::Approx(want).epsilon(1e-6));
  if (device == Device::CPU) CHECK(got == loop);
  CHECK(sum_squares_all(a).item() == got);  // a fixed order: the same bits again
  // scale: the same product per element as mul_scalar_
  std::vector<Tensor> scaled = clones(a), one_by_one = clones(a);
  mul_scalar_all_(scaled, 0.37f);
  for (Tensor& t : one_by_one) mul_scalar_(t, 0.37f);
  for (size_t i = 0; i < a.size(); ++i) CHECK(same_bits(scaled[i], one_by_one[i]));
  // AdamW: bit for bit the one-tensor step, each tensor with its own decay
  const std::vector<Tensor> grads = random_list(sizes, 2, device);
  std::vector<Tensor> p1 = clones(a), p2 = clones(a);
  std::vector<Tensor> m1 = random_list(sizes, 3, device), m2 = clones(m1);
  std::vector<Tensor> v1 = random_list(sizes, 4, device, 3.0f), v2;
  for (Tensor& t : v1) t = mul(t, t);  // second moments are >= 0
  v2 = clones(v1);
  std::vector<float> decay;
  for (size_t i = 0; i < a.size(); ++i) decay.push_back(i % 2 ? 0.1f : 0.0f);
  for (int64_t step = 1; step <= 3; ++step) {
    const AdamWParams hp{1e-2f, 0.9f, 0.99f, 1e-8f, 0.0f, step};
    adamw_step_all_(p1, grads, m1, v1, decay, hp);
    for (size_t i = 0; i < a.size(); ++i) {
      AdamWParams one = hp;
      one.weight_decay = decay[i];
      adamw_step_(p2[i], grads[i], m2[i], v2[i], one);
    }
  }
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(same_bits(p1[i], p2[i]));
    CHECK(same_bits(m1[i], m2[i]));
    CHECK(same_bits(v1[i], v2[i]));
  }
  CHECK_FALSE(same_bits(p1[6], a[6]));  // the step moved the parameters
}

}  // namespace

TEST_CASE("multi-tensor sum of squares, scale and AdamW equal the one-tensor ops (CPU)") {
  check_ops(Device::CPU);
}

TEST_CASE("multi-tensor ops on CUDA equal the one-tensor CUDA ops, over lists of several launches") {
  if (skip_without_gpu()) return;
  check_ops(Device::CUDA);
}

TEST_CASE("multi-tensor ops refuse mismatched lists with a message") {
  const std::vector<Tensor> p = {Tensor::zeros(Shape{3})}, g = {Tensor::zeros(Shape{4})};
  const AdamWParams hp{1e-3f, 0.9f, 0.99f, 1e-8f, 0.0f, 1};
  CHECK_THROWS_WITH_AS(adamw_step_all_(p, g, p, p, {0.0f}, hp), doctest::Contains("shapes differ"), ShapeError);
  CHECK_THROWS_WITH_AS(adamw_step_all_(p, p, p, p, {}, hp), doctest::Contains("differ in length"), ShapeError);
  CHECK_THROWS_WITH_AS(sum_squares_all({}), doctest::Contains("no tensors"), ShapeError);
  CHECK_THROWS_AS(sum_squares_all({cast(Tensor::ones(Shape{2}), DType::BF16)}), std::runtime_error);
}
