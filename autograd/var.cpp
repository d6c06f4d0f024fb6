// The graph and backward(): micrograd's algorithm on tensors.
//
// Forward: every op wraps its result with make_result(), which links the new
// node to its parents and stores the op's backward closure.
// Backward: order the nodes that lead to the loss so that every node comes
// after all of its parents (a topological order), then walk that order in
// reverse, so a node's gradient is complete (every child has pushed into it)
// before its own closure pushes it on to its parents.
#include <string>
#include <unordered_set>
#include <utility>

#include "autograd/var.h"

#include "autograd/profile.h"

namespace aha {
namespace {

// The one global of the autograd: whether ops record a graph. Thread-local so a
// no-grad scope on one thread does not change another's training step.
thread_local bool t_grad_enabled = true;

[[noreturn]] void undefined_var(const char* what) {
  throw std::runtime_error(std::string("Var::") + what +
                           ": use of an undefined Var (default-constructed)");
}

std::string freed_error(const Node& node) {
  return std::string("backward through a graph that was already freed: backward() already ran "
                     "through this node and released its saved tensors (op '") +
         node.op + "', value " + node.value.shape().str() +
         "); compute the forward again to get a new graph";
}

// Every node the root depends on through nodes that require grad, parents
// before children. Iterative depth-first search with an explicit stack, so a
// long chain (a deep model, a long loop) cannot overflow the call stack.
// The order owns its nodes: backward() unlinks parents as it goes, and a node
// must outlive that until its own turn comes.
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> visited;
  // (node, index of the next parent to visit)
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack;
  stack.push_back({root, 0});
  visited.insert(root.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->parents.size()) {
      std::shared_ptr<Node> parent = node->parents[next++];
      if (!parent->requires_grad || visited.count(parent.get())) continue;
      if (parent->freed) throw std::runtime_error(freed_error(*parent));
      visited.insert(parent.get());
      stack.push_back({parent, 0});  // invalidates `node` and `next`: loop again
    } else {
      order.push_back(node);  // all its parents are already in `order`
      stack.pop_back();
    }
  }
  return order;
}

}  // namespace

bool grad_enabled() { return t_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

Var::Var(Tensor value, bool requires_grad) : node_(std::make_shared<Node>()) {
  if (!value.defined()) throw std::runtime_error("Var: cannot wrap an undefined tensor");
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

const Tensor& Var::value() const {
  if (!node_) undefined_var("value");
  return node_->value;
}

Tensor& Var::value() {
  if (!node_) undefined_var("value");
  return node_->value;
}

const Tensor& Var::grad() const {
  if (!node_) undefined_var("grad");
  return node_->grad;
}

bool Var::requires_grad() const { return node_ && node_->requires_grad; }

const char* Var::op() const {
  if (!node_) undefined_var("op");
  return node_->op;
}

Var make_result(Tensor value, const char* op, std::vector<Var> parents,
                std::function<void(Node& self)> backward) {
  profile_mark(op);  // the op's forward has been queued: charge it (when profiling)
  bool any_parent_requires_grad = false;
  for (const Var& p : parents) {
    if (!p.defined())
      throw std::runtime_error(std::string("autograd op '") + op + "': an input Var is undefined");
    any_parent_requires_grad = any_parent_requires_grad || p.requires_grad();
  }
  Var result(std::move(value), false);
  Node& node = *result.node();
  node.op = op;
  // No graph when nothing upstream wants a gradient: inference and frozen
  // models keep no activations alive.
  if (!grad_enabled() || !any_parent_requires_grad) return result;
  node.requires_grad = true;
  node.parents.reserve(parents.size());
  for (const Var& p : parents) node.parents.push_back(p.node());
  node.backward = std::move(backward);
  return result;
}

void accumulate_grad(Node& node, const Tensor& g) {
  if (g.shape() != node.value.shape())
    throw std::runtime_error(std::string("accumulate_grad: gradient ") + g.shape().str() +
                             " does not match the value " + node.value.shape().str() + " of op '" +
                             node.op + "'");
  if (g.dtype() != node.value.dtype())
    throw std::runtime_error(std::string("accumulate_grad: ") + dtype_name(g.dtype()) + " gradient for the " +
                             dtype_name(node.value.dtype()) + " value of op '" + node.op +
                             "' (a gradient has its value's dtype)");
  // The first gradient is kept as it is when nothing else holds it (a fresh
  // result, the common case); otherwise it is copied: `g` may be a tensor
  // another node also holds (add passes dy to both inputs, reshape a view of
  // it), and later accumulation into node.grad must not write through to it.
  if (!node.grad.defined()) node.grad = g.sole_owner() ? g : g.clone();
  else add_(node.grad, g);
}

Tensor take_grad(Node& self) {
  Tensor dy = std::move(self.grad);
  self.grad = Tensor();
  return dy;
}

void Var::backward() {
  if (!node_) undefined_var("backward");
  Node& root = *node_;
  if (root.value.numel() != 1)
    throw std::runtime_error(std::string("backward: needs a single value (a loss), but op '") + root.op +
                             "' gave shape " + root.value.shape().str() +
                             "; reduce it first (sum_all, mean_all)");
  if (root.freed) throw std::runtime_error(freed_error(root));
  if (!root.requires_grad)
    throw std::runtime_error(std::string("backward: the value of op '") + root.op +
                             "' does not depend on any Var with requires_grad (or was computed in a "
                             "no-grad scope)");

  std::vector<std::shared_ptr<Node>> order = topological_order(node_);
  accumulate_grad(root, Tensor::ones(root.value.shape(), root.value.device()));  // d loss / d loss = 1
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node& node = **it;
    if (!node.backward) continue;  // a leaf: its grad is the result
    if (node.grad.defined()) {
      profile_mark("(between ops)");
      node.backward(node);
      profile_mark(node.op, " backward");
    }
    // Free as we go: the closure (with its saved activations), the links to
    // the parents, and this intermediate gradient, which no one reads again
    // (as in PyTorch, only leaves keep their .grad).
    node.backward = nullptr;
    node.parents.clear();
    node.grad = Tensor();
    node.freed = true;
  }
}

void Var::zero_grad() {
  if (!node_) undefined_var("zero_grad");
  node_->grad = Tensor();
}

Var Var::detach() const { return Var(value(), false); }

}  // namespace aha
