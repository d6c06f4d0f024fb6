// Elementwise ops and their derivatives. Binary ops broadcast b over a as the
// tensor ops do (b has a's shape, is a vector over a's last dim, or is one
// value); the backward of a broadcast sums the gradient over every place the
// one b value was used.
#include "autograd/ops.h"

namespace aha {
namespace {

// The gradient for b from dy (a's shape), summed back to b's shape:
//   b same shape as a:  db = dy
//   b is [C]:           db[c] = sum over rows of dy[.., c]   (sum_rows)
//   b is one value:     db = sum of all dy, in b's shape ([], [1], [1, 1], ..)
// The cases are tested in the tensor layer's order (same, one value, vector).
Tensor sum_to_shape(const Tensor& dy, const Shape& b_shape) {
  if (dy.shape() == b_shape) return dy;
  if (b_shape.numel() == 1) return sum_all(dy).reshape(b_shape);
  return sum_rows(dy);
}

Tensor one_minus(const Tensor& t) { return add_scalar(mul_scalar(t, -1.0f), 1.0f); }

}  // namespace

// y = a + b:  da = dy,  db = sum_to_shape(dy)
Var add(const Var& a, const Var& b) {
  return make_result(add(a.value(), b.value()), "add", {a, b}, [](Node& self) {
    Node& na = *self.parents[0];
    Node& nb = *self.parents[1];
    const Tensor dy = take_grad(self);
    if (nb.requires_grad) accumulate_grad(nb, sum_to_shape(dy, nb.value.shape()));
    if (na.requires_grad) accumulate_grad(na, dy);  // last: it may keep dy's storage
  });
}

// y = a - b:  da = dy,  db = -sum_to_shape(dy)
Var sub(const Var& a, const Var& b) {
  return make_result(sub(a.value(), b.value()), "sub", {a, b}, [](Node& self) {
    Node& na = *self.parents[0];
    Node& nb = *self.parents[1];
    const Tensor dy = take_grad(self);
    if (nb.requires_grad) accumulate_grad(nb, mul_scalar(sum_to_shape(dy, nb.value.shape()), -1.0f));
    if (na.requires_grad) accumulate_grad(na, dy);  // last: it may keep dy's storage
  });
}

// y = a * b:  da = dy * b,  db = sum_to_shape(dy * a)
Var mul(const Var& a, const Var& b) {
  return make_result(mul(a.value(), b.value()), "mul", {a, b}, [](Node& self) {
    // BEGIN EXERCISE mul_backward: accumulate da and db (as above) into the parents that require grad
    Node& na = *self.parents[0];
    Node& nb = *self.parents[1];
    if (na.requires_grad) accumulate_grad(na, mul(self.grad, nb.value));
    if (nb.requires_grad)
      accumulate_grad(nb, sum_to_shape(mul(self.grad, na.value), nb.value.shape()));
    // END EXERCISE mul_backward
  });
}

// y = a / b:  da = dy / b,  db = sum_to_shape(-dy * a / b^2) = -sum_to_shape(dy * y / b)
Var div(const Var& a, const Var& b) {
  return make_result(div(a.value(), b.value()), "div", {a, b}, [](Node& self) {
    // BEGIN EXERCISE div_backward: accumulate da and db (as above) into the parents that require grad
    Node& na = *self.parents[0];
    Node& nb = *self.parents[1];
    if (na.requires_grad) accumulate_grad(na, div(self.grad, nb.value));
    if (nb.requires_grad) {
      Tensor dy_y_over_b = div(mul(self.grad, self.value), nb.value);
      accumulate_grad(nb, mul_scalar(sum_to_shape(dy_y_over_b, nb.value.shape()), -1.0f));
    }
    // END EXERCISE div_backward
  });
}

// y = min(a, b):  da = dy where a <= b,  db = dy where a > b  (a tie goes to a,
// so the two gradients always add up to dy)
Var minimum(const Var& a, const Var& b) {
  return make_result(minimum(a.value(), b.value()), "minimum", {a, b}, [](Node& self) {
    Node& na = *self.parents[0];
    Node& nb = *self.parents[1];
    Tensor a_is_min = greater_equal(nb.value, na.value);  // 1 where a <= b
    Tensor da = mul(self.grad, a_is_min);
    if (na.requires_grad) accumulate_grad(na, da);
    if (nb.requires_grad) accumulate_grad(nb, sub(self.grad, da));
  });
}

// y = a + s:  da = dy
Var add_scalar(const Var& a, float s) {
  return make_result(add_scalar(a.value(), s), "add_scalar", {a}, [](Node& self) {
    accumulate_grad(*self.parents[0], self.grad);
  });
}

// y = s a:  da = s dy
Var mul_scalar(const Var& a, float s) {
  return make_result(mul_scalar(a.value(), s), "mul_scalar", {a}, [s](Node& self) {
    accumulate_grad(*self.parents[0], mul_scalar(self.grad, s));
  });
}

// y = -a:  da = -dy
Var neg(const Var& a) {
  return make_result(mul_scalar(a.value(), -1.0f), "neg", {a}, [](Node& self) {
    accumulate_grad(*self.parents[0], mul_scalar(self.grad, -1.0f));
  });
}

// y = clamp(a, lo, hi):  da = dy where lo <= a <= hi, else 0 (the clipped
// values do not move with a). PPO/GRPO's ratio clip relies on this zero.
Var clamp(const Var& a, float lo, float hi) {
  return make_result(clamp(a.value(), lo, hi), "clamp", {a}, [lo, hi](Node& self) {
    Node& na = *self.parents[0];
    accumulate_grad(na, mul(self.grad, clamp_mask(na.value, lo, hi)));
  });
}

// y = e^a:  da = dy * e^a = dy * y
Var exp(const Var& a) {
  return make_result(exp(a.value()), "exp", {a}, [](Node& self) {
    // BEGIN EXERCISE exp_backward: accumulate da = dy * y into the parent (y = e^a is the node's value)
    accumulate_grad(*self.parents[0], mul(self.grad, self.value));
    // END EXERCISE exp_backward
  });
}

// y = ln a:  da = dy / a
Var log(const Var& a) {
  return make_result(log(a.value()), "log", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    accumulate_grad(na, div(self.grad, na.value));
  });
}

// y = tanh a:  da = dy * (1 - y^2)
Var tanh(const Var& a) {
  return make_result(tanh(a.value()), "tanh", {a}, [](Node& self) {
    accumulate_grad(*self.parents[0], mul(self.grad, one_minus(mul(self.value, self.value))));
  });
}

// y = sqrt a:  da = dy / (2 y)
Var sqrt(const Var& a) {
  return make_result(sqrt(a.value()), "sqrt", {a}, [](Node& self) {
    accumulate_grad(*self.parents[0], div(self.grad, mul_scalar(self.value, 2.0f)));
  });
}

// y = max(a, 0):  da = dy where a > 0, else 0
Var relu(const Var& a) {
  return make_result(relu(a.value()), "relu", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    accumulate_grad(na, relu_backward(na.value, self.grad));
  });
}

// y = gelu(a), tanh form (GPT-2): y = a/2 (1 + tanh(u)), u = sqrt(2/pi) (a + 0.044715 a^3)
//   da = dy * [ (1 + tanh u)/2 + a/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 a^2) ]
// (computed by the tensor kernel gelu_backward)
Var gelu(const Var& a) {
  return make_result(gelu(a.value()), "gelu", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    accumulate_grad(na, gelu_backward(na.value, self.grad));
  });
}

}  // namespace aha
