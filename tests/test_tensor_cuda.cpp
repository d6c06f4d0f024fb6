// The CUDA backend of the tensor layer, against the CPU backend as reference
// (tensor/cpu/ is the readable, separately tested implementation): every op's
// forward and backward kernel on the same random inputs on both devices, at
// awkward sizes (1, 7, 33, 1000, a vocab row of 50257) and at tens of millions
// of elements; agreement is the relative error ||cuda - cpu|| / ||cpu||.
// Also: mixed devices throw, the caching allocator stops calling cudaMalloc in
// a steady loop, randn/rand give the CPU's numbers, the checking macro names
// the failing call.
//
// Without a usable GPU every GPU case is skipped at run time (it says so), and
// the number skipped is printed when the suite ends.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "tests/gpu_cases.h"

#if AHA_CUDA
#include "tensor/cuda/allocator.h"
#include "tensor/cuda/check.h"
#include "tensor/cuda/kernels.h"
#endif

using aha::Device;
using aha::Generator;
using aha::Shape;
using aha::Tensor;

namespace {

constexpr Device kCPU = Device::CPU;
constexpr Device kGPU = Device::CUDA;

// Float32 kernels that compute the same formula in a different order agree to
// a few ulps; 1e-5 leaves room for that and for nothing else.
constexpr double kTolerance = 1e-5;
// TF32 rounds the inputs of a product to a 10-bit mantissa (~5e-4 relative).
constexpr double kTf32Tolerance = 2e-3;
// "Tens of millions of elements" for the large elementwise and reduction cases.
constexpr int64_t kLarge = 20000003;

aha_test::GpuCaseCounter g_gpu_cases("test_tensor_cuda");
bool skip_without_gpu() { return aha_test::skip_without_gpu(g_gpu_cases); }

Tensor randn(const Shape& shape, uint64_t seed, float std = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, kCPU, std);
}

Tensor rand(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::rand(shape, gen, kCPU);
}

// Integer ids in [0, V) stored as floats, with repeats.
Tensor random_ids(int64_t n, int64_t V, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> ids((size_t)n);
  for (float& id : ids) id = (float)gen.below((uint64_t)V);
  return Tensor::from_vector(ids, Shape{n});
}

// 0/1 mask with about a quarter zeros, and at least one 1.
Tensor random_mask(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> mask((size_t)n);
  for (float& m : mask) m = gen.uniform() < 0.25f ? 0.0f : 1.0f;
  mask[0] = 1.0f;
  return Tensor::from_vector(mask, Shape{n});
}

using aha_test::relative_error;

// An op under test: tensors in, tensors out (several for layernorm and friends).
using Op = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

std::string shapes_of(const std::vector<Tensor>& ts) {
  std::string s;
  for (const Tensor& t : ts) s += (s.empty() ? "" : " ") + t.shape().str();
  return s;
}

// Runs `op` on the CPU inputs and on copies of them on the GPU; every output
// must be on the input's device, have the CPU's shape and agree within `tolerance`.
void check_parity(const std::string& name, const Op& op, const std::vector<Tensor>& cpu_inputs,
                  double tolerance = kTolerance) {
  std::vector<Tensor> gpu_inputs;
  for (const Tensor& t : cpu_inputs) gpu_inputs.push_back(t.to(kGPU));
  std::vector<Tensor> want = op(cpu_inputs);
  std::vector<Tensor> got = op(gpu_inputs);
  REQUIRE(want.size() == got.size());
  for (size_t k = 0; k < want.size(); ++k) {
    INFO(name << " output " << k << " for inputs " << shapes_of(cpu_inputs));
    REQUIRE(got[k].device() == kGPU);
    REQUIRE(got[k].shape() == want[k].shape());
    double error = relative_error(got[k], want[k]);
    INFO("relative error " << error << " (tolerance " << tolerance << ")");
    CHECK(error <= tolerance);
  }
}

Op unary_op(Tensor (*f)(const Tensor&)) {
  return [f](const std::vector<Tensor>& in) { return std::vector<Tensor>{f(in[0])}; };
}

Op binary_op(Tensor (*f)(const Tensor&, const Tensor&)) {
  return [f](const std::vector<Tensor>& in) { return std::vector<Tensor>{f(in[0], in[1])}; };
}

using aha_test::Tf32Scope;

// The awkward row lengths every row-wise kernel meets: one element, less than a
// warp, just over a warp, not a power of two, a GPT-2 vocabulary row.
const std::vector<int64_t> kAwkward = {1, 7, 33, 1000, 50257};

}  // namespace

// ---- behaviour without a GPU (runs everywhere) ----

