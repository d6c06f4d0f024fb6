// The bf16 mixed-precision forward (GPT::set_dtype, `--dtype bf16`) against the
// float32 one on the same weights: the loss, the logits and every weight's
// gradient agree within what bf16's 8-bit mantissa allows, and training with
// it lowers the loss as fp32 training does. The reference is the fp32 path.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/adamw.h"
#include "model/config.h"
#include "model/gpt.h"
#include "tests/gpu_cases.h"

using namespace aha;

namespace {

aha_test::GpuCaseCounter g_gpu_cases("test_model_bf16");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

// Two heads of 16, an MLP of 128: every bf16 op of the block runs.
GPTConfig config() { return GPTConfig{13, 24, 32, 2, 2}; }

GPT random_model(Device device, uint64_t seed) {
  GPT model(config(), device);
  Generator gen(seed);
  for (const NamedParam& p : model.named_params()) {
    Var v = p.var;
    const bool gain = p.name.find("ln") != std::string::npos && p.name.find("weight") != std::string::npos;
    Tensor t = Tensor::randn(v.shape(), gen, Device::CPU, 0.1f);
    if (gain) t = add_scalar(t, 1.0f);  // LayerNorm gains near 1, as trained models have
    v.value().copy_from(t.to(device));
  }
  return model;
}

struct Batch {
  Tensor tokens, targets, mask;
};

Batch random_batch(int64_t B, int64_t T, Device device, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> tokens, targets, mask;
  for (int64_t i = 0; i < B * T; ++i) {
    tokens.push_back((float)gen.below(13));
    targets.push_back((float)gen.below(13));
    mask.push_back(i % T >= 2 ? 1.0f : 0.0f);
  }
  const Shape shape{B, T};
  return {Tensor::from_vector(tokens, shape, device), Tensor::from_vector(targets, shape, device),
          Tensor::from_vector(mask, shape, device)};
}

struct LossAndGrads {
  float loss = 0;
  Tensor logits;
  std::vector<Tensor> grads;  // in named_params() order, on the CPU
};

LossAndGrads loss_and_grads(GPT& model, const Batch& batch) {
  LossAndGrads out;
  {
    NoGradGuard no_grad;
    out.logits = model.forward(batch.tokens).value().to(Device::CPU);
  }
  Var loss = model.loss(batch.tokens, batch.targets, batch.mask);
  out.loss = loss.value().item();
  for (Var p : model.params()) p.zero_grad();
  loss.backward();
  for (const NamedParam& p : model.named_params()) out.grads.push_back(p.var.grad().to(Device::CPU));
  return out;
}

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (float x : t.to_vector()) m = std::max(m, (double)std::fabs(x));
  return m;
}

// The stated tolerances. bf16 keeps 8 significant bits (relative rounding
// 2^-9 = 0.2%); through two blocks of products the logits move ~1%, and the
// gradients, each a product of several rounded factors, a few percent.
constexpr double kLossTol = 2e-3, kLogitsTol = 2e-2, kGradTol = 4e-2;

void check_close_to_fp32(const LossAndGrads& bf16, const LossAndGrads& fp32, const GPT& model) {
  MESSAGE("loss fp32 " << fp32.loss << ", bf16 " << bf16.loss);
  CHECK(std::fabs(bf16.loss - fp32.loss) <= kLossTol * std::fabs(fp32.loss));
  const double logits_err = aha_test::relative_error(bf16.logits, fp32.logits);
  MESSAGE("logits relative error " << logits_err);
  CHECK(logits_err < kLogitsTol);
  CHECK(logits_err > 0.0);  // the bf16 path really rounds something
  double worst = 0.0;
  std::string worst_name;
  for (size_t i = 0; i < fp32.grads.size(); ++i) {
    const std::string& name = model.named_params()[i].name;
    CAPTURE(name);
    CHECK(bf16.grads[i].dtype() == DType::F32);  // weight gradients stay float32
    if (name.find("attn.k.bias") != std::string::npos) {
      // Zero in exact arithmetic (a bias on every key adds q . b to all of a
      // query's scores, which softmax ignores): both are rounding noise.
      CHECK(max_abs(fp32.grads[i]) < 1e-5);
      CHECK(max_abs(bf16.grads[i]) < 1e-3);
      continue;
    }
    const double err = aha_test::relative_error(bf16.grads[i], fp32.grads[i]);
    CHECK(err < kGradTol);
    if (err > worst) worst = err, worst_name = name;
  }
  MESSAGE("worst gradient relative error " << worst << " (" << worst_name << ")");
}

}  // namespace

