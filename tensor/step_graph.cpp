#include "tensor/step_graph.h"

#include "tensor/dispatch.h"

namespace aha {

void StepGraph::run(const std::function<void()>& step) {
  if (device_ != Device::CUDA) {
    step();  // nothing to capture on the CPU
    return;
  }
  if (!graph_) graph_ = AHA_DISPATCH(device_, graph_capture(step, blocks_));
  AHA_DISPATCH(device_, graph_launch(graph_));
}

void StepGraph::reset() {
  if (!graph_) return;
  AHA_DISPATCH(device_, graph_destroy(graph_, blocks_));
  graph_ = nullptr;
  blocks_.clear();
}

}  // namespace aha
