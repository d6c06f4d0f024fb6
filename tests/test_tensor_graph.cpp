// StepGraph (tensor/step_graph.h): a captured step replays the same work, its
// blocks stay its own while it lives, and on the CPU a step simply runs.
#include <doctest/doctest.h>

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

}  // namespace

TEST_CASE("StepGraph on the CPU runs the step every time") { check_replays(Device::CPU); }

TEST_CASE("StepGraph on CUDA replays the captured step, and keeps its blocks from other tensors") {
  if (!cuda_available()) {
    MESSAGE("skipped: no CUDA GPU");
    return;
  }
  check_replays(Device::CUDA);
}