TEST_CASE("cuda: asking for a CUDA tensor without a usable GPU throws a clear error") {
  if (aha::cuda_available()) {
    CHECK_NOTHROW(aha::require_device(kGPU));
    return;
  }
  CHECK_THROWS_AS(Tensor::zeros(Shape{2}, kGPU), std::runtime_error);
  try {
    aha::require_device(kGPU);
    FAIL("require_device(cuda) did not throw without a GPU");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("--device cuda") != std::string::npos);
  }
}

#if AHA_CUDA
TEST_CASE("cuda: device_count answers 0 or more, never throws") {
  int count = -1;
  CHECK_NOTHROW(count = aha::cuda::device_count());
  CHECK(count >= 0);
  CHECK(aha::cuda_available() == (count > 0));
}

TEST_CASE("cuda: AHA_CUDA_CHECK names the failing call, the file, the line and the error") {
  auto failing_runtime_call = [] { return cudaErrorInvalidValue; };
  try {
    AHA_CUDA_CHECK(failing_runtime_call());
    FAIL("AHA_CUDA_CHECK did not throw on a CUDA error");
  } catch (const std::runtime_error& e) {
    std::string message = e.what();
    CHECK(message.find("failing_runtime_call()") != std::string::npos);
    CHECK(message.find("test_tensor_cuda.cpp:") != std::string::npos);
    CHECK(message.find("cudaErrorInvalidValue") != std::string::npos);
  }
  auto failing_cublas_call = [] { return CUBLAS_STATUS_INVALID_VALUE; };
  try {
    AHA_CUDA_CHECK(failing_cublas_call());
    FAIL("AHA_CUDA_CHECK did not throw on a cuBLAS error");
  } catch (const std::runtime_error& e) {
    std::string message = e.what();
    CHECK(message.find("failing_cublas_call()") != std::string::npos);
    CHECK(message.find("CUBLAS_STATUS_INVALID_VALUE") != std::string::npos);
  }
  CHECK_NOTHROW(AHA_CUDA_CHECK(cudaSuccess));
  CHECK_NOTHROW(AHA_CUDA_CHECK(CUBLAS_STATUS_SUCCESS));
}

TEST_CASE("cuda: allocator size classes: 512-byte steps to 1 MiB, then 4 classes per doubling") {
  using aha::cuda::allocator_round_size;
  CHECK(allocator_round_size(0) == 512);
  CHECK(allocator_round_size(1) == 512);
  CHECK(allocator_round_size(512) == 512);
  CHECK(allocator_round_size(513) == 1024);
  CHECK(allocator_round_size(1 << 20) == (1 << 20));
  CHECK(allocator_round_size((1 << 20) + 1) == (1 << 20) + (1 << 18));
  CHECK(allocator_round_size(3 << 20) == (3 << 20));
  CHECK(allocator_round_size((3 << 20) + 1) == (3 << 20) + (1 << 19));
  // At most 25% waste above 1 MiB.
  for (int64_t bytes = (1 << 20) + 1; bytes < (int64_t)1 << 32; bytes = bytes * 3 / 2 + 7)
    CHECK(allocator_round_size(bytes) < bytes + bytes / 4 + 1);
}
#endif

// ---- the caching allocator ----

#if AHA_CUDA
TEST_CASE("cuda: a freed block is reused by the next request of its size class") {
  if (skip_without_gpu()) return;
  using namespace aha::cuda;
  allocator_release_cache();
  AllocatorStats before = allocator_stats();
  float* p = alloc(1000);  // 4000 bytes -> the 4096 class
  AllocatorStats held = allocator_stats();
  CHECK(held.cuda_malloc_calls == before.cuda_malloc_calls + 1);
  CHECK(held.bytes_in_use == before.bytes_in_use + 4096);
  free(p);
  AllocatorStats freed = allocator_stats();
  CHECK(freed.bytes_in_use == before.bytes_in_use);
  CHECK(freed.bytes_cached == before.bytes_cached + 4096);
  float* q = alloc(1010);  // same class: the same block, no cudaMalloc
  CHECK(q == p);
  CHECK(allocator_stats().cuda_malloc_calls == held.cuda_malloc_calls);
  free(q);
  allocator_reset_peak();
  CHECK(allocator_stats().peak_bytes_in_use == allocator_stats().bytes_in_use);
  float not_ours = 0.0f;
  CHECK_THROWS_AS(free(&not_ours), std::runtime_error);
  allocator_release_cache();
  CHECK(allocator_stats().bytes_cached == 0);
}

