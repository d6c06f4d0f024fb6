// Tensor: shape, shared storage on a device, factories, copies between devices.
#include "tensor/tensor.h"

#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "tensor/cpu/kernels.h"
#include "tensor/dispatch.h"

namespace aha {

// ---- devices ----

const char* device_name(Device device) { return device == Device::CUDA ? "cuda" : "cpu"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  throw std::runtime_error("unknown device '" + name + "' (expected cpu or cuda)");
}

bool cuda_available() {
#if AHA_CUDA
  static const bool available = cuda::device_count() > 0;
  return available;
#else
  return false;
#endif
}

void require_device(Device device) {
  if (device != Device::CUDA || cuda_available()) return;
#if AHA_CUDA
  throw std::runtime_error("--device cuda was asked for, but no CUDA GPU is usable here");
#else
  throw std::runtime_error(
      "--device cuda was asked for, but this aha was built without CUDA (rebuild with CUDA=1)");
#endif
}

void synchronize(Device device) {
#if AHA_CUDA
  if (device == Device::CUDA) cuda::synchronize();
#endif
  (void)device;
}

// ---- element types ----

const char* dtype_name(DType dtype) { return dtype == DType::BF16 ? "bf16" : "fp32"; }

DType parse_dtype(const std::string& name) {
  if (name == "fp32") return DType::F32;
  if (name == "bf16") return DType::BF16;
  throw std::runtime_error("unknown dtype '" + name + "' (expected fp32 or bf16)");
}

// 32-bit words that hold n elements: bf16 packs two a word.
static int64_t words_for(int64_t n, DType dtype) { return dtype == DType::BF16 ? (n + 1) / 2 : n; }

// ---- shapes ----

Shape::Shape(std::initializer_list<int64_t> sizes) : Shape(std::vector<int64_t>(sizes)) {}

Shape::Shape(const std::vector<int64_t>& sizes) {
  if (sizes.size() > (size_t)kMaxDims)
    throw ShapeError("Shape: at most 4 dims are supported, got " + std::to_string(sizes.size()));
  ndim = (int)sizes.size();
  for (int i = 0; i < ndim; ++i) {
    if (sizes[i] < 0) throw ShapeError("Shape: negative size " + std::to_string(sizes[i]));
    dims[i] = sizes[i];
  }
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= dims[i];
  return n;
}

int64_t Shape::operator[](int i) const {
  int j = i < 0 ? ndim + i : i;
  if (j < 0 || j >= ndim)
    throw ShapeError("Shape" + str() + ": dim " + std::to_string(i) + " out of range");
  return dims[j];
}

Shape Shape::without_last() const {
  if (ndim == 0) throw ShapeError("Shape: a scalar has no last dim");
  Shape s = *this;
  s.ndim -= 1;
  s.dims[s.ndim] = 0;
  return s;
}

Shape Shape::with_last(int64_t size) const {
  Shape s = *this;
  if (s.ndim == 0) {
    s.ndim = 1;
    s.dims[0] = size;
  } else {
    s.dims[s.ndim - 1] = size;
  }
  return s;
}

bool Shape::operator==(const Shape& other) const {
  if (ndim != other.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (dims[i] != other.dims[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

// ---- storage: one allocation on one device, shared by every view of it ----

// The allocators hand out 32-bit words; a bf16 tensor takes half as many.
struct Storage {
  float* data = nullptr;
  int64_t numel = 0;
  Device device = Device::CPU;
  DType dtype = DType::F32;

  Storage(int64_t n, Device dev, DType type) : numel(n), device(dev), dtype(type) {
    require_device(dev);
    const int64_t words = words_for(n, type);
    data = words == 0 ? nullptr : AHA_DISPATCH(dev, alloc(words));
  }
  // A destructor must not throw: free directly on the storage's own backend.
  ~Storage() {
    if (!data) return;
#if AHA_CUDA
    if (device == Device::CUDA) {
      cuda::free(data);
      return;
    }
#endif
    cpu::free(data);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

Tensor::Tensor(std::shared_ptr<Storage> storage, const Shape& shape)
    : storage_(std::move(storage)), shape_(shape) {}

Device Tensor::device() const {
  if (!storage_) throw std::runtime_error("Tensor: use of an undefined tensor");
  return storage_->device;
}

DType Tensor::dtype() const {
  if (!storage_) throw std::runtime_error("Tensor: use of an undefined tensor");
  return storage_->dtype;
}

float* Tensor::words() const {
  if (!storage_) throw std::runtime_error("Tensor: use of an undefined tensor");
  return storage_->data;
}

// The guard of the bf16 path: an op that does not take bf16 reads its inputs
// through data(), so a bf16 tensor reaching it stops here with a clear error
// instead of being read as floats.
static void dtype_error(const Shape& shape, DType has, DType asked) {
  throw std::runtime_error(std::string("Tensor: ") + dtype_name(asked) + " data asked of a " + dtype_name(has) +
                           " tensor " + shape.str() + " (this op takes " + dtype_name(asked) +
                           " tensors only; cast first)");
}

float* Tensor::data() {
  if (dtype() != DType::F32) dtype_error(shape_, dtype(), DType::F32);
  return storage_->data;
}

const float* Tensor::data() const {
  if (dtype() != DType::F32) dtype_error(shape_, dtype(), DType::F32);
  return storage_->data;
}

uint16_t* Tensor::data_bf16() {
  if (dtype() != DType::BF16) dtype_error(shape_, dtype(), DType::BF16);
  return reinterpret_cast<uint16_t*>(storage_->data);
}

const uint16_t* Tensor::data_bf16() const {
  if (dtype() != DType::BF16) dtype_error(shape_, dtype(), DType::BF16);
  return reinterpret_cast<const uint16_t*>(storage_->data);
}

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, Device device, DType dtype) {
  return Tensor(std::make_shared<Storage>(shape.numel(), device, dtype), shape);
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  fill_(t, value);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device, DType dtype) {
  if (dtype == DType::F32) return full(shape, 0.0f, device);
  // bf16 zero is all bits zero: fill the words with float 0.0f (also all zero bits).
  Tensor t = empty(shape, device, dtype);
  const int64_t words = words_for(t.numel(), dtype);
  if (words > 0) AHA_DISPATCH(device, fill(t.words(), words, 0.0f));
  return t;
}
Tensor Tensor::ones(const Shape& shape, Device device) { return full(shape, 1.0f, device); }
Tensor Tensor::scalar(float value, Device device) { return full(Shape{}, value, device); }

Tensor Tensor::arange(int64_t n, Device device) {
  Tensor t = empty(Shape{n}, device);
  AHA_DISPATCH(device, arange(t.data(), n));
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  if ((int64_t)values.size() != shape.numel())
    throw ShapeError("Tensor::from_vector: " + std::to_string(values.size()) +
                     " values do not fill shape " + shape.str());
  Tensor t = empty(shape, Device::CPU);
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  return t.to(device);
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, Device device, float std) {
  Tensor t = empty(shape, device);
  uint64_t first = gen.advance(shape.numel());
  AHA_DISPATCH(device, fill_normal(t.data(), t.numel(), gen.seed(), first, std));
  return t;
}

Tensor Tensor::rand(const Shape& shape, Generator& gen, Device device) {
  Tensor t = empty(shape, device);
  uint64_t first = gen.advance(shape.numel());
  AHA_DISPATCH(device, fill_uniform(t.data(), t.numel(), gen.seed(), first));
  return t;
}

// ---- views and copies ----

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape.numel() != numel())
    throw ShapeError("reshape: cannot view " + shape_.str() + " as " + shape.str() +
                     " (different number of elements)");
  return Tensor(storage_, shape);
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel() != numel())
    throw ShapeError("copy_from: source " + src.shape().str() + " into " + shape_.str());
  if (src.dtype() != dtype())
    throw ShapeError(std::string("copy_from: source is ") + dtype_name(src.dtype()) + ", destination " +
                     dtype_name(dtype()) + " (cast first)");
  if (numel() == 0) return;
  // Whole 32-bit words, whatever the dtype: a bf16 tensor's bytes as they are.
  const int64_t n = words_for(numel(), dtype());
  Device from = src.device(), to = device();
  if (from == Device::CPU && to == Device::CPU) {
    cpu::copy(words(), src.words(), n);
    return;
  }
#if AHA_CUDA
  if (from == Device::CUDA && to == Device::CUDA) cuda::copy(words(), src.words(), n);
  else if (from == Device::CUDA) cuda::copy_to_host(words(), src.words(), n);
  else cuda::copy_from_host(words(), src.words(), n);
#else
  require_device(Device::CUDA);
#endif
}

Tensor Tensor::to(Device device) const {
  if (this->device() == device) return *this;
  Tensor t = empty(shape_, device, dtype());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, device(), dtype());
  t.copy_from(*this);
  return t;
}

// ---- host access ----

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out((size_t)numel());
  if (out.empty()) return out;
  const Tensor host = to(Device::CPU);  // itself when already there
  if (dtype() == DType::BF16) {
    const uint16_t* bits = host.data_bf16();
    for (size_t i = 0; i < out.size(); ++i) out[i] = bf16_widen(bits[i]);
  } else {
    std::memcpy(out.data(), host.data(), out.size() * sizeof(float));
  }
  return out;
}

float Tensor::item() const {
  if (numel() != 1)
    throw ShapeError("item: tensor of shape " + shape_.str() + " is not a single value");
  return to_vector()[0];
}

int64_t Tensor::flat_index(std::initializer_list<int64_t> index) const {
  if ((int)index.size() != ndim())
    throw ShapeError("at: " + std::to_string(index.size()) + " indices for shape " +
                     shape_.str());
  int64_t flat = 0;
  int d = 0;
  for (int64_t i : index) {
    if (i < 0 || i >= shape_.dims[d])
      throw ShapeError("at: index " + std::to_string(i) + " out of range for dim " +
                       std::to_string(d) + " of " + shape_.str());
    flat = flat * shape_.dims[d] + i;
    ++d;
  }
  return flat;
}

float Tensor::at(std::initializer_list<int64_t> index) const {
  int64_t flat = flat_index(index);
  const Tensor host = to(Device::CPU);  // tests only: a full copy is fine
  return dtype() == DType::BF16 ? bf16_widen(host.data_bf16()[flat]) : host.data()[flat];
}

void Tensor::set(std::initializer_list<int64_t> index, float value) {
  int64_t flat = flat_index(index);
  if (device() == Device::CPU) {
    data()[flat] = value;
    return;
  }
#if AHA_CUDA
  cuda::copy_from_host(data() + flat, &value, 1);
#endif
}

std::string Tensor::str() const {
  std::ostringstream os;
  os << "Tensor" << shape_.str() << " " << device_name(device())
     << (dtype() == DType::BF16 ? " bf16" : "") << " [";
  std::vector<float> v = to_vector();
  const size_t shown = 8;
  for (size_t i = 0; i < v.size() && i < shown; ++i) os << (i ? ", " : "") << std::setprecision(5) << v[i];
  if (v.size() > shown) os << ", ... (" << v.size() << " values)";
  os << "]";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace aha