TEST_CASE("bf16 forward and backward agree with fp32 within the stated tolerance (CPU)") {
  GPT model = random_model(Device::CPU, 1);
  const Batch batch = random_batch(3, 24, Device::CPU, 2);
  const LossAndGrads fp32 = loss_and_grads(model, batch);
  model.set_dtype(DType::BF16);
  CHECK(model.clone().dtype() == DType::BF16);
  const LossAndGrads bf16 = loss_and_grads(model, batch);
  CHECK(bf16.logits.dtype() == DType::F32);  // the head stays float32
  check_close_to_fp32(bf16, fp32, model);
}

TEST_CASE("bf16 training lowers the loss as fp32 training does (CPU, 40 AdamW steps on one batch)") {
  const Batch batch = random_batch(4, 24, Device::CPU, 9);
  std::vector<float> first, last;
  for (DType dtype : {DType::F32, DType::BF16}) {
    GPT model = random_model(Device::CPU, 4);
    model.set_dtype(dtype);
    AdamWConfig adam;
    adam.weight_decay = 0.0f;
    AdamW optimizer(model.params(), adam, model.decay_mask());
    float loss0 = 0, loss = 0;
    for (int step = 0; step < 40; ++step) {
      Var l = model.loss(batch.tokens, batch.targets, batch.mask);
      loss = l.value().item();
      if (step == 0) loss0 = loss;
      l.backward();
      optimizer.step(3e-3f);
      optimizer.zero_grad();
    }
    first.push_back(loss0);
    last.push_back(loss);
    MESSAGE(std::string(dtype_name(dtype)) << ": loss " << loss0 << " -> " << loss);
  }
  CHECK(last[0] < 0.5f * first[0]);  // fp32 fits the batch
  CHECK(last[1] < 0.5f * first[1]);  // and so does bf16
  CHECK(std::fabs(last[1] - last[0]) <= 0.1f * last[0]);  // to within 10% of the same loss
}

TEST_CASE("bf16 CUDA forward and backward agree with fp32 on CUDA and with bf16 on the CPU") {
  if (skip_without_gpu()) return;
  aha_test::Tf32Scope exact(false);  // fp32 reference without TF32
  GPT model = random_model(Device::CUDA, 1);
  const Batch batch = random_batch(3, 24, Device::CUDA, 2);
  const LossAndGrads fp32 = loss_and_grads(model, batch);
  model.set_dtype(DType::BF16);
  const LossAndGrads bf16 = loss_and_grads(model, batch);
  check_close_to_fp32(bf16, fp32, model);
  GPT cpu = random_model(Device::CPU, 1);
  cpu.set_dtype(DType::BF16);
  const LossAndGrads bf16_cpu = loss_and_grads(cpu, random_batch(3, 24, Device::CPU, 2));
  // Both round the same values; the float sums inside differ in order only.
  CHECK(std::fabs(bf16.loss - bf16_cpu.loss) <= 2e-3 * std::fabs(bf16_cpu.loss));
  CHECK(aha_test::relative_error(bf16.logits, bf16_cpu.logits) < 1e-2);
  for (size_t i = 0; i < bf16.grads.size(); ++i) {
    const std::string& name = cpu.named_params()[i].name;
    CAPTURE(name);
    if (name.find("attn.k.bias") != std::string::npos) continue;  // rounding noise (above)
    CHECK(aha_test::relative_error(bf16.grads[i], bf16_cpu.grads[i]) < 3e-2);
  }
}

TEST_CASE("TrainConfig records its dtype; a config saved before the switch reads as fp32") {
  TrainConfig train;
  train.dtype = DType::BF16;
  const std::string json = to_json(train);
  CHECK(json.find("\"dtype\":\"bf16\"") != std::string::npos);
  CHECK(train_config_from_json(json).dtype == DType::BF16);
  CHECK(train_config_from_json(json) == train);
  TrainConfig fp32 = train;
  fp32.dtype = DType::F32;
  CHECK(fp32 != train);  // a resume cannot silently switch precision
  std::string old = to_json(fp32);
  old.erase(old.find(",\"dtype\":\"fp32\""), std::string(",\"dtype\":\"fp32\"").size());
  REQUIRE(old.find("dtype") == std::string::npos);
  CHECK(train_config_from_json(old).dtype == DType::F32);
  std::string bad = json;
  bad.replace(bad.find("\"bf16\""), 6, "\"fp16\"");
  CHECK_THROWS_WITH(train_config_from_json(bad), doctest::Contains("unknown dtype 'fp16'"));
}
