#include "model/output_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace aha {
namespace {

namespace fs = std::filesystem;

std::string errno_text() { return std::strerror(errno); }

std::string temp_path_for(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

fs::path folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// The path with symbolic links and "." / ".." resolved as far as it exists.
fs::path normal_form(const fs::path& p) {
  std::error_code error;
  fs::path canonical = fs::weakly_canonical(p, error);
  if (!error) return canonical;
  return fs::absolute(p, error).lexically_normal();
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code error_a, error_b;
  const bool a_exists = fs::exists(a, error_a), b_exists = fs::exists(b, error_b);
  if (a_exists && b_exists) {
    std::error_code error;
    const bool same = fs::equivalent(a, b, error);
    if (!error) return same;
  } else if (a_exists != b_exists && !error_a && !error_b) {
    return false;  // one is there, the other is not: two files
  }
  return normal_form(a) == normal_form(b);
}

// Removes the temporary file unless commit() was reached: every error path
// of a write leaves the folder as it found it.
class TempFile {
 public:
  explicit TempFile(const std::string& target) : target_(target), path_(temp_path_for(target)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create the temporary file '" + path_ + "': " + errno_text());
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const std::string& bytes) {
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      const ssize_t done = ::write(fd_, p, left);
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0) fail("write failed: " + errno_text());
      p += done;
      left -= (size_t)done;
    }
  }

  // The data on disk first, then the rename, then the folder's entry: after a
  // power cut the target is the old file or the new one, never a mix.
  void commit() {
    if (::fsync(fd_) != 0) fail("fsync failed: " + errno_text());
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close failed: " + errno_text());
    if (::rename(path_.c_str(), target_.c_str()) != 0)
      fail("cannot rename '" + path_ + "' over it: " + errno_text());
    committed_ = true;
    const int dir = ::open(folder_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("cannot write '" + target_ + "': " + what);
  }
  std::string target_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

// Pass 1, without side effects: what an output may not be.
void check_output(const std::string& command, const OutputPath& out, const std::vector<NamedPath>& inputs) {
  const std::string named = command + ": " + out.option + " '" + out.path + "'";
  std::error_code error;
  const fs::file_status status = fs::status(out.path, error);
  if (fs::is_directory(status)) throw std::runtime_error(named + " is a directory; name a file");
  if (fs::exists(status) && !fs::is_regular_file(status))
    throw std::runtime_error(named + " is not a regular file (a device, a pipe, ...); name a regular file");
  for (const NamedPath& in : inputs)
    if (!in.path.empty() && in.option != out.may_replace && same_file(out.path, in.path))
      throw std::runtime_error(named + " is the same file as " + in.option +
                               (in.path == out.path ? "" : " '" + in.path + "'") +
                               "; writing it would destroy the input: choose another " + out.option);
}

// Pass 2: the folder exists (made if missing) and takes a new file.
void prepare_output(const std::string& command, const OutputPath& out) {
  const std::string named = command + ": " + out.option + " '" + out.path + "'";
  const fs::path folder = folder_of(out.path);
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) throw std::runtime_error(named + ": cannot make its folder '" + folder.string() + "': " + error.message());
  sweep_stale_temp_files(out.path);
  // A bad folder is found now, not at the first save after hours of training.
  const std::string probe = temp_path_for(out.path);
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error(named + " cannot be written: no new file can be made in '" + folder.string() +
                             "': " + errno_text());
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace

void check_output_paths(const std::string& command, const std::vector<OutputPath>& outputs,
                        const std::vector<NamedPath>& inputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputPath& out = outputs[i];
    if (out.path.empty()) continue;
    check_output(command, out, inputs);
    for (size_t j = i + 1; j < outputs.size(); ++j)
      if (!outputs[j].path.empty() && same_file(out.path, outputs[j].path))
        throw std::runtime_error(command + ": " + out.option + " and " + outputs[j].option + " are the same file '" +
                                 out.path + "'; one would overwrite the other: choose another " + outputs[j].option);
  }
  for (const OutputPath& out : outputs)
    if (!out.path.empty()) prepare_output(command, out);
}

void write_file_atomically(const std::string& path, const std::string& text) {
  TempFile temp(path);
  temp.write(text);
  temp.commit();
}

void truncate_log_to_step(const std::string& path, int step) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) return;
    throw std::runtime_error("cannot read the log '" + path + "' to cut it back to step " + std::to_string(step));
  }
  std::ostringstream whole;
  whole << in.rdbuf();
  const std::string text = whole.str();

  struct Line {
    int64_t step;
    size_t begin, end;  // in `text`, the newline excluded
  };
  std::vector<Line> kept;
  bool changed = !text.empty() && text.back() != '\n';  // a last line without its newline
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    int64_t line_step = 0;
    bool ok = false;
    try {
      const nlohmann::json line = nlohmann::json::parse(text.begin() + (std::ptrdiff_t)begin,
                                                        text.begin() + (std::ptrdiff_t)end);
      ok = line.is_object() && line.contains("step") && line["step"].is_number_integer();
      if (ok) line_step = line["step"].get<int64_t>();
    } catch (const nlohmann::json::exception&) {
      ok = false;  // a line cut short by a kill
    }
    if (!ok) {
      changed = true;
    } else {
      // A later copy of a step replaces the earlier ones (a resume that an
      // older aha appended without cutting the log).
      while (!kept.empty() && kept.back().step >= line_step) {
        kept.pop_back();
        changed = true;
      }
      if (line_step <= step) {
        kept.push_back({line_step, begin, end});
      } else {
        changed = true;
      }
    }
    begin = end + 1;
  }
  if (!changed) return;  // nothing to cut: a long log is not rewritten for nothing
  std::string out;
  for (const Line& line : kept) out.append(text, line.begin, line.end - line.begin).push_back('\n');
  write_file_atomically(path, out);
}

int sweep_stale_temp_files(const std::string& path) {
  const fs::path folder = folder_of(path);
  const std::string prefix = fs::path(path).filename().string() + ".tmp";
  std::error_code error;
  fs::directory_iterator it(folder, error);
  if (error) return 0;
  int removed = 0;
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "" or ".<pid>"
    bool stale = rest.empty();
    if (rest.size() > 1 && rest[0] == '.' && rest.find_first_not_of("0123456789", 1) == std::string::npos &&
        rest.size() < 12) {
      const long pid = std::stol(rest.substr(1));
      // kill(pid, 0) asks whether the process exists without signalling it.
      stale = pid != (long)::getpid() && ::kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    }
    if (stale && entry.is_regular_file(error) && fs::remove(entry.path(), error)) ++removed;
  }
  return removed;
}

}  // namespace aha