TEST_CASE("cuda: a steady loop of ops makes no cudaMalloc after its first step") {
  if (skip_without_gpu()) return;
  using namespace aha::cuda;
  const int64_t rows = 64, C = 256, V = 1000;
  Tensor x = randn(Shape{rows, C}, 1).to(kGPU);
  Tensor w = randn(Shape{C, C}, 2, 0.05f).to(kGPU);
  Tensor head = randn(Shape{V, C}, 3, 0.05f).to(kGPU);
  Tensor gamma = Tensor::ones(Shape{C}, kGPU), beta = Tensor::zeros(Shape{C}, kGPU);
  Tensor targets = random_ids(rows, V, 4).to(kGPU), mask = Tensor::ones(Shape{rows}, kGPU);
  // A small training-like step: every op allocates its output, and the
  // temporaries die at the end of the step.
  auto step = [&] {
    Tensor h = aha::matmul(x, w);
    aha::LayerNormResult ln = aha::layernorm(h, gamma, beta, 1e-5f);
    Tensor a = aha::gelu(ln.y);
    Tensor logits = aha::matmul(a, head, false, true);
    Tensor loss = aha::cross_entropy(logits, targets, mask);
    Tensor dlogits = aha::cross_entropy_backward(logits, targets, mask, 1.0f);
    Tensor norm = aha::sum_squares(dlogits);
    Tensor total = aha::sum_all(aha::softmax(logits));
  };
  allocator_release_cache();
  allocator_reset_peak();
  AllocatorStats start = allocator_stats();
  step();
  AllocatorStats first = allocator_stats();
  CHECK(first.cuda_malloc_calls > start.cuda_malloc_calls);  // the first step does allocate
  for (int i = 1; i < 100; ++i) step();
  aha::cuda::synchronize();
  AllocatorStats last = allocator_stats();
  CHECK(last.cuda_malloc_calls == first.cuda_malloc_calls);
  CHECK(last.bytes_in_use == first.bytes_in_use);
  CHECK(last.peak_bytes_in_use == first.peak_bytes_in_use);
}
#endif

// ---- devices ----

TEST_CASE("cuda: ops on tensors from different devices throw, naming the devices") {
  if (skip_without_gpu()) return;
  Tensor a = randn(Shape{4, 8}, 1), b = a.to(kGPU);
  CHECK_THROWS_AS(aha::add(a, b), aha::ShapeError);
  CHECK_THROWS_WITH_AS(aha::mul(b, a), "mul: inputs on different devices (cuda and cpu)",
                       aha::ShapeError);
  CHECK_THROWS_AS(aha::matmul(a, randn(Shape{8, 3}, 2).to(kGPU)), aha::ShapeError);
  CHECK_THROWS_AS(aha::layernorm(b, Tensor::ones(Shape{8}), Tensor::zeros(Shape{8}, kGPU), 1e-5f),
                  aha::ShapeError);
  CHECK_THROWS_AS(aha::embedding(b, Tensor::zeros(Shape{2})), aha::ShapeError);
  CHECK_THROWS_AS(aha::cross_entropy(b, Tensor::zeros(Shape{4}), Tensor::ones(Shape{4}, kGPU)),
                  aha::ShapeError);
  CHECK_THROWS_AS(aha::softmax_backward(a, b), aha::ShapeError);
  CHECK_THROWS_AS(aha::concat0({a, b}), aha::ShapeError);
  CHECK_THROWS_AS(aha::axpy_(b, 1.0f, a), aha::ShapeError);
  Tensor m = Tensor::zeros(Shape{4, 8}, kGPU), v = Tensor::zeros(Shape{4, 8}, kGPU);
  CHECK_THROWS_AS(aha::adamw_step_(b, a, m, v, {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1}),
                  aha::ShapeError);
}

TEST_CASE("cuda: copies between devices round-trip exactly; at, set and item read the GPU") {
  if (skip_without_gpu()) return;
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000), kLarge}) {
    Tensor a = rand(Shape{n}, 5);
    Tensor g = a.to(kGPU);
    CHECK(g.device() == kGPU);
    CHECK(g.clone().to(kCPU).to_vector() == a.to_vector());
    Tensor h = Tensor::empty(Shape{n}, kGPU);
    h.copy_from(g);
    Tensor back = Tensor::empty(Shape{n}, kCPU);
    back.copy_from(h);
    CHECK(back.to_vector() == a.to_vector());
  }
  Tensor t = Tensor::zeros(Shape{2, 3}, kGPU);
  t.set({1, 2}, 4.5f);
  CHECK(t.at({1, 2}) == 4.5f);
  CHECK(t.at({0, 0}) == 0.0f);
  CHECK(aha::sum_all(t).item() == 4.5f);
  CHECK(t.reshape(Shape{6}).shares_storage(t));
}

// ---- fills and random numbers ----

