#include "autograd/profile.h"

#include <algorithm>
#include <stdexcept>

namespace aha {
namespace {

// The profile recording on this thread, if any (like the grad-mode flag, one
// per thread so a profile never times another thread's ops).
thread_local OpProfile* t_profile = nullptr;

}  // namespace

OpProfile::OpProfile(Device device) : device_(device) {
  if (t_profile) throw std::runtime_error("OpProfile: a profile is already recording on this thread");
  synchronize(device_);
  last_ = std::chrono::steady_clock::now();
  t_profile = this;
}

OpProfile::~OpProfile() { t_profile = nullptr; }

void OpProfile::mark(const std::string& name) {
  synchronize(device_);
  const auto now = std::chrono::steady_clock::now();
  OpTime& t = times_[name];
  t.name = name;
  t.calls += 1;
  t.ms += std::chrono::duration<double, std::milli>(now - last_).count();
  last_ = now;
}

std::vector<OpTime> OpProfile::times() const {
  std::vector<OpTime> out;
  for (const auto& entry : times_) out.push_back(entry.second);
  std::sort(out.begin(), out.end(), [](const OpTime& a, const OpTime& b) { return a.ms > b.ms; });
  return out;
}

void profile_mark(const char* name, const char* suffix) {
  if (t_profile) t_profile->mark(std::string(name) + suffix);
}

}  // namespace aha
