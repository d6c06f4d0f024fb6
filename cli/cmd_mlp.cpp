// `aha mlp`: the smallest end-to-end use of the autograd and AdamW, before any
// transformer: a two-layer tanh MLP learns y = sin(x) on [-pi, pi].
// A first thing to run on a new machine (or GPU): the loss must fall by orders
// of magnitude in a few seconds.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/adamw.h"
#include "autograd/ops.h"
#include "cli/commands.h"

namespace aha {
namespace {

struct MlpOptions {
  int steps = 2000;
  uint64_t seed = 0;
  std::string device = "cpu";
  float lr = 1e-2f;
  int hidden = 32;   // width of the one hidden layer
  int points = 256;  // training points, drawn uniformly from [-pi, pi]
};

struct Mlp {
  Var w1, b1, w2, b2;  // [1, H], [H], [H, 1], [1]

  // x [N, 1] -> tanh(x W1 + b1) [N, H] -> (.) W2 + b2 [N, 1]
  Var forward(const Var& x) const {
    Var hidden = tanh(add(matmul(x, w1), b1));
    return add(matmul(hidden, w2), b2);
  }
  std::vector<Var> params() const { return {w1, b1, w2, b2}; }
};

// The inputs spread over the tanh's working range; the output layer starts
// small (std 1/sqrt(H)) so the first predictions are near 0.
Mlp init_mlp(int64_t hidden, Generator& gen, Device device) {
  Mlp m;
  m.w1 = Var(Tensor::randn(Shape{1, hidden}, gen, device, 1.0f), true);
  m.b1 = Var(Tensor::randn(Shape{hidden}, gen, device, 1.0f), true);
  m.w2 = Var(Tensor::randn(Shape{hidden, 1}, gen, device, 1.0f / std::sqrt((float)hidden)), true);
  m.b2 = Var(Tensor::zeros(Shape{1}, device), true);
  return m;
}

// mean squared error: (1/N) sum_i (pred_i - y_i)^2
Var mse(const Var& pred, const Var& target) {
  Var diff = sub(pred, target);
  return mean_all(mul(diff, diff));
}

std::string format_seconds(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", (int)(s / 60), (int)s % 60);
  return buf;
}

void run_mlp(const MlpOptions& o) {
  if (!(o.lr > 0.0f)) throw std::runtime_error("mlp: --lr must be > 0, got " + std::to_string(o.lr));
  Device device = parse_device(o.device);
  require_device(device);
  const double kPi = 3.14159265358979323846;

  Generator gen(o.seed);
  Tensor u = Tensor::rand(Shape{o.points, 1}, gen);  // U[0, 1), on the CPU: sin is taken here
  std::vector<float> xs = u.to_vector(), ys(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i] = (float)((2.0 * xs[i] - 1.0) * kPi);
    ys[i] = (float)std::sin((double)xs[i]);
  }
  Var x(Tensor::from_vector(xs, Shape{o.points, 1}, device));
  Var y(Tensor::from_vector(ys, Shape{o.points, 1}, device));

  Mlp model = init_mlp(o.hidden, gen, device);
  // No weight decay: a few dozen parameters fitting a noiseless target have
  // nothing to regularise, and decay would only bias the fit.
  AdamW opt(model.params(), AdamWConfig{0.9f, 0.999f, 1e-8f, 0.0f});

  const int report_every = std::max(1, o.steps / 20);
  auto start = std::chrono::steady_clock::now();
  float initial_loss = 0.0f;
  for (int step = 1; step <= o.steps; ++step) {
    opt.zero_grad();
    Var loss = mse(model.forward(x), y);
    loss.backward();
    opt.step(o.lr);
    if (step == 1) initial_loss = loss.value().item();
    if (step % report_every == 0 || step == o.steps) {
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double per_step = elapsed / step;
      std::fprintf(stderr, "mlp: step %d/%d  loss %.6f  %.0f steps/s  ETA %s\n", step, o.steps,
                   loss.value().item(), 1.0 / per_step, format_seconds(per_step * (o.steps - step)).c_str());
    }
  }
  float final_loss;
  {
    NoGradGuard no_grad;
    final_loss = mse(model.forward(x), y).value().item();
  }
  std::printf("{\"task\": \"sin\", \"steps\": %d, \"seed\": %llu, \"device\": \"%s\", \"lr\": %g, "
              "\"initial_loss\": %.6g, \"final_loss\": %.6g}\n",
              o.steps, (unsigned long long)o.seed, device_name(device), o.lr, initial_loss, final_loss);
}

}  // namespace

void add_mlp_command(CLI::App& app) {
  auto options = std::make_shared<MlpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "mlp", "train a two-layer tanh MLP on y = sin(x) with AdamW: a quick check of autograd and optimiser");
  const CLI::Range positive_count(1, 1 << 30);
  cmd->add_option("--steps", options->steps, "optimiser steps")->check(positive_count)->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed for the data and the initial weights")->capture_default_str();
  cmd->add_option("--device", options->device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--lr", options->lr, "AdamW learning rate (> 0)")->capture_default_str();
  cmd->add_option("--hidden", options->hidden, "hidden layer width")->check(positive_count)->capture_default_str();
  cmd->add_option("--points", options->points, "training points in [-pi, pi]")
      ->check(positive_count)
      ->capture_default_str();
  cmd->callback([options]() { run_mlp(*options); });
}

}  // namespace aha