TEST_CASE("cuda: fills and arange equal the CPU's exactly") {
  if (skip_without_gpu()) return;
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(33), int64_t(50257)}) {
    CHECK(Tensor::full(Shape{n}, -2.5f, kGPU).to_vector() == std::vector<float>((size_t)n, -2.5f));
    CHECK(Tensor::arange(n, kGPU).to_vector() == Tensor::arange(n).to_vector());
    Tensor z = Tensor::ones(Shape{n}, kGPU);
    aha::fill_(z, 0.0f);
    CHECK(z.to_vector() == std::vector<float>((size_t)n, 0.0f));
  }
  CHECK(Tensor::scalar(3.25f, kGPU).item() == 3.25f);
}

TEST_CASE("cuda: randn and rand on CUDA give the CPU's numbers for the same seed") {
  if (skip_without_gpu()) return;
  for (int64_t n : {int64_t(1), int64_t(33), int64_t(50257), kLarge}) {
    Generator cpu_gen(1234), gpu_gen(1234);
    // Two fills in a row: the second continues the stream at the generator's offset.
    for (int fill = 0; fill < 2; ++fill) {
      std::vector<float> u_cpu = Tensor::rand(Shape{n}, cpu_gen, kCPU).to_vector();
      std::vector<float> u_gpu = Tensor::rand(Shape{n}, gpu_gen, kGPU).to_vector();
      CHECK(u_cpu == u_gpu);  // integer hashing and an exact scale: bit for bit
      std::vector<float> z_cpu = Tensor::randn(Shape{n}, cpu_gen, kCPU, 0.5f).to_vector();
      std::vector<float> z_gpu = Tensor::randn(Shape{n}, gpu_gen, kGPU, 0.5f).to_vector();
      // Box-Muller through logf/cosf, whose device versions may differ from the
      // host's in the last bit or two: equal to a few ulps.
      size_t mismatches = 0;
      for (size_t i = 0; i < z_cpu.size(); ++i)
        if (std::fabs(z_cpu[i] - z_gpu[i]) > 1e-6f * (1.0f + std::fabs(z_cpu[i]))) ++mismatches;
      INFO("n = " << n << ", fill " << fill);
      CHECK(mismatches == 0);
      CHECK(cpu_gen.offset() == gpu_gen.offset());
    }
  }
}

// ---- matrix products ----

TEST_CASE("cuda: matmul matches the CPU for every transpose, batched and shared, TF32 off and on") {
  if (skip_without_gpu()) return;
  struct Dims {
    int64_t M, N, K;
  };
  const std::vector<Dims> dims = {{1, 1, 1}, {7, 33, 1000}, {33, 7, 50}, {1000, 33, 7},
                                  {64, 1024, 256}, {1, 50257, 64}};
  for (bool tf32 : {false, true}) {
    Tf32Scope scope(tf32);
    const double tolerance = tf32 ? kTf32Tolerance : kTolerance;
    for (const Dims& d : dims)
      for (int transposes = 0; transposes < 4; ++transposes) {
        bool ta = transposes & 1, tb = transposes & 2;
        Op op = [ta, tb](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{aha::matmul(in[0], in[1], ta, tb)};
        };
        Shape a2 = ta ? Shape{d.K, d.M} : Shape{d.M, d.K};
        Shape b2 = tb ? Shape{d.N, d.K} : Shape{d.K, d.N};
        INFO("tf32 " << tf32 << " trans_a " << ta << " trans_b " << tb);
        check_parity("matmul", op, {randn(a2, 1), randn(b2, 2)}, tolerance);
        if (d.M * d.N * d.K > 1 << 24) continue;  // batched versions of the small ones only
        Shape a3 = ta ? Shape{3, d.K, d.M} : Shape{3, d.M, d.K};
        Shape b3 = tb ? Shape{3, d.N, d.K} : Shape{3, d.K, d.N};
        check_parity("batched matmul", op, {randn(a3, 3), randn(b3, 4)}, tolerance);
        Shape a4{2, 3, a2[0], a2[1]};
        check_parity("matmul with a shared b", op, {randn(a4, 5), randn(b2, 6)}, tolerance);
      }
  }
}

TEST_CASE("cuda: TF32 is on by default and set_tf32(false) gives exact float32 products") {
  if (skip_without_gpu()) return;
  CHECK(aha::tf32_enabled());
  Tensor a = randn(Shape{256, 1024}, 7).to(kGPU), b = randn(Shape{1024, 256}, 8).to(kGPU);
  Tensor want = aha::matmul(a.to(kCPU), b.to(kCPU));
  Tensor with_tf32 = aha::matmul(a, b);
  double error_fp32;
  {
    Tf32Scope scope(false);
    error_fp32 = relative_error(aha::matmul(a, b), want);
  }
  double error_tf32 = relative_error(with_tf32, want);
  INFO("float32 error " << error_fp32 << ", TF32 error " << error_tf32);
  CHECK(error_fp32 <= kTolerance);
  // TF32's 10-bit mantissa shows: far more error than float32, well inside its bound.
  CHECK(error_tf32 > 10 * error_fp32);
  CHECK(error_tf32 <= kTf32Tolerance);
  CHECK(aha::tf32_enabled());
}

