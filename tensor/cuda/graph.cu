// CUDA graphs for tensor/step_graph.h: capture a step's launches on aha's one
// stream, instantiate them once, replay with one cudaGraphLaunch.
#include <stdexcept>

#include "tensor/cuda/allocator.h"
#include "tensor/cuda/check.h"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// One attempt: begin the capture, run the step (its launches are recorded,
// not run), end it and instantiate. On an exception the capture is ended and
// its blocks are given back before the exception goes on.
cudaGraphExec_t try_capture(const std::function<void()>& step, std::vector<float*>& blocks) {
  AHA_CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeRelaxed));
  allocator_begin_graph_capture();
  cudaGraph_t graph = nullptr;
  try {
    step();
  } catch (...) {
    blocks = allocator_end_graph_capture();
    (void)cudaStreamEndCapture(stream(), &graph);
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    allocator_release_graph_blocks(blocks);
    blocks.clear();
    throw;
  }
  blocks = allocator_end_graph_capture();
  AHA_CUDA_CHECK(cudaStreamEndCapture(stream(), &graph));
  cudaGraphExec_t exec = nullptr;
  AHA_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  AHA_CUDA_CHECK(cudaGraphDestroy(graph));
  return exec;
}

}  // namespace

// Relaxed capture mode: the allocator may still cudaMalloc a new block during
// the capture (legal in this mode; such calls are not part of the graph). The
// blocks handed out meanwhile are the graph's (allocator.h). If the device runs
// out of memory mid-capture (the cache may hold what a training step freed),
// the cache is released outside the capture and the capture tried once more.
// Nothing runs during a capture: the caller launches the graph to run the step.
void* graph_capture(const std::function<void()>& step, std::vector<float*>& blocks) {
  try {
    return try_capture(step, blocks);
  } catch (const std::runtime_error&) {
    allocator_release_cache();
    return try_capture(step, blocks);
  }
}

void graph_launch(void* graph) {
  AHA_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), stream()));
}

// Queued replays finish before any later user of the released blocks runs:
// one stream orders them.
void graph_destroy(void* graph, const std::vector<float*>& blocks) {
  AHA_CUDA_CHECK(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph)));
  allocator_release_graph_blocks(blocks);
}

}  // namespace cuda
}  // namespace aha
