// Matrix products through cuBLAS, on the one stream. Mirrors tensor/cpu/matmul.cpp.
//
// cuBLAS is column-major; our tensors are row-major. A row-major [R, C] matrix
// read as column-major is its transpose [C, R]. So instead of C = op(A) op(B)
// we ask cuBLAS for C^T = op(B)^T op(A)^T: pass B first, A second, swap M and
// N, and every matrix is used exactly as it is stored, with no copies.
#include <cublasLt.h>

#include <limits>
#include <map>
#include <string>
#include <tuple>

#include "tensor/cuda/bf16.cuh"
#include "tensor/cuda/check.h"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// The user's TF32 switch (tensor/ops.h), applied when the handle is created if
// set before that. TF32 keeps float32's range with a 10-bit mantissa in the
// tensor cores' products, sums in float32: ~8x the float32 rate on Ampere+.
bool g_tf32 = true;

cublasMath_t math_mode() { return g_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH; }

// An explicit workspace, so that cuBLAS never allocates one inside a CUDA
// graph capture (tensor/step_graph.h); 32 MiB is NVIDIA's advice for Hopper.
// cuBLAS and cuBLASLt share it: both run on the one stream, one call at a time.
constexpr size_t kWorkspaceBytes = size_t(32) << 20;

void* workspace() {
  static void* the_workspace = [] {
    void* w = nullptr;
    AHA_CUDA_CHECK(cudaMalloc(&w, kWorkspaceBytes));
    return w;
  }();
  return the_workspace;
}

cublasHandle_t handle() {
  static cublasHandle_t the_handle = [] {
    cublasHandle_t h = nullptr;
    AHA_CUDA_CHECK(cublasCreate(&h));
    AHA_CUDA_CHECK(cublasSetStream(h, stream()));
    AHA_CUDA_CHECK(cublasSetMathMode(h, math_mode()));
    AHA_CUDA_CHECK(cublasSetWorkspace(h, workspace(), kWorkspaceBytes));
    return h;
  }();
  return the_handle;
}

cublasLtHandle_t lt_handle() {
  static cublasLtHandle_t the_handle = [] {
    cublasLtHandle_t h = nullptr;
    AHA_CUDA_CHECK(cublasLtCreate(&h));
    return h;
  }();
  return the_handle;
}

int to_int(int64_t value, const char* what) {
  if (value > std::numeric_limits<int>::max())
    throw std::runtime_error(std::string("cuda::matmul: ") + what + " = " + std::to_string(value) +
                             " exceeds cuBLAS's int range");
  return (int)value;
}

}  // namespace

void set_tf32(bool enabled) {
  g_tf32 = enabled;
  AHA_CUDA_CHECK(cublasSetMathMode(handle(), math_mode()));
}

bool tf32_enabled() { return g_tf32; }

namespace {

// The column-major call for C[b] = op(A[b]) @ op(B[b]) (below), shared by the
// fp32 and bf16 products: operands swapped, M and N swapped, leading dims the
// stored row lengths. A shared weight times a batch of untransposed inputs is
// one tall product, [batch*M, K] @ [K, N], which cuBLAS runs faster than
// `batch` small ones.
struct StridedGemm {
  cublasOperation_t op_b, op_a;  // cuBLAS's first operand is our B
  int n, m, k, ldb, lda, ldc, batch;
  long long stride_b, stride_a, stride_c;
};

StridedGemm strided_gemm(int64_t batch, int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b,
                         bool b_shared) {
  if (b_shared && !trans_a && batch > 1) {
    M *= batch;
    batch = 1;
  }
  return StridedGemm{trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                     trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                     to_int(N, "N"),
                     to_int(M, "M"),
                     to_int(K, "K"),
                     to_int(trans_b ? K : N, "ldb"),
                     to_int(trans_a ? M : K, "lda"),
                     to_int(N, "ldc"),
                     to_int(batch, "batch"),
                     b_shared ? 0 : K * N,
                     M * K,
                     M * N};
}

}  // namespace

