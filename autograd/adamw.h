// AdamW (Loshchilov & Hutter 2019) and global-norm gradient clipping.
#pragma once

#include <vector>

#include "autograd/var.h"

namespace aha {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

class AdamW {
 public:
  // decay[i] says whether params[i] gets weight decay (not biases, norms);
  // empty = all of them.
  AdamW(std::vector<Var> params, AdamWConfig config, std::vector<bool> decay = {});

  // One update of every parameter that has a gradient, at learning rate lr.
  void step(float lr);
  void zero_grad();

  int64_t steps() const { return steps_; }
  // Optimiser state, for checkpoints: first and second moments, one per param.
  std::vector<Tensor>& first_moments() { return m_; }
  std::vector<Tensor>& second_moments() { return v_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  const std::vector<Var>& params() const { return params_; }

 private:
  std::vector<Var> params_;
  AdamWConfig config_;
  std::vector<bool> decay_;
  std::vector<Tensor> m_, v_;
  int64_t steps_ = 0;
};

// Global L2 norm of all gradients; when it exceeds max_norm every gradient is
// scaled by max_norm / norm. Returns the norm before clipping (one host sync).
float clip_grad_norm(const std::vector<Var>& params, float max_norm);

}  // namespace aha
