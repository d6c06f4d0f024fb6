// The optimiser's elementwise kernels: axpy (gradient accumulation) and AdamW,
// and their multi-tensor forms for clipping and stepping a whole model.
// Mirrors tensor/cpu/optim.cpp.
#include <cmath>

#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// a[i] += alpha * b[i]. Grid-stride loop; reads a and b once, writes a once.
__global__ void axpy_kernel(float* a, const float* b, long long n, float alpha) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    a[i] += alpha * b[i];
}

// One AdamW step per element (the equations are above adamw() below).
// Grid-stride loop; reads param, grad, m, v once and writes param, m, v once:
// 28 bytes per parameter, all coalesced.
__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, long long n,
                             float lr, float beta1, float beta2, float eps, float weight_decay,
                             float correction1, float correction2) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    float g = grad[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float m_hat = mi / correction1;
    float v_hat = vi / correction2;
    param[i] -= lr * (m_hat / (sqrtf(v_hat) + eps) + weight_decay * param[i]);
  }
}

}  // namespace

void axpy(float* a, const float* b, int64_t n, float alpha) {
  if (n <= 0) return;
  axpy_kernel<<<grid_for(n), kThreads, 0, stream()>>>(a, b, n, alpha);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// One AdamW step (Loshchilov & Hutter 2019, decoupled weight decay), t = hp.step:
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= lr * ( (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd p )
// The bias corrections are computed once on the host, in double, as on the CPU.
void adamw(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWParams& hp) {
  if (n <= 0) return;
  float correction1 = (float)(1.0 - std::pow((double)hp.beta1, (double)hp.step));
  float correction2 = (float)(1.0 - std::pow((double)hp.beta2, (double)hp.step));
  adamw_kernel<<<grid_for(n), kThreads, 0, stream()>>>(param, grad, m, v, n, hp.lr, hp.beta1,
                                                       hp.beta2, hp.eps, hp.weight_decay,
                                                       correction1, correction2);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// ---- multi-tensor kernels ----
//
// A model's ~100 parameter tensors are each too small to fill the GPU, and one
// launch per tensor costs more than its work. Instead one launch covers up to
// kListMax tensors: tensor t is cut into chunks of kChunk elements and gets
// blocks first[t] .. first[t+1] - 1, one chunk each. The list travels in the
// kernel's parameters (under the 4 KB limit), so nothing is copied first.

namespace {

constexpr int kListMax = 48;         // tensors per launch: 48 AdamW slots are ~2.3 KB of parameters
constexpr int kChunk = 8 * kThreads; // elements per block: 8 per thread

template <typename Slot>
struct SlotList {
  Slot slot[kListMax];
  int first[kListMax + 1];  // first[t]: tensor t's first block; first[count]: the launch's blocks
  int count;
};

// The tensor this block works on (a linear scan: count <= 48).
template <typename Slot>
__device__ __forceinline__ int slot_of(const SlotList<Slot>& list) {
  int t = 0;
  while (t + 1 < list.count && list.first[t + 1] <= (int)blockIdx.x) ++t;
  return t;
}

template <typename T>
struct Span {  // one tensor of a list: its elements and their count
  T* a;
  long long n;
};

// The elements [begin, end) of this block's chunk of tensor t.
template <typename Slot>
__device__ __forceinline__ void chunk_range(const SlotList<Slot>& list, int t, long long n, long long& begin,
                                            long long& end) {
  begin = (long long)(blockIdx.x - list.first[t]) * kChunk;
  end = min(n, begin + kChunk);
}

// partial[block_offset + b] = sum of squares of block b's chunk.
__global__ void sum_squares_list_kernel(SlotList<Span<const float>> list, float* partial, int block_offset) {
  const int t = slot_of(list);
  long long begin, end;
  chunk_range(list, t, list.slot[t].n, begin, end);
  float acc = 0.0f;
  for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) acc += list.slot[t].a[i] * list.slot[t].a[i];
  acc = block_reduce(acc, SumOp{}, 0.0f);
  if (threadIdx.x == 0) partial[block_offset + blockIdx.x] = acc;
}

// out[0] = the sum of the n partials, in double, in one fixed order: one block.
__global__ void sum_partials_kernel(const float* partial, int n, float* out) {
  double acc = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc += partial[i];
  acc = block_reduce(acc, SumOp{}, 0.0);
  if (threadIdx.x == 0) out[0] = (float)acc;
}

__global__ void scale_list_kernel(SlotList<Span<float>> list, float s) {
  const int t = slot_of(list);
  long long begin, end;
  chunk_range(list, t, list.slot[t].n, begin, end);
  for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) list.slot[t].a[i] *= s;
}

// adamw_kernel's arithmetic, element for element, over this block's chunk.
__global__ void adamw_list_kernel(SlotList<AdamWSlot> list, float lr, float beta1, float beta2, float eps,
                                  float correction1, float correction2) {
  const int t = slot_of(list);
  const AdamWSlot& p = list.slot[t];
  long long begin, end;
  chunk_range(list, t, p.n, begin, end);
  for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float g = p.grad[i];
    float mi = beta1 * p.m[i] + (1.0f - beta1) * g;
    float vi = beta2 * p.v[i] + (1.0f - beta2) * g * g;
    p.m[i] = mi;
    p.v[i] = vi;
    float m_hat = mi / correction1;
    float v_hat = vi / correction2;
    p.param[i] -= lr * (m_hat / (sqrtf(v_hat) + eps) + p.weight_decay * p.param[i]);
  }
}

// Runs `launch(list, blocks, block_offset)` for each run of up to kListMax
// tensors; empty tensors are skipped. Returns the blocks of all launches.
template <typename Slot, typename Launch>
int for_each_list(const std::vector<Slot>& slots, const std::vector<int64_t>& sizes, Launch launch) {
  int total = 0;
  SlotList<Slot> list{};
  auto flush = [&] {
    if (list.count == 0) return;
    const int blocks = list.first[list.count];
    launch(list, blocks, total);
    AHA_CUDA_CHECK(cudaGetLastError());
    total += blocks;
    list.count = 0;
  };
  for (size_t t = 0; t < slots.size(); ++t) {
    if (sizes[t] <= 0) continue;
    if (list.count == kListMax) flush();
    if (list.count == 0) list.first[0] = 0;
    list.slot[list.count] = slots[t];
    list.first[list.count + 1] = list.first[list.count] + (int)((sizes[t] + kChunk - 1) / kChunk);
    ++list.count;
  }
  flush();
  return total;
}

// The number of blocks for_each_list will launch over these sizes.
int list_blocks(const std::vector<int64_t>& sizes) {
  long long blocks = 0;
  for (int64_t n : sizes) blocks += n > 0 ? (n + kChunk - 1) / kChunk : 0;
  return (int)blocks;
}

template <typename T>
std::vector<Span<T>> spans(const std::vector<T*>& tensors, const std::vector<int64_t>& sizes) {
  std::vector<Span<T>> out;
  for (size_t t = 0; t < tensors.size(); ++t) out.push_back({tensors[t], sizes[t]});
  return out;
}

}  // namespace

