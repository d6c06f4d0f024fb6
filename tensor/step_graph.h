// A step that runs many times with the same shapes (one decode step of the
// batched decoder): on CUDA the first run captures its kernel launches into a
// CUDA graph and every run replays it, one launch for the whole step instead
// of ~100 launches through the tensor layer; on the CPU it simply runs.
//
// A capture fixes every kernel's arguments and every pointer. So the step must
// take whatever changes from run to run from device memory (the batched
// decoder keeps its step counter in a tensor and bumps it inside the step),
// write only into tensors that outlive the graph, and reach no host sync. The
// blocks the step allocated belong to the graph until reset() or destruction
// (tensor/cuda/allocator.h).
#pragma once

#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace aha {

class StepGraph {
 public:
  explicit StepGraph(Device device) : device_(device) {}
  ~StepGraph() { reset(); }
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // Runs `step`: captured on the first call (then launched), replayed after.
  void run(const std::function<void()>& step);
  // Forgets the capture, e.g. when tensors the step uses were reallocated.
  void reset();
  bool captured() const { return graph_ != nullptr; }

 private:
  Device device_;
  void* graph_ = nullptr;      // the instantiated graph (cudaGraphExec_t)
  std::vector<float*> blocks_;  // device blocks the capture allocated
};

}  // namespace aha
