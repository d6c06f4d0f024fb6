// The one header a user of the tensor layer needs.
//
// A Tensor is a shape (up to 4 dims) over contiguous, row-major storage that
// lives on one Device. Storage is shared by reference: copying a Tensor or
// reshaping it gives a view of the same numbers; `clone()` copies them.
// Elements are float32 (docs/ARCHITECTURE.md), or bf16 on the mixed-precision
// training path only (DType). Integer data (token ids, targets) is stored as floats:
// exact for ids < 2^24.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/dtype.h"  // DType: float32, or bf16 on the mixed-precision path

namespace aha {

enum class Device { CPU, CUDA };

const char* device_name(Device device);           // "cpu" / "cuda"
Device parse_device(const std::string& name);     // throws on anything else
// True when the CUDA backend was built in and a GPU answers. Any CUDA error
// (no driver, no device) counts as "no GPU".
bool cuda_available();
// Throws a clear error when `device` is CUDA and no GPU can be used.
void require_device(Device device);
// Waits until everything queued on `device` has run (CPU work runs at once:
// a no-op there). For timing; the ops themselves never need it.
void synchronize(Device device);

struct Shape {
  static constexpr int kMaxDims = 4;
  int ndim = 0;                       // 0 = a scalar with one element
  int64_t dims[kMaxDims] = {0, 0, 0, 0};

  Shape() = default;
  Shape(std::initializer_list<int64_t> sizes);
  explicit Shape(const std::vector<int64_t>& sizes);

  int64_t numel() const;
  int64_t operator[](int i) const;    // i < 0 counts from the end
  int64_t last() const { return ndim == 0 ? 1 : dims[ndim - 1]; }
  int64_t rows() const { return last() == 0 ? 0 : numel() / last(); }  // product of all dims but the last
  Shape without_last() const;         // [.., C] -> [..]
  Shape with_last(int64_t size) const;  // [.., C] -> [.., size]
  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }
  std::string str() const;            // "[2, 3]"
};

// Shape and argument errors. The message names the op and the shapes involved.
struct ShapeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Generator;
struct Storage;

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage

  static Tensor empty(const Shape& shape, Device device = Device::CPU,
                      DType dtype = DType::F32);  // uninitialised
  static Tensor zeros(const Shape& shape, Device device = Device::CPU, DType dtype = DType::F32);
  static Tensor ones(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value, Device device = Device::CPU);
  static Tensor arange(int64_t n, Device device = Device::CPU);  // 0, 1, .., n-1 as [n]
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            Device device = Device::CPU);
  static Tensor scalar(float value, Device device = Device::CPU);  // shape []
  // Random tensors from a counter-based generator: the same seed gives the same
  // numbers on CPU and CUDA.
  static Tensor randn(const Shape& shape, Generator& gen, Device device = Device::CPU,
                      float std = 1.0f);
  static Tensor rand(const Shape& shape, Generator& gen, Device device = Device::CPU);  // U[0,1)

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim; }
  int64_t size(int i) const { return shape_[i]; }
  int64_t numel() const { return shape_.numel(); }
  Device device() const;
  DType dtype() const;

  // Raw pointer to the first element, on the tensor's device. data() is for
  // float32 tensors and throws on a bf16 one (an op that does not take bf16);
  // data_bf16() is for bf16 tensors (the bits, 2 bytes an element).
  float* data();
  const float* data() const;
  uint16_t* data_bf16();
  const uint16_t* data_bf16() const;

  Tensor to(Device device) const;              // a copy on `device` (itself if already there)
  Tensor reshape(const Shape& shape) const;    // a view: same storage, same numel
  Tensor clone() const;                        // a copy on the same device
  void copy_from(const Tensor& src);           // same numel and dtype, any devices
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }
  // No other Tensor (a view included) holds this storage, so whoever holds this
  // one may keep it and later write it in place: autograd takes a fresh
  // gradient this way instead of copying it.
  bool sole_owner() const { return storage_ != nullptr && storage_.use_count() == 1; }

  // Host access for tests and small values (a device sync for CUDA tensors).
  // Reads widen bf16 values to float exactly; set() is for float32 tensors.
  float item() const;                                   // numel must be 1
  float at(std::initializer_list<int64_t> index) const;
  void set(std::initializer_list<int64_t> index, float value);
  std::vector<float> to_vector() const;
  std::string str() const;

 private:
  Tensor(std::shared_ptr<Storage> storage, const Shape& shape);
  int64_t flat_index(std::initializer_list<int64_t> index) const;
  float* words() const;  // the storage as 32-bit words, whatever the dtype (copies)
  std::shared_ptr<Storage> storage_;
  Shape shape_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::ostream& operator<<(std::ostream& os, const Shape& s);

}  // namespace aha

#include "tensor/ops.h"
#include "tensor/random.h"
