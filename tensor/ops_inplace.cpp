// The in-place ops and the multi-tensor optimiser ops. Shape checks and
// backend dispatch; the arithmetic is in tensor/cpu/optim.cpp (and elementwise.cpp)
// and their tensor/cuda/ siblings.
#include <string>
#include <utility>
#include <vector>

#include "tensor/ops_checks.h"

namespace aha {

// ---- in place ----

void fill_(Tensor& a, float value) {
  check_defined("fill_", a);
  if (a.numel() > 0) AHA_DISPATCH(a.device(), fill(a.data(), a.numel(), value));
}

void axpy_(Tensor& a, float alpha, const Tensor& b) {
  Device dev = same_device("axpy_", a, b);
  if (a.numel() != b.numel()) shape_error("axpy_", "sizes differ: " + shapes(a, b));
  AHA_DISPATCH(dev, axpy(a.data(), b.data(), a.numel(), alpha));
}

void add_(Tensor& a, const Tensor& b) {
  Device dev = same_device("add_", a, b);
  if (a.numel() != b.numel()) shape_error("add_", "sizes differ: " + shapes(a, b));
  if (a.dtype() != b.dtype())
    shape_error("add_", std::string("dtypes differ: ") + dtype_name(a.dtype()) + " += " + dtype_name(b.dtype()));
  if (a.dtype() == DType::BF16) AHA_DISPATCH(dev, add_bf16_(a.data_bf16(), b.data_bf16(), a.numel()));
  else AHA_DISPATCH(dev, axpy(a.data(), b.data(), a.numel(), 1.0f));
}

void mul_scalar_(Tensor& a, float s) {
  check_defined("mul_scalar_", a);
  AHA_DISPATCH(a.device(), affine(a.data(), a.data(), a.numel(), s, 0.0f));
}

void adamw_step_(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& hp) {
  const char* op = "adamw_step_";
  Device dev = same_device(op, param, grad);
  same_device(op, param, m);
  same_device(op, param, v);
  check_same_shape(op, param, grad);
  check_same_shape(op, param, m);
  check_same_shape(op, param, v);
  if (hp.step < 1) shape_error(op, "step must be >= 1 (bias correction), got " + std::to_string(hp.step));
  AHA_DISPATCH(dev, adamw(param.data(), grad.data(), m.data(), v.data(), param.numel(), hp));
}

// ---- multi-tensor optimiser ops ----

// Every tensor defined, float32 and on `dev`; returns their pointers and sizes.
static std::vector<float*> list_data(const char* op, const std::vector<Tensor>& tensors, Device dev,
                                     std::vector<int64_t>& sizes) {
  std::vector<float*> data;
  sizes.clear();
  for (const Tensor& t : tensors) {
    check_defined(op, t);
    if (t.device() != dev) shape_error(op, "tensors on different devices");
    data.push_back(const_cast<Tensor&>(t).data());  // the op says whether it writes
    sizes.push_back(t.numel());
  }
  return data;
}

Tensor sum_squares_all(const std::vector<Tensor>& tensors) {
  const char* op = "sum_squares_all";
  if (tensors.empty()) shape_error(op, "no tensors");
  const Device dev = tensors[0].device();
  std::vector<int64_t> sizes;
  const std::vector<float*> data = list_data(op, tensors, dev, sizes);
  Tensor out = Tensor::empty(Shape{}, dev);
  AHA_DISPATCH(dev, sum_squares_list(std::vector<const float*>(data.begin(), data.end()), sizes, out.data()));
  return out;
}

void mul_scalar_all_(const std::vector<Tensor>& tensors, float s) {
  if (tensors.empty()) return;
  const Device dev = tensors[0].device();
  std::vector<int64_t> sizes;
  const std::vector<float*> data = list_data("mul_scalar_all_", tensors, dev, sizes);
  AHA_DISPATCH(dev, scale_list(data, sizes, s));
}

void adamw_step_all_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     const std::vector<Tensor>& m, const std::vector<Tensor>& v,
                     const std::vector<float>& weight_decay, const AdamWParams& hp) {
  const char* op = "adamw_step_all_";
  const size_t n = params.size();
  if (grads.size() != n || m.size() != n || v.size() != n || weight_decay.size() != n)
    shape_error(op, "the lists of params, grads, m, v and weight decays differ in length");
  if (hp.step < 1) shape_error(op, "step must be >= 1 (bias correction), got " + std::to_string(hp.step));
  if (n == 0) return;
  const Device dev = params[0].device();
  std::vector<int64_t> sizes;
  const std::vector<float*> p = list_data(op, params, dev, sizes), g = list_data(op, grads, dev, sizes),
                            mm = list_data(op, m, dev, sizes), vv = list_data(op, v, dev, sizes);
  std::vector<AdamWSlot> slots;
  for (size_t i = 0; i < n; ++i) {
    check_same_shape(op, params[i], grads[i]);
    check_same_shape(op, params[i], m[i]);
    check_same_shape(op, params[i], v[i]);
    slots.push_back({p[i], g[i], mm[i], vv[i], params[i].numel(), weight_decay[i]});
  }
  AHA_DISPATCH(dev, adamw_list(slots, hp));
}

}  // namespace aha
