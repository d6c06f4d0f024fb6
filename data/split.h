// Train/test splits by problem identity. A problem's canonical text hashes to
// one split, forever: the corpus and RL prompts draw only from Train, eval only
// from Test, so no problem the model was trained on is ever scored as held out.
// The out-of-distribution set is the task's ood_difficulty (task.h), above the
// training range, drawn from Test as well.
#pragma once

#include <cstdint>
#include <string>

#include "data/task.h"
#include "tensor/random.h"

namespace aha {
namespace data {

enum class Split { Train, Test };

// One problem in kTestBuckets goes to Test.
constexpr uint64_t kTestBuckets = 10;

const char* split_name(Split split);  // "train" / "test"
// 64-bit FNV-1a of the text, then the SplitMix64 finaliser so every bit of
// the text reaches the low bits the bucket is taken from.
uint64_t identity_hash(const std::string& text);
Split split_of(const Problem& problem);
// make_problem until the problem falls in `split` (about 1.1 draws for Train,
// 10 for Test). Throws if no problem of that split turns up in many draws.
Problem sample_problem(TaskKind task, int difficulty, Split split, Generator& rng);

}  // namespace data
}  // namespace aha
