// The learning-rate schedule of GPT pretraining: linear warmup, then a cosine
// decay to a floor (Loshchilov & Hutter 2017, SGDR; as in GPT-3 and nanoGPT).
#pragma once

namespace aha {

// For optimiser step `step` (1-based) of `total_steps`:
//   step <= W:  lr = peak * step / W
//   after:      lr = floor + (peak - floor) * (1 + cos(pi * (step - W) / (total - W))) / 2
float warmup_cosine_lr(int step, int total_steps, int warmup_steps, float peak_lr, float min_lr);

}  // namespace aha
