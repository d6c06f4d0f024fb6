// StepGraph (tensor/step_graph.h): a captured step replays the same work, its
// blocks stay its own while it lives, and on the CPU a step simply runs; a
// decode step on the bf16 KV cache replays with its clock.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/step_graph.h"
#include "tensor/tensor.h"

using namespace aha;

namespace {

// out = 2 * (out + one): a temporary inside, the result into a tensor that
// outlives the graph.
void doubling_step(Tensor& out, const Tensor& one) {
  Tensor sum = add(out, one);
  Tensor twice = mul_scalar(sum, 2.0f);
  fill_(out, 0.0f);
  add_(out, twice);
}

void check_replays(Device device) {
  Tensor out = Tensor::zeros(Shape{1000}, device), one = Tensor::ones(Shape{1000}, device);
  StepGraph graph(device);
  for (int i = 0; i < 5; ++i) {
    graph.run([&] { doubling_step(out, one); });
    // Blocks allocated between replays must not be the graph's temporaries:
    // the next replay would overwrite them.
    Tensor bystander = Tensor::full(Shape{1000}, 7.0f, device);
    graph.run([&] { doubling_step(out, one); });
    CHECK(bystander.to_vector() == std::vector<float>(1000, 7.0f));
  }
  // x -> 2(x + 1), ten times from 0: 2^11 - 2
  CHECK(out.to_vector() == std::vector<float>(1000, 2046.0f));
  CHECK(graph.captured() == (device == Device::CUDA));
  graph.reset();
  graph.run([&] { doubling_step(out, one); });  // captured afresh
  CHECK(out.to_vector() == std::vector<float>(1000, 4094.0f));
}

// A decode step on a bf16 KV cache as the batched decoder captures it
// (model/decoder.cpp): write the new key and value at position clock[0],
// attend over [0, clock[0] + 1), advance the clock. Each replay must equal the
// same ops run on the CPU with explicit positions (the bf16 cache bit for bit).
void check_bf16_decode_replays(Device device) {
  const int64_t B = 3, H = 2, D = 8, Tmax = 6, C = H * D;
  Generator gen(5);
  const Shape cache_shape{B, H, Tmax, D / 2};
  Tensor qkv = Tensor::zeros(Shape{B, 1, 3 * C}, device);  // the step's input, refilled in place between replays
  Tensor keys = Tensor::zeros(cache_shape, device), values = Tensor::zeros(cache_shape, device);
  Tensor want_keys = Tensor::zeros(cache_shape), want_values = Tensor::zeros(cache_shape);
  const Tensor pads = Tensor::zeros(Shape{B}, device), one = Tensor::ones(Shape{1}, device);
  Tensor clock = Tensor::zeros(Shape{1}, device), y = Tensor::zeros(Shape{B, C}, device);
  StepGraph graph(device);
  for (int64_t step = 0; step < Tmax; ++step) {
    const Tensor input = Tensor::randn(Shape{B, 1, 3 * C}, gen);
    fill_(qkv, 0.0f);
    add_(qkv, input.to(device));
    graph.run([&] {
      kv_cache_write_bf16_(keys, qkv, D, C, 0, clock);
      kv_cache_write_bf16_(values, qkv, D, 2 * C, 0, clock);
      const Tensor attended = decode_attention_bf16(qkv, 0, keys, values, D, pads, 1, clock);
      fill_(y, 0.0f);
      add_(y, attended);
      add_(clock, one);
    });
    kv_cache_write_bf16_(want_keys, input, D, C, step);
    kv_cache_write_bf16_(want_values, input, D, 2 * C, step);
    const std::vector<float> want = decode_attention_bf16(input, 0, want_keys, want_values, D, pads.to(Device::CPU),
                                                          step + 1).to_vector();
    const std::vector<float> got = y.to_vector();
    CAPTURE(step);
    for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
  }
  auto bits = [](const Tensor& t) {
    std::vector<uint32_t> out;
    for (float x : t.to_vector()) {
      uint32_t b;
      std::memcpy(&b, &x, sizeof b);
      out.push_back(b);
    }
    return out;
  };
  CHECK(bits(keys) == bits(want_keys));
  CHECK(bits(values) == bits(want_values));
  CHECK(graph.captured() == (device == Device::CUDA));
}

}  // namespace

TEST_CASE("StepGraph on the CPU runs the step every time") { check_replays(Device::CPU); }

TEST_CASE("StepGraph runs a bf16-cache decode step, its clock advancing the position (CPU)") {
  check_bf16_decode_replays(Device::CPU);
}

TEST_CASE("StepGraph on CUDA replays a bf16-cache decode step, its clock advancing the position") {
  if (!cuda_available()) {
    MESSAGE("skipped: no CUDA GPU");
    return;
  }
  check_bf16_decode_replays(Device::CUDA);
}

TEST_CASE("StepGraph on CUDA replays the captured step, and keeps its blocks from other tensors") {
  if (!cuda_available()) {
    MESSAGE("skipped: no CUDA GPU");
    return;
  }
  check_replays(Device::CUDA);
}
