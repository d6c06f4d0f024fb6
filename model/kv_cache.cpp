#include "model/kv_cache.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace aha {
namespace {

// [B, H, Tn, D] -> [Tn, B, H*D]: viewed as [1, B*H, Tn, D], one permute gives
// [1, Tn, B*H, D], which is the time-major layout.
Tensor to_time_major(const Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), D = x.size(3);
  return permute_0213(x.reshape(Shape{1, B * H, T, D})).reshape(Shape{T, B, H * D});
}

// [Tk, B, H*D] -> [B, H, Tk, D], the inverse of to_time_major.
Tensor to_batch_major(const Tensor& x, int n_heads, int head_dim) {
  const int64_t T = x.size(0), B = x.size(1);
  return permute_0213(x.reshape(Shape{1, T, B * n_heads, head_dim})).reshape(Shape{B, n_heads, T, head_dim});
}

// The rows `rows` of dim 1 of x [Tk, B, C], in order: [Tk, rows.size(), C].
Tensor select_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  const int64_t T = x.size(0), B = x.size(1), C = x.size(2);
  Tensor by_row = permute_0213(x.reshape(Shape{1, T, B, C})).reshape(Shape{B, T * C});
  std::vector<Tensor> parts;
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;  // a run of consecutive rows is one slice
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    parts.push_back(slice0(by_row, rows[i], rows[j - 1] + 1));
    i = j;
  }
  const int64_t kept = (int64_t)rows.size();
  return permute_0213(concat0(parts).reshape(Shape{1, kept, T, C})).reshape(Shape{T, kept, C});
}

}  // namespace

KVCache::KVCache(const GPTConfig& config, std::vector<int64_t> pads)
    : n_heads_(config.n_heads),
      head_dim_(config.head_dim()),
      keys_((size_t)config.n_layers),
      values_((size_t)config.n_layers),
      pads_(std::move(pads)) {
  if (pads_.empty()) throw std::runtime_error("KVCache: a batch needs at least one row");
  for (int64_t p : pads_)
    if (p < 0) throw std::runtime_error("KVCache: negative padding " + std::to_string(p));
}

int64_t KVCache::length() const { return keys_[0].defined() ? keys_[0].size(0) : 0; }

bool KVCache::any_padding() const {
  return std::any_of(pads_.begin(), pads_.end(), [](int64_t p) { return p > 0; });
}

std::pair<Tensor, Tensor> KVCache::append(int layer, const Tensor& keys, const Tensor& values) {
  if (layer < 0 || layer >= (int)keys_.size())
    throw std::runtime_error("KVCache::append: layer " + std::to_string(layer) + " of " +
                             std::to_string(keys_.size()));
  const Shape expected{batch(), n_heads_, keys.ndim() == 4 ? keys.size(2) : 0, head_dim_};
  if (keys.shape() != expected || values.shape() != expected)
    throw std::runtime_error("KVCache::append: keys " + keys.shape().str() + " and values " +
                             values.shape().str() + " must be [B=" + std::to_string(batch()) +
                             ", H=" + std::to_string(n_heads_) + ", Tn, D=" + std::to_string(head_dim_) + "]");
  Tensor& k = keys_[(size_t)layer];
  Tensor& v = values_[(size_t)layer];
  k = k.defined() ? concat0({k, to_time_major(keys)}) : to_time_major(keys);  // [Tk, B, H*D]
  v = v.defined() ? concat0({v, to_time_major(values)}) : to_time_major(values);
  return {to_batch_major(k, n_heads_, head_dim_), to_batch_major(v, n_heads_, head_dim_)};
}

void KVCache::keep_rows(const std::vector<int64_t>& rows) {
  if (rows.empty()) throw std::runtime_error("KVCache::keep_rows: no rows left (stop decoding instead)");
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i] < 0 || rows[i] >= batch() || (i > 0 && rows[i] <= rows[i - 1]))
      throw std::runtime_error("KVCache::keep_rows: rows must be increasing indices below " +
                               std::to_string(batch()) + ", got " + std::to_string(rows[i]) +
                               " at " + std::to_string(i));
  if ((int64_t)rows.size() == batch()) return;
  std::vector<int64_t> pads;
  for (int64_t r : rows) pads.push_back(pads_[(size_t)r]);
  // Positions before `shared` are padding in every kept row: no query will
  // ever read them, so they leave the cache.
  const int64_t shared = length() > 0 ? *std::min_element(pads.begin(), pads.end()) : 0;
  for (size_t l = 0; l < keys_.size(); ++l) {
    if (!keys_[l].defined()) continue;
    const int64_t T = keys_[l].size(0);
    keys_[l] = slice0(select_rows(keys_[l], rows), shared, T);
    values_[l] = slice0(select_rows(values_[l], rows), shared, T);
  }
  for (int64_t& p : pads) p -= shared;
  pads_ = pads;
}

}  // namespace aha