TEST_CASE("cuda: linear (cuBLASLt bias epilogue) matches the CPU's x @ w + b, TF32 off and on") {
  if (skip_without_gpu()) return;
  struct Dims {
    Shape x;
    int64_t N;
  };
  // Rows not a multiple of any tile, odd N and K, a [B, T, C] input, the gpu-small MLP.
  const std::vector<Dims> dims = {{Shape{1, 1}, 1}, {Shape{7, 33}, 5}, {Shape{3, 11, 13}, 1000},
                                  {Shape{2, 129, 384}, 1536}, {Shape{1000, 1536}, 384}};
  Op op = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{aha::linear(in[0], in[1], in[2])}; };
  Op op_residual = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{aha::linear(in[0], in[1], in[2], in[3])};
  };
  for (bool tf32 : {false, true}) {
    Tf32Scope scope(tf32);
    for (const Dims& d : dims) {
      INFO("tf32 " << tf32);
      const int64_t K = d.x[-1];
      const Tensor x = randn(d.x, 11), w = randn(Shape{K, d.N}, 12), b = randn(Shape{d.N}, 13);
      check_parity("linear", op, {x, w, b}, tf32 ? kTf32Tolerance : kTolerance);
      check_parity("linear with a residual", op_residual, {x, w, b, randn(d.x.with_last(d.N), 16)},
                   tf32 ? kTf32Tolerance : kTolerance);
    }
  }
  // The bias really is added: with w = 0 the output is b on every row, exactly.
  Tensor b = randn(Shape{5}, 14).to(kGPU);
  Tensor y = aha::linear(randn(Shape{4, 3}, 15).to(kGPU), Tensor::zeros(Shape{3, 5}, kGPU), b);
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t n = 0; n < 5; ++n) CHECK(y.at({r, n}) == b.at({n}));
}

// ---- elementwise and unary ----

TEST_CASE("cuda: binary ops match the CPU for every broadcast") {
  if (skip_without_gpu()) return;
  struct Named {
    const char* name;
    Tensor (*f)(const Tensor&, const Tensor&);
  };
  const std::vector<Named> broadcasting = {
      {"add", aha::add}, {"sub", aha::sub}, {"mul", aha::mul}, {"div", aha::div}};
  const std::vector<Named> same_shape = {
      {"minimum", aha::minimum}, {"maximum", aha::maximum}, {"greater_equal", aha::greater_equal}};
  for (int64_t last : kAwkward) {
    Shape shape{3, last};
    Tensor a = randn(shape, 10);
    Tensor b = aha::add_scalar(rand(shape, 11), 0.5f);  // away from 0, for div
    Tensor vec = aha::add_scalar(rand(Shape{last}, 12), 0.5f);
    Tensor one = Tensor::scalar(1.75f);
    for (const Named& op : broadcasting) {
      check_parity(op.name, binary_op(op.f), {a, b});
      check_parity(op.name, binary_op(op.f), {a, vec});
      check_parity(op.name, binary_op(op.f), {a, one});
    }
    Tensor b_near = randn(shape, 13);
    for (const Named& op : same_shape) check_parity(op.name, binary_op(op.f), {a, b_near});
    // Ties: greater_equal of a tensor with itself is all ones on both devices.
    check_parity("greater_equal ties", binary_op(aha::greater_equal), {a, a});
  }
}

TEST_CASE("cuda: scalar ops, clamp and clamp_mask match the CPU") {
  if (skip_without_gpu()) return;
  for (int64_t n : kAwkward) {
    Tensor a = randn(Shape{n}, 20, 2.0f);
    check_parity("add_scalar", [](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{aha::add_scalar(in[0], -0.75f)};
    }, {a});
    check_parity("mul_scalar", [](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{aha::mul_scalar(in[0], 3.5f)};
    }, {a});
    check_parity("clamp", [](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{aha::clamp(in[0], -1.0f, 0.5f)};
    }, {a});
    check_parity("clamp_mask", [](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{aha::clamp_mask(in[0], -1.0f, 0.5f)};
    }, {a});
  }
}

