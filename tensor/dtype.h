// The element types of a tensor: a small header of its own, so that the
// kernel headers (tensor/cpu/kernels.h, tensor/cuda/kernels.h) need not
// include the Tensor API.
#pragma once

#include <string>

namespace aha {

// Element types. float32 is the default everywhere. bf16 (bfloat16: float32's
// sign and 8 exponent bits, 7 mantissa bits; a float32 with the low 16 bits
// rounded away) holds the activations of the `--dtype bf16` training path
// (model/gpt.h): half the bytes to move, twice the tensor-core rate. Weights,
// gradients of weights, optimizer state and every sum stay float32. Only the ops
// that say so take bf16 tensors; the rest refuse them (Tensor::data()).
enum class DType { F32, BF16 };
const char* dtype_name(DType dtype);        // "fp32" / "bf16"
DType parse_dtype(const std::string& name);  // "fp32" or "bf16"; throws on anything else

}  // namespace aha
