#include "data/split.h"

#include <stdexcept>

namespace aha {
namespace data {

namespace {
// No split of any task is nearly empty, so this many misses means a bug.
constexpr int kMaxDraws = 100000;
}  // namespace

const char* split_name(Split split) { return split == Split::Train ? "train" : "test"; }

uint64_t identity_hash(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;  // FNV-1a prime
  }
  return rng::mix64(hash);
}

Split split_of(const Problem& problem) {
  return identity_hash(problem.text) % kTestBuckets == 0 ? Split::Test : Split::Train;
}

Problem sample_problem(TaskKind task, int difficulty, Split split, Generator& rng) {
  for (int draw = 0; draw < kMaxDraws; ++draw) {
    Problem problem = make_problem(task, difficulty, rng);
    if (split_of(problem) == split) return problem;
  }
  throw std::runtime_error(std::string("sample_problem: no ") + split_name(split) + " problem of " +
                           task_name(task) + " difficulty " + std::to_string(difficulty) + " in " +
                           std::to_string(kMaxDraws) + " draws");
}

}  // namespace data
}  // namespace aha
