// The CPU has no graphs: a step runs as it is (tensor/step_graph.h never
// captures on the CPU). These keep the CPU and CUDA function lists one for one.
#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

void* graph_capture(const std::function<void()>& step, std::vector<float*>&) {
  step();
  return nullptr;
}

void graph_launch(void*) {}

void graph_destroy(void*, const std::vector<float*>&) {}

}  // namespace cpu
}  // namespace aha
