#include "model/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace aha {

float warmup_cosine_lr(int step, int total_steps, int warmup_steps, float peak_lr, float min_lr) {
  if (step <= warmup_steps) return peak_lr * (float)step / (float)warmup_steps;
  // Past the end of the schedule (a run extended on resume) the floor holds.
  const double progress =
      std::min(1.0, (double)(step - warmup_steps) / (double)std::max(1, total_steps - warmup_steps));
  const double kPi = 3.14159265358979323846;
  return (float)(min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + std::cos(kPi * progress)));
}

}  // namespace aha