// C[b] = op(A[b]) @ op(B[b]); A[b] stored [M, K] ([K, M] if trans_a), B[b] stored
// [K, N] ([N, K] if trans_b), C[b] [M, N], all row-major and contiguous.
// In cuBLAS's column-major terms: C^T [N, M] = op(B)^T [N, K] @ op(A)^T [K, M], where
// the stored B is already B^T (transa = N) unless trans_b (then transa = T), and
// likewise for A. Leading dims are the stored row lengths.
void matmul(const float* a, const float* b, float* c, int64_t batch, int64_t M, int64_t N,
            int64_t K, bool trans_a, bool trans_b, bool b_shared) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const StridedGemm g = strided_gemm(batch, M, N, K, trans_a, trans_b, b_shared);
  const float alpha = 1.0f, beta = 0.0f;
  AHA_CUDA_CHECK(cublasSgemmStridedBatched(handle(), g.op_b, g.op_a, g.n, g.m, g.k, &alpha, b, g.ldb, g.stride_b, a,
                                           g.lda, g.stride_a, &beta, c, g.ldc, g.stride_c, g.batch));
}

// The same product with bf16 A and B (tensor cores at the bf16 rate), float32
// sums (CUBLAS_COMPUTE_32F), C float32 or rounded once to bf16 as it is written.
void matmul_bf16(const uint16_t* a, const uint16_t* b, void* c, DType out, int64_t batch, int64_t M, int64_t N,
                 int64_t K, bool trans_a, bool trans_b, bool b_shared) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const StridedGemm g = strided_gemm(batch, M, N, K, trans_a, trans_b, b_shared);
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType c_type = out == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  AHA_CUDA_CHECK(cublasGemmStridedBatchedEx(handle(), g.op_b, g.op_a, g.n, g.m, g.k, &alpha, b, CUDA_R_16BF, g.ldb,
                                            g.stride_b, a, CUDA_R_16BF, g.lda, g.stride_a, &beta, c, c_type, g.ldc,
                                            g.stride_c, g.batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

namespace {

// A cuBLASLt product with the bias epilogue, for one shape and element types:
// its descriptors and the algorithm the heuristic picked, made once and kept
// (a few microseconds of host work saved per call; shapes repeat every step).
struct LinearPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t w = nullptr, x = nullptr, y = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool found = false;  // false: no algorithm takes this shape; fall back
};

// x and w are `inputs` (CUDA_R_32F or CUDA_R_16BF), y (and the residual, C)
// and the bias are `output` (the epilogue's default bias type is y's).
LinearPlan& linear_plan(int64_t rows, int64_t N, int64_t K, cudaDataType inputs = CUDA_R_32F,
                        cudaDataType output = CUDA_R_32F) {
  static std::map<std::tuple<int64_t, int64_t, int64_t, bool, cudaDataType, cudaDataType>, LinearPlan> plans;
  const bool fp32 = inputs == CUDA_R_32F;
  const bool tf32 = fp32 && g_tf32;  // bf16 inputs ignore the TF32 switch
  const auto key = std::make_tuple(rows, N, K, tf32, inputs, output);
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;
  LinearPlan& plan = plans[key];
  AHA_CUDA_CHECK(cublasLtMatmulDescCreate(
      &plan.desc, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  AHA_CUDA_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                sizeof(epilogue)));
  // Column-major, as in matmul(): y^T [N, rows] = w^T [N, K] @ x^T [K, rows],
  // each stored matrix read as it is; the bias runs along y^T's N rows.
  AHA_CUDA_CHECK(cublasLtMatrixLayoutCreate(&plan.w, inputs, N, K, N));
  AHA_CUDA_CHECK(cublasLtMatrixLayoutCreate(&plan.x, inputs, K, rows, K));
  AHA_CUDA_CHECK(cublasLtMatrixLayoutCreate(&plan.y, output, N, rows, N));
  cublasLtMatmulPreference_t preference = nullptr;
  AHA_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  const size_t bytes = kWorkspaceBytes;
  AHA_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &bytes, sizeof(bytes)));
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(lt_handle(), plan.desc, plan.w, plan.x, plan.y,
                                                               plan.y, preference, 1, &result, &returned);
  AHA_CUDA_CHECK(cublasLtMatmulPreferenceDestroy(preference));
  plan.found = status == CUBLAS_STATUS_SUCCESS && returned > 0;
  if (plan.found) plan.algo = result.algo;
  return plan;
}

}  // namespace

