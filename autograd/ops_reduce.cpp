// Reductions and their backward: every input element that went into a sum
// gets the sum's gradient, once (divided by the count for a mean).
#include "autograd/ops.h"

namespace aha {
namespace {
// dy of shape [] spread over every element of `shape`, times `scale`; stays on
// the device (no host read of dy).
Tensor spread_scalar(const Tensor& dy, const Shape& shape, float scale) {
  Tensor spread = expand_last(dy.reshape(Shape{}), shape.numel()).reshape(shape);
  return scale == 1.0f ? spread : mul_scalar(spread, scale);
}
}  // namespace

// y[..] = sum_c a[.., c]:  da[.., c] = dy[..]
Var sum_last(const Var& a) {
  return make_result(sum_last(a.value()), "sum_last", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    accumulate_grad(na, expand_last(self.grad, na.value.shape().last()));
  });
}

// y[..] = (1/C) sum_c a[.., c]:  da[.., c] = dy[..] / C
Var mean_last(const Var& a) {
  return make_result(mean_last(a.value()), "mean_last", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    int64_t C = na.value.shape().last();
    accumulate_grad(na, mul_scalar(expand_last(self.grad, C), 1.0f / (float)C));
  });
}

// y = sum_i a_i:  da_i = dy
Var sum_all(const Var& a) {
  return make_result(sum_all(a.value()), "sum_all", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    accumulate_grad(na, spread_scalar(self.grad, na.value.shape(), 1.0f));
  });
}

// y = (1/n) sum_i a_i:  da_i = dy / n
Var mean_all(const Var& a) {
  return make_result(mean_all(a.value()), "mean_all", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    int64_t n = na.value.numel();
    accumulate_grad(na, spread_scalar(self.grad, na.value.shape(), n > 0 ? 1.0f / (float)n : 0.0f));
  });
}

}  // namespace aha
