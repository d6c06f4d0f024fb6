// Reverse-mode autograd, micrograd-style.
//
// A Var is a handle to a Node: a value, a gradient, the parents it was computed
// from and a `backward` closure that pushes this node's gradient into its
// parents' (the chain rule for one op). `backward()` on a scalar orders the
// graph topologically once and runs every closure in reverse order.
// The differentiable ops are in autograd/ops.h, each forward beside its backward.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace aha {

struct Node {
  Tensor value;
  Tensor grad;                 // undefined until a gradient reaches this node
  bool requires_grad = false;  // a parameter, or computed from one
  const char* op = "leaf";     // for error messages and debugging
  std::vector<std::shared_ptr<Node>> parents;
  // Reads this node's grad and accumulates into parents' grads. Released
  // (with `parents`) after backward, so saved activations are freed.
  std::function<void(Node& self)> backward;
  bool freed = false;          // backward already ran through this node
};

class Var {
 public:
  Var() = default;
  // A leaf: an input (requires_grad = false) or a parameter (true).
  explicit Var(Tensor value, bool requires_grad = false);

  bool defined() const { return node_ != nullptr; }
  const Tensor& value() const;
  Tensor& value();             // parameters are updated in place by the optimiser
  const Tensor& grad() const;  // undefined if no gradient reached it
  bool requires_grad() const;
  const Shape& shape() const { return value().shape(); }
  Device device() const { return value().device(); }
  const char* op() const;

  // d(this)/d(every leaf with requires_grad), accumulated into their grad.
  // `this` must hold one value. The graph is freed afterwards; a second call
  // through the same graph is an error.
  void backward();
  void zero_grad();            // drop this node's gradient
  Var detach() const;          // same value, cut from the graph

  const std::shared_ptr<Node>& node() const { return node_; }

 private:
  std::shared_ptr<Node> node_;
};

// For op implementations (autograd/ops*.cpp): wrap a forward result. When no
// parent requires grad, or grad is disabled, the result is a plain leaf and
// `backward` is dropped.
Var make_result(Tensor value, const char* op, std::vector<Var> parents,
                std::function<void(Node& self)> backward);
// node.grad += g (allocates on the first gradient).
void accumulate_grad(Node& node, const Tensor& g);
// A closure that passes its dy on unchanged (add, reshape) takes it out of the
// node with this: backward() drops a node's gradient right after its closure
// anyway, and a gradient nothing else holds is accumulated without a copy.
Tensor take_grad(Node& self);

// Gradient recording is on by default; a NoGradGuard turns it off for its
// scope (inference, reference-model forward passes).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace aha