// y = x @ w + b (+ residual) in one cuBLASLt call, D = alpha A B + beta C
// with C = the residual (beta 1) or nothing (beta 0): the bias epilogue adds
// b[n] to every row's column n as the tile is written, so y is written once.
// Shapes no cuBLASLt algorithm takes (none expected) run as matmul() and adds.
void linear(const float* x, const float* w, const float* b, const float* residual, float* y, int64_t rows,
            int64_t N, int64_t K) {
  if (rows <= 0 || N <= 0) return;
  LinearPlan* plan = K > 0 ? &linear_plan(rows, N, K) : nullptr;
  if (!plan || !plan->found) {
    matmul(x, w, y, 1, rows, N, K, false, false, true);
    binary(BinaryOp::Add, y, b, y, rows * N, N, Broadcast::LastDim);
    if (residual) binary(BinaryOp::Add, y, residual, y, rows * N, N, Broadcast::Same);
    return;
  }
  AHA_CUDA_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof(b)));
  const float alpha = 1.0f, beta = residual ? 1.0f : 0.0f;
  const float* c = residual ? residual : y;  // read only when beta != 0
  AHA_CUDA_CHECK(cublasLtMatmul(lt_handle(), plan->desc, &alpha, w, plan->w, x, plan->x, &beta, c, plan->y, y,
                                plan->y, &plan->algo, workspace(), kWorkspaceBytes, stream()));
}

namespace {

// y[r, n] = bf16(y32[r, n] + b[n]), b bf16: a bias epilogue for a bf16 y, in one pass.
// Grid-stride over y; reads y32 once (coalesced), b from cache, writes y once.
__global__ void add_bias_round_kernel(const float* y32, const unsigned short* b, unsigned short* y, long long n,
                                      long long N) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    y[i] = (unsigned short)bf16_round(y32[i] + bf16_widen(b[i % N]));
}

}  // namespace

// The bf16 linear: x, w bf16 (A and B), y float32 with the residual as C (beta
// 1), else bf16; the bias in y's type (tensor/ops_matmul.cpp rounds it to bf16
// either way). The epilogue adds the bias to the float32 sums and rounds once
// as it writes y. Without a plan (none expected), the same sums unfused: a
// float32 product, then the adds (and the one rounding, in the bias's pass).
void linear_bf16(const uint16_t* x, const uint16_t* w, const void* b, const float* residual, void* y,
                 int64_t rows, int64_t N, int64_t K) {
  if (rows <= 0 || N <= 0) return;
  const cudaDataType y_type = residual ? CUDA_R_32F : CUDA_R_16BF;
  // Rows of whole 16-byte chunks only (K and N multiples of 8): on an H100
  // with CUDA 13, cuBLASLt picked an algorithm for x [33, 13] @ w [13, 1000]
  // that wrote wrong values (tests/test_tensor_bf16_matmul.cpp); the model's
  // widths are all multiples of 64, and odd shapes take the unfused path.
  const bool aligned = K % 8 == 0 && N % 8 == 0;
  LinearPlan* plan = K > 0 && aligned ? &linear_plan(rows, N, K, CUDA_R_16BF, y_type) : nullptr;
  if (!plan || !plan->found) {
    float* y32 = residual ? static_cast<float*>(y) : alloc(rows * N);
    if (K > 0) matmul_bf16(x, w, y32, DType::F32, 1, rows, N, K, false, false, true);
    else fill(y32, rows * N, 0.0f);
    if (residual) {
      binary(BinaryOp::Add, y32, static_cast<const float*>(b), y32, rows * N, N, Broadcast::LastDim);
      binary(BinaryOp::Add, y32, residual, y32, rows * N, N, Broadcast::Same);
      return;
    }
    add_bias_round_kernel<<<grid_for(rows * N), kThreads, 0, stream()>>>(
        y32, static_cast<const uint16_t*>(b), static_cast<uint16_t*>(y), rows * N, N);
    AHA_CUDA_CHECK(cudaGetLastError());
    free(y32);
    return;
  }
  AHA_CUDA_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof(b)));
  const float alpha = 1.0f, beta = residual ? 1.0f : 0.0f;
  const void* c = residual ? static_cast<const void*>(residual) : y;  // read only when beta != 0
  AHA_CUDA_CHECK(cublasLtMatmul(lt_handle(), plan->desc, &alpha, w, plan->w, x, plan->x, &beta, c, plan->y, y,
                                plan->y, &plan->algo, workspace(), kWorkspaceBytes, stream()));
}

}  // namespace cuda
}  // namespace aha
