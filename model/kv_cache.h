// The KV cache: every layer's keys and values of the positions seen so far, so
// that generating one more token costs one position of compute instead of a
// forward pass over the whole sequence.
//
// Rows are left-padded: row b's first pads(b) cache positions hold padding
// (masked out of attention, see model/inference.cpp), and every row's newest
// token sits at the same cache position length() - 1. So one decode step
// appends one position for the whole batch.
//
// Layout: time-major, [Tk, B, H*D] per layer. Tensors are contiguous and
// concatenate only along dim 0 (tensor/ops.h), so putting time first makes an
// append a concat0; attention reads the cache as [B, H, Tk, D] through one
// permute_0213. Both are copies of the cache per step, the price of composing
// from existing ops; the batched decoder (model/decoder.h) keeps a preallocated
// cache written in place instead, and is what rollouts run.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "tensor/tensor.h"

namespace aha {

class KVCache {
 public:
  KVCache(const GPTConfig& config, std::vector<int64_t> pads);

  // Appends keys and values [B, H, Tn, D] of `layer`; returns all of that
  // layer's keys and values so far, [B, H, Tk, D] each.
  std::pair<Tensor, Tensor> append(int layer, const Tensor& keys, const Tensor& values);

  int64_t length() const;  // Tk, padding included (layer 0's; every layer agrees after a full step)
  int64_t batch() const { return (int64_t)pads_.size(); }
  int64_t pad(int64_t row) const { return pads_.at((size_t)row); }
  const std::vector<int64_t>& pads() const { return pads_; }
  bool any_padding() const;

  // Keeps only `rows` (increasing indices into the current batch), in that
  // order: finished sequences leave the batch, so later steps do not compute
  // them. Cache positions that are padding in every remaining row are dropped.
  void keep_rows(const std::vector<int64_t>& rows);

 private:
  int n_heads_, head_dim_;
  std::vector<Tensor> keys_, values_;  // per layer [Tk, B, H*D]; undefined until the first append
  std::vector<int64_t> pads_;
};

}  // namespace aha
