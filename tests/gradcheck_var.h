// tests/gradcheck.h for the autograd's Var ops: the analytic gradient comes
// from backward() of L = sum(dy * f(x)), the numeric one from f's forward under
// NoGradGuard. L is formed as the product [1, n] x [n, 1] (matmul), not with
// mul: mul's backward is an exercise (scripts/assignment/exercises.tsv), and
// checking exp or div must not need it. One line per op:
//   check_var_gradients([](const std::vector<Var>& v) { return gelu(v[0]); }, {x});
#pragma once

#include <functional>
#include <vector>

#include "autograd/ops.h"
#include "tests/gradcheck.h"

namespace aha_test {

using VarFunction = std::function<aha::Var(const std::vector<aha::Var>&)>;

// Every input is differentiated (an input the op ignores gets a zero gradient).
inline GradCheck var_grad_check(const VarFunction& f, const std::vector<aha::Tensor>& inputs,
                                const GradCheckOptions& options = {}) {
  auto tensors = [&](const std::vector<Values>& values) {
    std::vector<aha::Tensor> out;
    for (size_t i = 0; i < inputs.size(); ++i) out.push_back(aha::Tensor::from_vector(values[i], inputs[i].shape()));
    return out;
  };
  Forward forward = [&](const std::vector<Values>& values) {
    aha::NoGradGuard no_grad;
    std::vector<aha::Var> vars;
    for (const aha::Tensor& t : tensors(values)) vars.push_back(aha::Var(t));
    return f(vars).value().to_vector();
  };
  Backward backward = [&](const std::vector<Values>& values, const Values& dy) {
    std::vector<aha::Var> vars;
    for (const aha::Tensor& t : tensors(values)) vars.push_back(aha::Var(t, true));
    aha::Var y = f(vars);
    const int64_t n = y.shape().numel();
    const aha::Var dy_column(aha::Tensor::from_vector(dy, aha::Shape{n, 1}));
    aha::Var loss = aha::matmul(aha::reshape(y, aha::Shape{1, n}), dy_column);  // [1, 1]
    loss.backward();
    std::vector<Values> grads;
    for (size_t i = 0; i < vars.size(); ++i)
      grads.push_back(vars[i].grad().defined() ? vars[i].grad().to_vector() : Values(values[i].size(), 0.0f));
    return grads;
  };
  std::vector<Values> values;
  for (const aha::Tensor& t : inputs) values.push_back(t.to_vector());
  return grad_check(forward, backward, values, options);
}

inline void check_var_gradients(const VarFunction& f, const std::vector<aha::Tensor>& inputs,
                                const GradCheckOptions& options = {}) {
  const GradCheck r = var_grad_check(f, inputs, options);
  INFO(r.report);
  CHECK(r.max_error < options.tolerance);
}

}  // namespace aha_test
