// The one gradient checker every suite uses: an analytic backward against
// central finite differences of its forward.
//
// With a fixed random dy (the upstream gradient, one value per output), the
// loss is L(x) = sum_k dy_k f(x)_k, so the backward's answer is dL/dx. The
// numeric one moves each input element by +-h and evaluates the float forward,
// the loss accumulated in double:
//   dL/dx_j ~ (L(x + h e_j) - L(x - h e_j)) / ((x_j + h) - (x_j - h)),
// error O(h^2); the denominator is the step actually taken in float. Outputs
// that do not depend on x_j are bit-identical in both evaluations, so their
// rounding cancels exactly.
// Agreement: max_j |numeric_j - analytic_j| / max(max_j |numeric_j|, floor)
// below the tolerance; the floor keeps a gradient that is zero in theory (an
// input the loss ignores) from dividing by rounding noise. Tests that feed
// deliberately wrong backwards (tests/test_autograd.cpp, tests/test_tensor.cpp)
// show that the default step and tolerance catch a 10% error.
//
// One line per op, on plain float vectors (the tensor layer and the plain
// references, tensor/reference/):
//   check_gradients(forward, backward, {x, gamma, beta});
// Var ops of the autograd go through tests/gradcheck_var.h.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace aha_test {

using Values = std::vector<float>;
// The forward: the inputs' values in, the output's values out.
using Forward = std::function<Values(const std::vector<Values>& inputs)>;
// The backward: the inputs' values and dy (one per output) in, dL/dx for each
// input out; an empty vector for an input that is not differentiated (ids,
// masks), which is then not checked.
using Backward = std::function<std::vector<Values>(const std::vector<Values>& inputs, const Values& dy)>;

struct GradCheckOptions {
  float step = 1e-2f;        // h
  double tolerance = 1e-2;   // on the relative error above
  double floor = 1e-1;       // a gradient smaller than this counts as zero
  uint64_t seed = 99;        // of dy
};

struct GradCheck {
  double max_error = 0.0;  // the worst input's relative error
  std::string report;      // one line per input, for the failure message
};

// The derivative of a scalar function by one central difference, in double.
inline double central_difference(const std::function<double(double)>& f, double x, double h) {
  return (f(x + h) - f(x - h)) / (2.0 * h);
}

// dy: normal(0, 1) values from `seed`, n of them.
inline Values random_dy(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Values dy(n);
  for (float& v : dy) v = normal(rng);
  return dy;
}

// dL/d inputs[which] by central differences, L = sum_k dy_k f(inputs)_k.
inline std::vector<double> numeric_gradient(const Forward& f, std::vector<Values> inputs, size_t which,
                                            const Values& dy, float h) {
  auto loss = [&] {
    const Values y = f(inputs);
    REQUIRE(y.size() == dy.size());
    double sum = 0.0;
    for (size_t k = 0; k < y.size(); ++k) sum += (double)dy[k] * y[k];
    return sum;
  };
  Values& x = inputs[which];
  std::vector<double> grad(x.size());
  for (size_t j = 0; j < x.size(); ++j) {
    const float x0 = x[j];
    x[j] = x0 + h;
    const float up = x[j];
    const double l_up = loss();
    x[j] = x0 - h;
    const float down = x[j];
    const double l_down = loss();
    x[j] = x0;
    grad[j] = (l_up - l_down) / ((double)up - (double)down);
  }
  return grad;
}

// The analytic gradients (backward at dy) against the numeric ones, input by input.
inline GradCheck compare_gradients(const Forward& forward, const std::vector<Values>& inputs,
                                   const std::vector<Values>& analytic, const Values& dy,
                                   const GradCheckOptions& options = {}) {
  REQUIRE(analytic.size() == inputs.size());
  GradCheck result;
  std::ostringstream report;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (analytic[i].empty()) continue;  // not differentiated
    REQUIRE(analytic[i].size() == inputs[i].size());
    const std::vector<double> numeric = numeric_gradient(forward, inputs, i, dy, options.step);
    double max_diff = 0.0, max_numeric = 0.0;
    size_t worst = 0;  // the element furthest off; a NaN counts as furthest (it must fail, not vanish in a max)
    for (size_t j = 0; j < numeric.size(); ++j) {
      max_numeric = std::max(max_numeric, std::fabs(numeric[j]));
      const double diff = std::fabs(numeric[j] - (double)analytic[i][j]);
      if (std::isnan(max_diff)) continue;
      if (std::isnan(diff) || diff > max_diff) {
        max_diff = diff;
        worst = j;
      }
    }
    const double error = max_diff / std::max(max_numeric, options.floor);
    result.max_error = std::max(result.max_error, std::isnan(error) ? INFINITY : error);
    // The worst element as expected (finite differences) vs got (the backward):
    // what a student fixing a backward wants to see first.
    report << "input " << i << " (" << inputs[i].size() << " values): worst at element " << worst
           << ": expected " << numeric[worst] << " (finite differences), got " << analytic[i][worst]
           << " (backward); max |expected| " << max_numeric << ", error " << error << " (tolerance "
           << options.tolerance << ")\n";
  }
  result.report = report.str();
  return result;
}

// The backward at a random dy against finite differences of the forward.
inline GradCheck grad_check(const Forward& forward, const Backward& backward, const std::vector<Values>& inputs,
                            const GradCheckOptions& options = {}) {
  const Values dy = random_dy(forward(inputs).size(), options.seed);
  return compare_gradients(forward, inputs, backward(inputs, dy), dy, options);
}

// The one line a test writes: CHECKs that the backward matches.
inline void check_gradients(const Forward& forward, const Backward& backward, const std::vector<Values>& inputs,
                            const GradCheckOptions& options = {}) {
  const GradCheck r = grad_check(forward, backward, inputs, options);
  INFO(r.report);
  CHECK(r.max_error < options.tolerance);
}

}  // namespace aha_test