// Stage 1: one partial per block; stage 2: one block adds the partials in
// order. The partials live in a temporary from the caching allocator.
void sum_squares_list(const std::vector<const float*>& tensors, const std::vector<int64_t>& sizes, float* out) {
  const int blocks = list_blocks(sizes);
  if (blocks == 0) {
    fill(out, 1, 0.0f);
    return;
  }
  float* partial = alloc(blocks);
  for_each_list(spans(tensors, sizes), sizes, [&](const SlotList<Span<const float>>& list, int n, int offset) {
    sum_squares_list_kernel<<<n, kThreads, 0, stream()>>>(list, partial, offset);
  });
  sum_partials_kernel<<<1, 1024, 0, stream()>>>(partial, blocks, out);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(partial);
}

void scale_list(const std::vector<float*>& tensors, const std::vector<int64_t>& sizes, float s) {
  for_each_list(spans(tensors, sizes), sizes, [&](const SlotList<Span<float>>& list, int n, int) {
    scale_list_kernel<<<n, kThreads, 0, stream()>>>(list, s);
  });
}

void adamw_list(const std::vector<AdamWSlot>& slots, const AdamWParams& hp) {
  const float correction1 = (float)(1.0 - std::pow((double)hp.beta1, (double)hp.step));
  const float correction2 = (float)(1.0 - std::pow((double)hp.beta2, (double)hp.step));
  std::vector<int64_t> sizes;
  for (const AdamWSlot& slot : slots) sizes.push_back(slot.n);
  for_each_list(slots, sizes, [&](const SlotList<AdamWSlot>& list, int n, int) {
    adamw_list_kernel<<<n, kThreads, 0, stream()>>>(list, hp.lr, hp.beta1, hp.beta2, hp.eps, correction1,
                                                    correction2);
  });
}

}  // namespace cuda
}  // namespace aha
