// Where a step's time goes, op by op: `aha bench model --profile`.
//
// While an OpProfile records, every autograd op is timed: its forward from the
// previous mark to its own make_result(), its backward around its closure.
// At each mark the device is synchronised, so the GPU time of the kernels an
// op queued lands on that op. The marks add up to the wall time of the step,
// which runs slower for the syncs (microseconds an op): rank the ops with it,
// and take the speed itself from the plain timings.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace aha {

struct OpTime {
  std::string name;  // the op ("matmul"), its backward ("matmul backward"), or a named region
  int64_t calls = 0;
  double ms = 0;
};

// Records on the thread that made it, for its lifetime; one at a time.
class OpProfile {
 public:
  explicit OpProfile(Device device);
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  std::vector<OpTime> times() const;  // largest first
  void mark(const std::string& name);

 private:
  Device device_;
  std::chrono::steady_clock::time_point last_;
  std::map<std::string, OpTime> times_;
};

// Charges the time since the last mark to `name` when an OpProfile records on
// this thread; does nothing (not even a sync) otherwise.
void profile_mark(const char* name, const char* suffix = "");

}  // namespace aha
