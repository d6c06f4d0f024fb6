// The plain-data arguments the kernels take (tensor/cpu/kernels.h and
// tensor/cuda/kernels.h): enums and small structs, no Tensor, so that a
// kernel file includes only this and tensor/dtype.h, not the Tensor API.
#pragma once

#include <cstdint>

namespace aha {

enum class BinaryOp { Add, Sub, Mul, Div, Min, Max, GreaterEqual };
// How b is read against a: b[i], b[i % last], or b[0].
enum class Broadcast { Same, LastDim, Scalar };
enum class UnaryOp { Exp, Log, Tanh, Sqrt, Relu, Gelu };
enum class ReduceOp { Sum, Mean, Max };
// One tensor of a multi-tensor AdamW step (adamw_list): its n elements, its decay.
struct AdamWSlot {
  float* param;
  const float* grad;
  float* m;
  float* v;
  int64_t n;
  float weight_decay;
};

// One AdamW step's hyperparameters (tensor/ops.h adamw_step_).
struct AdamWParams {
  float lr, beta1, beta2, eps, weight_decay;
  int64_t step;  // 1-based, for bias correction
};

// The settings of one batched sampling step (sample_step_ below).
struct SampleStepConfig {
  static constexpr int kMaxStopTokens = 8;
  float temperature = 1.0f;  // > 0 unless greedy
  bool greedy = false;
  int eos_token = -1;        // -1 = none
  int stop_tokens[kMaxStopTokens] = {};
  int num_stop_tokens = 0;
  int64_t max_new = 1;       // tokens a row may generate
  int64_t context = 1;       // the model's context: prompt + generated may not pass it
  int64_t step = 0;          // this step's index, 0-based
  uint64_t seed = 0;         // the draw of row r at step s is uniform(seed, r * max_new + s)
};

}  // namespace aha
