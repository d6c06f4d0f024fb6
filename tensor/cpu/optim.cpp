// The optimiser's elementwise kernels: axpy (gradient accumulation) and AdamW,
// and their multi-tensor forms for clipping and stepping a whole model.
// Elements are independent: large tensors are split across threads.
#include <cmath>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

// a[i] += alpha * b[i]
void axpy(float* a, const float* b, int64_t n, float alpha) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) a[i] += alpha * b[i];
}

// One AdamW step (Loshchilov & Hutter 2019, decoupled weight decay), t = hp.step:
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= lr * ( (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd p )
// The bias corrections are computed once, in double: b2^t for b2 = 0.999 and
// large t is where float pow drifts.
void adamw(float* param, const float* grad, float* m, float* v, int64_t n,
           const AdamWParams& hp) {
  // BEGIN EXERCISE adamw_step: the update above for each of the n elements, in place
  float correction1 = (float)(1.0 - std::pow((double)hp.beta1, (double)hp.step));
  float correction2 = (float)(1.0 - std::pow((double)hp.beta2, (double)hp.step));
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i];
    m[i] = hp.beta1 * m[i] + (1.0f - hp.beta1) * g;
    v[i] = hp.beta2 * v[i] + (1.0f - hp.beta2) * g * g;
    float m_hat = m[i] / correction1;
    float v_hat = v[i] / correction2;
    param[i] -= hp.lr * (m_hat / (std::sqrt(v_hat) + hp.eps) + hp.weight_decay * param[i]);
  }
  // END EXERCISE adamw_step
}

// out[0] = sum_t sum_i tensors[t][i]^2: each tensor's sum as the one-tensor
// kernel makes it (in double, rounded to float), added in float tensor after
// tensor, so the result is the loop `total += sum_squares(g)` bit for bit.
void sum_squares_list(const std::vector<const float*>& tensors, const std::vector<int64_t>& sizes, float* out) {
  float total = 0.0f;
  for (size_t t = 0; t < tensors.size(); ++t) {
    float part = 0.0f;
    sum_squares(tensors[t], &part, sizes[t]);
    total += part;
  }
  out[0] = total;
}

void scale_list(const std::vector<float*>& tensors, const std::vector<int64_t>& sizes, float s) {
  for (size_t t = 0; t < tensors.size(); ++t) affine(tensors[t], tensors[t], sizes[t], s, 0.0f);
}

// The one-tensor step for each slot, with the slot's weight decay.
void adamw_list(const std::vector<AdamWSlot>& slots, const AdamWParams& hp) {
  for (const AdamWSlot& slot : slots) {
    AdamWParams p = hp;
    p.weight_decay = slot.weight_decay;
    adamw(slot.param, slot.grad, slot.m, slot.v, slot.n, p);
  }
}

}  // namespace cpu
}  // namespace aha
