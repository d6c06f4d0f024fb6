// The GPT against PyTorch: tests/golden/gpt_small.json holds a small GPT's
// parameters, its logits, masked loss and every parameter's gradient, computed
// in float64 by bench/reference_gpt.py (remake with `make golden`). Our model
// loads the same parameters and must match within 1e-4 relative, on CPU and,
// where a GPU answers, on CUDA (with TF32 off: exact float32 products).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gpt.h"

using namespace aha;
using json = nlohmann::json;

namespace {

const char* kGoldenPath = "tests/golden/gpt_small.json";  // tests run from the repo root
constexpr double kTolerance = 1e-4;                        // ||ours - torch|| / ||torch||
constexpr double kZeroGradient = 1e-10;  // a float64 reference this small is an exact 0
constexpr double kRoundingNoise = 1e-5;  // what float32 leaves of an exact 0 here

json load_golden() {
  std::ifstream in(kGoldenPath);
  if (!in)
    throw std::runtime_error(std::string("test_model_golden: cannot open ") + kGoldenPath +
                             " (run the tests from the repository root; remake it with `make golden`)");
  return json::parse(in);
}

Tensor tensor_from_json(const json& j, Device device = Device::CPU) {
  std::vector<int64_t> shape = j.at("shape").get<std::vector<int64_t>>();
  std::vector<double> data = j.at("data").get<std::vector<double>>();
  return Tensor::from_vector(std::vector<float>(data.begin(), data.end()), Shape(shape), device);
}

double norm(const Tensor& a) {
  double sum = 0.0;
  for (float v : a.to_vector()) sum += (double)v * v;
  return std::sqrt(sum);
}

double relative_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < va.size(); ++i) {
    diff += ((double)va[i] - vb[i]) * ((double)va[i] - vb[i]);
    norm += (double)vb[i] * vb[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

void check_against_golden(Device device) {
  json g = load_golden();
  const json& jc = g.at("config");
  GPTConfig config{jc.at("vocab_size").get<int>(), jc.at("context").get<int>(), jc.at("d_model").get<int>(),
                   jc.at("n_layers").get<int>(), jc.at("n_heads").get<int>()};
  GPT model(config, device);
  REQUIRE(g.at("param_order").size() == model.named_params().size());
  for (const NamedParam& p : model.named_params()) {
    CAPTURE(p.name);
    Var param = p.var;
    param.value().copy_from(tensor_from_json(g.at("params").at(p.name), device));
  }
  Tensor tokens = tensor_from_json(g.at("tokens"), device);
  Tensor targets = tensor_from_json(g.at("targets"), device).reshape(tokens.shape());
  Tensor mask = tensor_from_json(g.at("mask"), device).reshape(tokens.shape());

  Var logits = model.forward(tokens);
  double worst = relative_error(logits.value(), tensor_from_json(g.at("logits")));
  CHECK(worst < kTolerance);
  Var loss = model.loss(tokens, targets, mask);
  CHECK(loss.value().item() == doctest::Approx(g.at("loss").get<double>()).epsilon(kTolerance));
  loss.backward();
  for (const NamedParam& p : model.named_params()) {
    CAPTURE(p.name);
    REQUIRE(p.var.grad().defined());
    Tensor expected = tensor_from_json(g.at("grads").at(p.name));
    if (norm(expected) < kZeroGradient) {
      // The key bias: q.(k + b) shifts every score of a query by the same
      // q.b, which softmax ignores, so its true gradient is 0 and only
      // rounding noise (relative to the activations, ~1e-7) remains.
      CHECK(norm(p.var.grad()) < kRoundingNoise);
    } else {
      double err = relative_error(p.var.grad(), expected);
      CHECK(err < kTolerance);
      worst = std::max(worst, err);
    }
  }
  MESSAGE(std::string(device_name(device)) << ": worst relative error over logits and gradients " << worst);
}

}  // namespace

TEST_CASE("GPT logits and every parameter gradient match the PyTorch reference (CPU)") {
  check_against_golden(Device::CPU);
}

TEST_CASE("GPT logits and every parameter gradient match the PyTorch reference (CUDA, when a GPU answers)") {
  if (!cuda_available()) {
    MESSAGE("no CUDA GPU here: skipped");
    return;
  }
  const bool tf32 = tf32_enabled();
  set_tf32(false);
  check_against_golden(Device::CUDA);
  set_tf32(tf32);
}

TEST_CASE("the golden comparison can fail: a perturbed parameter is caught") {
  json g = load_golden();
  const json& jc = g.at("config");
  GPTConfig config{jc.at("vocab_size").get<int>(), jc.at("context").get<int>(), jc.at("d_model").get<int>(),
                   jc.at("n_layers").get<int>(), jc.at("n_heads").get<int>()};
  GPT model(config);
  for (const NamedParam& p : model.named_params()) {
    Var param = p.var;
    param.value().copy_from(tensor_from_json(g.at("params").at(p.name)));
  }
  Var w = model.blocks[1].w_v;
  w.value().set({0, 0}, w.value().at({0, 0}) + 1e-2f);
  Tensor tokens = tensor_from_json(g.at("tokens"));
  CHECK(relative_error(model.forward(tokens).value(), tensor_from_json(g.at("logits"))) > kTolerance);
}
