// Token ids are stored as floats (tensor/tensor.h). The CPU kernels that index
// by id (embedding, the losses) read them through this one check, so a bad id
// fails the same way everywhere instead of reading out of bounds.
#pragma once

#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>

namespace aha {
namespace cpu {

// The integer value of ids[position], which must be an integer in [0, V).
inline int64_t checked_id(const char* op, float id, int64_t position, int64_t V) {
  if (std::isfinite(id) && id >= 0.0f && id < (float)V && id == std::floor(id)) return (int64_t)id;
  std::ostringstream msg;
  msg << op << ": id " << id << " at position " << position << " is not an integer in [0, "
      << V << ") (V = " << V << ")";
  throw std::runtime_error(msg.str());
}

}  // namespace cpu
}  // namespace aha