TEST_CASE("cuda: unary math and the activation backward kernels match the CPU") {
  if (skip_without_gpu()) return;
  for (int64_t n : kAwkward) {
    Shape shape{n};
    Tensor x = randn(shape, 30, 2.0f);
    Tensor positive = aha::add_scalar(rand(shape, 31), 0.05f);
    Tensor dy = randn(shape, 32);
    check_parity("exp", unary_op(aha::exp), {x});
    check_parity("log", unary_op(aha::log), {positive});
    check_parity("sqrt", unary_op(aha::sqrt), {positive});
    check_parity("tanh", unary_op(aha::tanh), {x});
    check_parity("relu", unary_op(aha::relu), {x});
    check_parity("gelu", unary_op(aha::gelu), {x});
    check_parity("relu_backward", binary_op(aha::relu_backward), {x, dy});
    check_parity("gelu_backward", binary_op(aha::gelu_backward), {x, dy});
  }
}

TEST_CASE("cuda: elementwise ops at tens of millions of elements") {
  if (skip_without_gpu()) return;
  Tensor a = randn(Shape{kLarge}, 40), b = randn(Shape{kLarge}, 41);
  check_parity("add (large)", binary_op(aha::add), {a, b});
  check_parity("gelu (large)", unary_op(aha::gelu), {a});
  check_parity("gelu_backward (large)", binary_op(aha::gelu_backward), {a, b});
}

// ---- reductions ----

TEST_CASE("cuda: reductions over the last dim, over everything and over rows match the CPU") {
  if (skip_without_gpu()) return;
  const std::vector<Shape> shapes = {Shape{1, 1},    Shape{7, 7},     Shape{3, 33},
                                     Shape{33, 1000}, Shape{2, 50257}, Shape{10000, 7},
                                     Shape{2, 3, 33}};
  for (const Shape& shape : shapes) {
    Tensor a = aha::add_scalar(randn(shape, 50), 0.25f);
    check_parity("sum_last", unary_op(aha::sum_last), {a});
    check_parity("mean_last", unary_op(aha::mean_last), {a});
    check_parity("max_last", unary_op(aha::max_last), {a});
    check_parity("sum_all", unary_op(aha::sum_all), {a});
    check_parity("mean_all", unary_op(aha::mean_all), {a});
    check_parity("max_all", unary_op(aha::max_all), {a});
    check_parity("sum_rows", unary_op(aha::sum_rows), {a});
    check_parity("sum_squares", unary_op(aha::sum_squares), {a});
    check_parity("expand_last", [](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{aha::expand_last(in[0], 33)};
    }, {aha::sum_last(a)});
  }
}

TEST_CASE("cuda: reductions of tens of millions of elements match the CPU") {
  if (skip_without_gpu()) return;
  Tensor a = aha::add_scalar(randn(Shape{kLarge}, 51), 0.1f);
  check_parity("sum_all (large)", unary_op(aha::sum_all), {a});
  check_parity("mean_all (large)", unary_op(aha::mean_all), {a});
  check_parity("max_all (large)", unary_op(aha::max_all), {a});
  check_parity("sum_squares (large)", unary_op(aha::sum_squares), {a});
  // Few long rows (each split across blocks) and many short ones.
  Tensor two_rows = randn(Shape{2, kLarge / 2}, 52);
  check_parity("sum_last (large, 2 rows)", unary_op(aha::sum_last), {two_rows});
  check_parity("max_last (large, 2 rows)", unary_op(aha::max_last), {two_rows});
  Tensor many_rows = randn(Shape{4001, 5000}, 53);
  check_parity("mean_last (large, 4001 rows)", unary_op(aha::mean_last), {many_rows});
  check_parity("sum_rows (large, 4001 rows)", unary_op(aha::sum_rows), {many_rows});
}

// ---- softmax, layernorm ----

TEST_CASE("cuda: softmax, log_softmax and their backward kernels match the CPU") {
  if (skip_without_gpu()) return;
  for (int64_t cols : kAwkward)
    for (int64_t rows : {int64_t(1), int64_t(5)}) {
      Shape shape{rows, cols};
      Tensor x = randn(shape, 60, 3.0f), dy = randn(shape, 61);
      check_parity("softmax", unary_op(aha::softmax), {x});
      check_parity("log_softmax", unary_op(aha::log_softmax), {x});
      check_parity("softmax_backward", binary_op(aha::softmax_backward), {aha::softmax(x), dy});
      check_parity("log_softmax_backward", binary_op(aha::log_softmax_backward),
                   {aha::log_softmax(x), dy});
    }
  // Attention rows: masked scores of -inf add nothing, as on the CPU.
  Tensor scores = aha::causal_mask(randn(Shape{2, 33, 33}, 62), -INFINITY);
  check_parity("softmax of causally masked scores", unary_op(aha::softmax), {scores});
}

