// AdamW (Loshchilov & Hutter 2019, Algorithm 2) and global-norm clipping.
// The arithmetic of one step is the tensor kernel adamw_step_ (tensor/ops.h);
// this file keeps the per-parameter state and decides who gets weight decay.
#include <cmath>
#include <string>
#include <utility>

#include "autograd/adamw.h"

#include "autograd/profile.h"

namespace aha {

AdamW::AdamW(std::vector<Var> params, AdamWConfig config, std::vector<bool> decay)
    : params_(std::move(params)), config_(config), decay_(std::move(decay)) {
  if (decay_.empty()) decay_.assign(params_.size(), true);
  if (decay_.size() != params_.size())
    throw std::runtime_error("AdamW: " + std::to_string(decay_.size()) + " weight-decay flags for " +
                             std::to_string(params_.size()) + " parameters");
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined())
      throw std::runtime_error("AdamW: parameter " + std::to_string(i) + " is an undefined Var");
    const Tensor& p = params_[i].value();
    m_.push_back(Tensor::zeros(p.shape(), p.device()));
    v_.push_back(Tensor::zeros(p.shape(), p.device()));
  }
}

// t = t + 1; for each parameter p with gradient g:
//   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
//   m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)   (bias correction: m, v start at 0)
//   p = p - lr * ( m_hat / (sqrt(v_hat) + eps) + wd * p )
// The decay is decoupled: it shrinks p directly instead of being added to g,
// so Adam's per-coordinate scaling does not weaken it for large-gradient weights.
// Every parameter in one multi-tensor op (tensor/ops.h): a few launches for
// the whole model instead of one per parameter.
void AdamW::step(float lr) {
  profile_mark("(between ops)");
  ++steps_;
  std::vector<Tensor> params, grads, m, v;
  std::vector<float> decay;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& grad = params_[i].grad();
    if (!grad.defined()) continue;  // unused this step (e.g. a frozen branch)
    params.push_back(params_[i].value());
    grads.push_back(grad);
    m.push_back(m_[i]);
    v.push_back(v_[i]);
    decay.push_back(decay_[i] ? config_.weight_decay : 0.0f);
  }
  const AdamWParams hp{lr, config_.beta1, config_.beta2, config_.eps, 0.0f, steps_};
  adamw_step_all_(params, grads, m, v, decay, hp);
  profile_mark("adamw step");
}

void AdamW::zero_grad() {
  for (Var& p : params_) p.zero_grad();
}

// norm = sqrt(sum over every gradient element of g^2); if norm > max_norm,
// g *= max_norm / norm for every gradient, so the update keeps its direction
// but its length is bounded. The squares are summed on the device; the one
// host read is the final norm.
float clip_grad_norm(const std::vector<Var>& params, float max_norm) {
  if (!(max_norm > 0.0f))
    throw std::runtime_error("clip_grad_norm: max_norm must be > 0, got " + std::to_string(max_norm));
  profile_mark("(between ops)");
  std::vector<Tensor> grads;
  for (const Var& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());  // shares storage: scaled in place
  if (grads.empty()) return 0.0f;
  const float norm = std::sqrt(sum_squares_all(grads).item());
  if (norm > max_norm) mul_scalar_all_(grads, max_norm / norm);
  profile_mark("clip_grad_norm");
  return norm;
}

}  // namespace aha
