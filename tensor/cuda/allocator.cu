// Device memory: the caching allocator (allocator.h says how it works), the
// copies between host and device, and the device count. Mirrors
// tensor/cpu/memory.cpp.
#include "tensor/cuda/allocator.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tensor/cuda/check.h"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

constexpr int64_t kSmallRounding = 512;         // bytes; also keeps every block 512-aligned
constexpr int64_t kLargeThreshold = 1 << 20;    // 1 MiB: above it, classes grow with the size
constexpr int kClassesPerDoubling = 4;          // above 1 MiB: 4 classes per power of two

struct CachingAllocator {
  std::mutex mutex;
  std::unordered_map<int64_t, std::vector<void*>> free_blocks;  // size class -> cached blocks
  std::unordered_map<void*, int64_t> live_blocks;               // pointer -> its size class
  AllocatorStats stats;
  bool capturing = false;
  std::vector<float*> captured;                 // blocks handed out during the capture
  std::unordered_set<void*> graph_owned;        // blocks a live graph may write
  std::unordered_map<void*, int64_t> held_back; // graph-owned blocks already freed -> size class

  // cudaFree every cached block. The device must be idle: a cached block may
  // still be read by queued kernels until the stream drains.
  void release_cache_locked() {
    AHA_CUDA_CHECK(cudaStreamSynchronize(stream()));
    for (auto& entry : free_blocks)
      for (void* p : entry.second) AHA_CUDA_CHECK(cudaFree(p));
    free_blocks.clear();
    stats.bytes_cached = 0;
  }
};

// Never destroyed: tensors held in static objects may be freed during program
// exit, after the CUDA runtime is gone; the driver reclaims the memory anyway.
CachingAllocator& allocator() {
  static CachingAllocator* the_allocator = new CachingAllocator();
  return *the_allocator;
}

int64_t round_up(int64_t bytes, int64_t multiple) {
  return (bytes + multiple - 1) / multiple * multiple;
}

}  // namespace

int64_t allocator_round_size(int64_t bytes) {
  if (bytes <= kLargeThreshold) return round_up(std::max<int64_t>(bytes, 1), kSmallRounding);
  int64_t power = kLargeThreshold;
  while (power * 2 <= bytes) power *= 2;
  return round_up(bytes, power / kClassesPerDoubling);
}

float* alloc(int64_t n) {
  if (n < 0) throw std::runtime_error("cuda::alloc: negative size " + std::to_string(n));
  int64_t size = allocator_round_size(n * (int64_t)sizeof(float));
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  void* p = nullptr;
  auto cached = a.free_blocks.find(size);
  if (cached != a.free_blocks.end() && !cached->second.empty()) {
    // Safe without a sync: the block's last users were queued on the one stream,
    // so whatever the new owner queues runs after them.
    p = cached->second.back();
    cached->second.pop_back();
    a.stats.bytes_cached -= size;
  } else {
    cudaError_t status = cudaMalloc(&p, (size_t)size);
    if (status == cudaErrorMemoryAllocation && !a.capturing) {
      // Out of memory: give the cached blocks of other sizes back and retry once.
      // Not during a graph capture, where the device sync this needs is illegal:
      // then the error goes up, and graph_capture releases the cache and retries.
      (void)cudaGetLastError();
      a.release_cache_locked();
      status = cudaMalloc(&p, (size_t)size);
    }
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      throw std::runtime_error("cuda::alloc: cudaMalloc of " + std::to_string(size) + " bytes (" +
                               std::to_string(n) + " floats) failed: " + cudaGetErrorString(status) +
                               "; " + std::to_string(a.stats.bytes_in_use) + " bytes in use");
    }
    ++a.stats.cuda_malloc_calls;
  }
  a.live_blocks[p] = size;
  if (a.capturing) {
    a.captured.push_back(static_cast<float*>(p));
    a.graph_owned.insert(p);
  }
  a.stats.bytes_in_use += size;
  a.stats.peak_bytes_in_use = std::max(a.stats.peak_bytes_in_use, a.stats.bytes_in_use);
  return static_cast<float*>(p);
}

void free(float* p) {
  if (p == nullptr) return;
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  auto live = a.live_blocks.find(p);
  if (live == a.live_blocks.end())
    throw std::runtime_error("cuda::free: pointer was not allocated by cuda::alloc (or freed twice)");
  int64_t size = live->second;
  a.live_blocks.erase(live);
  a.stats.bytes_in_use -= size;
  if (a.graph_owned.count(p)) {
    a.held_back[p] = size;  // a graph may still write it: reused once the graph is released
    return;
  }
  a.free_blocks[size].push_back(p);
  a.stats.bytes_cached += size;
}

void allocator_begin_graph_capture() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  if (a.capturing) throw std::runtime_error("cuda allocator: a graph capture is already under way");
  a.capturing = true;
  a.captured.clear();
}

std::vector<float*> allocator_end_graph_capture() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.capturing = false;
  return std::move(a.captured);
}

void allocator_release_graph_blocks(const std::vector<float*>& blocks) {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  for (float* p : blocks) {
    a.graph_owned.erase(p);
    auto held = a.held_back.find(p);
    if (held == a.held_back.end()) continue;  // still a live tensor's: its free() will cache it
    a.free_blocks[held->second].push_back(p);
    a.stats.bytes_cached += held->second;
    a.held_back.erase(held);
  }
}

AllocatorStats allocator_stats() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.stats;
}

void allocator_reset_peak() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.stats.peak_bytes_in_use = a.stats.bytes_in_use;
}

void allocator_release_cache() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.release_cache_locked();
}

int device_count() {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear it: "no GPU" is an answer here, not a failure
    return 0;
  }
  return count;
}

void copy(float* dst, const float* src, int64_t n) {
  if (n <= 0 || dst == src) return;
  AHA_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)n * sizeof(float), cudaMemcpyDeviceToDevice,
                                 stream()));
}

void copy_to_host(float* host_dst, const float* src, int64_t n) {
  if (n <= 0) return;
  AHA_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, (size_t)n * sizeof(float),
                                 cudaMemcpyDeviceToHost, stream()));
  AHA_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_from_host(float* dst, const float* host_src, int64_t n) {
  if (n <= 0) return;
  // The source is pageable host memory the caller may reuse as soon as we
  // return, so wait for the copy to finish.
  AHA_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, (size_t)n * sizeof(float),
                                 cudaMemcpyHostToDevice, stream()));
  AHA_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void synchronize() { AHA_CUDA_CHECK(cudaStreamSynchronize(stream())); }

}  // namespace cuda
}  // namespace aha