TEST_CASE("cuda: layernorm and layernorm_backward match the CPU") {
  if (skip_without_gpu()) return;
  const std::vector<Shape> shapes = {Shape{1, 1},    Shape{7, 7},     Shape{3, 33},
                                     Shape{5, 1000}, Shape{2, 50257}, Shape{4096, 33},
                                     Shape{2, 3, 64}};
  for (const Shape& shape : shapes) {
    int64_t C = shape.last();
    // A mean far from 0 tests the two-pass variance.
    Tensor x = aha::add_scalar(randn(shape, 70, 2.0f), 3.0f);
    Tensor gamma = aha::add_scalar(randn(Shape{C}, 71, 0.1f), 1.0f), beta = randn(Shape{C}, 72);
    Tensor dy = randn(shape, 73);
    check_parity("layernorm", [](const std::vector<Tensor>& in) {
      aha::LayerNormResult r = aha::layernorm(in[0], in[1], in[2], 1e-5f);
      return std::vector<Tensor>{r.y, r.mean, r.rstd};
    }, {x, gamma, beta});
    aha::LayerNormResult saved = aha::layernorm(x, gamma, beta, 1e-5f);
    check_parity("layernorm_backward", [](const std::vector<Tensor>& in) {
      aha::LayerNormGrads g = aha::layernorm_backward(in[0], in[1], in[2], in[3], in[4]);
      return std::vector<Tensor>{g.dx, g.dgamma, g.dbeta};
    }, {dy, x, gamma, saved.mean, saved.rstd});
  }
}

// ---- embedding and losses ----

TEST_CASE("cuda: embedding and embedding_backward match the CPU, repeated ids included") {
  if (skip_without_gpu()) return;
  struct Case {
    int64_t V, C, n;
  };
  for (const Case& c : std::vector<Case>{{1, 1, 1}, {7, 33, 50}, {50257, 64, 33}, {33, 1000, 7}}) {
    Tensor weight = randn(Shape{c.V, c.C}, 80);
    Tensor ids = random_ids(c.n, c.V, 81);
    check_parity("embedding", binary_op(aha::embedding), {weight, ids});
    Tensor dout = randn(Shape{c.n, c.C}, 82);
    const int64_t V = c.V;
    check_parity("embedding_backward", [V](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{aha::embedding_backward(in[0], in[1], V)};
    }, {dout, ids});
  }
}

TEST_CASE("cuda: embedding writes NaN rows for ids that are not integers in [0, V)") {
  if (skip_without_gpu()) return;
  Tensor weight = randn(Shape{5, 3}, 83).to(kGPU);
  Tensor ids = Tensor::from_vector({2, 5, -1, 1.5f}, Shape{4}, kGPU);
  Tensor out = aha::embedding(weight, ids);
  for (int64_t c = 0; c < 3; ++c) {
    CHECK(out.at({0, c}) == weight.at({2, c}));
    CHECK(std::isnan(out.at({1, c})));
    CHECK(std::isnan(out.at({2, c})));
    CHECK(std::isnan(out.at({3, c})));
  }
}

TEST_CASE("cuda: cross_entropy and its backward match the CPU, masked rows included") {
  if (skip_without_gpu()) return;
  for (int64_t V : kAwkward)
    for (int64_t N : {int64_t(1), int64_t(7), int64_t(33)}) {
      Tensor logits = randn(Shape{N, V}, 90, 2.0f);
      Tensor targets = random_ids(N, V, 91), mask = random_mask(N, 92);
      check_parity("cross_entropy", [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{aha::cross_entropy(in[0], in[1], in[2])};
      }, {logits, targets, mask});
      check_parity("cross_entropy_backward", [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{aha::cross_entropy_backward(in[0], in[1], in[2], 0.5f)};
      }, {logits, targets, mask});
    }
  // Every row masked: the loss is 0 and so is the gradient.
  Tensor logits = randn(Shape{3, 7}, 93).to(kGPU), targets = Tensor::zeros(Shape{3}, kGPU);
  Tensor none = Tensor::zeros(Shape{3}, kGPU);
  CHECK(aha::cross_entropy(logits, targets, none).item() == 0.0f);
  CHECK(aha::sum_squares(aha::cross_entropy_backward(logits, targets, none, 1.0f)).item() == 0.0f);
  // A bad target on an unmasked row makes the loss NaN (the CPU throws).
  Tensor bad = Tensor::from_vector({0, 7, 1}, Shape{3}, kGPU);
  CHECK(std::isnan(aha::cross_entropy(logits, bad, Tensor::ones(Shape{3}, kGPU)).item()));
}

TEST_CASE("cuda: token_logprobs, its backward and softmax_entropy match the CPU") {
  if (skip_without_gpu()) return;
  for (int64_t V : kAwkward)
    for (int64_t N : {int64_t(1), int64_t(7), int64_t(33)}) {
      Tensor logits = randn(Shape{N, V}, 100, 2.0f);
      Tensor tokens = random_ids(N, V, 101), dout = randn(Shape{N}, 102);
      check_parity("token_logprobs", binary_op(aha::token_logprobs), {logits, tokens});
      check_parity("token_logprobs_backward", [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{aha::token_logprobs_backward(in[0], in[1], in[2])};
      }, {logits, tokens, dout});
      check_parity("softmax_entropy", unary_op(aha::softmax_entropy), {logits});
    }
  // A certain row (one huge logit): entropy and log-prob of that token ~0.
  Tensor peaked = Tensor::from_vector({0, 100, 0, 0}, Shape{1, 4}, kGPU);
  CHECK(std::fabs(aha::softmax_entropy(peaked).item()) < 1e-6f);
  CHECK(std::fabs(aha::token_logprobs(peaked, Tensor::ones(Shape{1}, kGPU)).item()) < 1e-6f);
  // A token outside [0, V) gives NaN (the CPU throws).
  Tensor bad = Tensor::from_vector({4}, Shape{1}, kGPU);
  CHECK(std::isnan(aha::token_logprobs(peaked, bad).item()));
}

// ---- layout ----

TEST_CASE("cuda: transpose_last2, permute_0213, concat0, slice0 and causal_mask match the CPU") {
  if (skip_without_gpu()) return;
  for (const Shape& shape : {Shape{1, 1}, Shape{7, 33}, Shape{3, 33, 1000}, Shape{2, 50257, 1},
                             Shape{2, 2, 65, 31}})
    check_parity("transpose_last2", unary_op(aha::transpose_last2), {randn(shape, 110)});
  for (const Shape& shape : {Shape{1, 1, 1, 1}, Shape{2, 7, 3, 33}, Shape{2, 33, 7, 64},
                             Shape{1, 3, 5, 1000}})
    check_parity("permute_0213", unary_op(aha::permute_0213), {randn(shape, 111)});
  check_parity("concat0", [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{aha::concat0(in)};
  }, {randn(Shape{1, 33}, 112), randn(Shape{7, 33}, 113), randn(Shape{0, 33}, 114),
      randn(Shape{1000, 33}, 115)});
  check_parity("slice0", [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{aha::slice0(in[0], 3, 40), aha::slice0(in[0], 0, 1),
                               aha::slice0(in[0], 49, 50)};
  }, {randn(Shape{50, 7, 3}, 116)});
  for (const Shape& shape : {Shape{1, 1}, Shape{7, 7}, Shape{2, 3, 33, 33}, Shape{5, 7, 33},
                             Shape{1, 1, 1000}})
    for (float fill : {-1e9f, -INFINITY})
      check_parity("causal_mask", [fill](const std::vector<Tensor>& in) {
        Tensor masked = aha::causal_mask(in[0], fill);
        // -inf entries would make the relative error NaN: compare where they are instead.
        return std::vector<Tensor>{aha::clamp_mask(masked, -1e30f, 1e30f),
                                   aha::clamp(masked, -1e30f, 1e30f)};
      }, {randn(shape, 117)});
}

// ---- in place and the optimiser ----

TEST_CASE("cuda: add_, mul_scalar_, axpy_ and adamw_step_ match the CPU") {
  if (skip_without_gpu()) return;
  for (int64_t n : {int64_t(1), int64_t(33), int64_t(50257), kLarge}) {
    Shape shape{n};
    check_parity("add_, mul_scalar_, axpy_", [](const std::vector<Tensor>& in) {
      Tensor a = in[0].clone();
      aha::add_(a, in[1]);
      aha::mul_scalar_(a, -1.5f);
      aha::axpy_(a, 0.25f, in[1]);
      return std::vector<Tensor>{a};
    }, {randn(shape, 120), randn(shape, 121)});
    check_parity("adamw_step_", [](const std::vector<Tensor>& in) {
      Tensor p = in[0].clone(), m = Tensor::zeros(in[0].shape(), in[0].device());
      Tensor v = Tensor::zeros(in[0].shape(), in[0].device());
      for (int64_t step = 1; step <= 3; ++step) {
        Tensor grad = aha::mul_scalar(in[1], (float)step);
        aha::adamw_step_(p, grad, m, v, {1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, step});
      }
      return std::vector<Tensor>{p, m, v};
    }, {randn(shape, 122), randn(shape, 123)});
  }
}
