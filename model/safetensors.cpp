#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "model/metadata_field.h"

namespace aha {
namespace {

// The reference pads the header with spaces so the data starts 8-byte aligned; so do we.
constexpr size_t kHeaderAlign = 8;
static_assert(kMaxSafetensorsDims == Shape::kMaxDims, "the header parser takes the shapes a Shape holds");

[[noreturn]] void file_error(const std::string& path, const std::string& what) {
  throw std::runtime_error("safetensors '" + path + "': " + what);
}

bool host_is_little_endian() {
  const uint32_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

void require_little_endian(const std::string& path) {
  if (!host_is_little_endian()) file_error(path, "this reader/writer supports little-endian hosts only");
}

std::string errno_text() { return std::strerror(errno); }

// Writes all of `bytes`, retrying short writes; false on an error (errno set).
bool write_all(int fd, const void* bytes, size_t n) {
  const char* p = static_cast<const char*>(bytes);
  while (n > 0) {
    ssize_t done = ::write(fd, p, n);
    if (done < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += done;
    n -= (size_t)done;
  }
  return true;
}

std::string folder_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The temporary file lives next to the target: rename() is atomic only
// within one file system.
class TempFile {
 public:
  explicit TempFile(const std::string& target)
      : target_(target), path_(target + ".tmp." + std::to_string(::getpid())) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd_ < 0) file_error(target_, "cannot create temporary file '" + path_ + "': " + errno_text());
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* bytes, size_t n) {
    if (!write_all(fd_, bytes, n)) file_error(target_, "write failed: " + errno_text());
  }

  // fsync the data, rename over the target, fsync the folder so the rename
  // itself survives a power cut.
  void commit() {
    if (::fsync(fd_) != 0) file_error(target_, "fsync failed: " + errno_text());
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) file_error(target_, "close failed: " + errno_text());
    if (::rename(path_.c_str(), target_.c_str()) != 0)
      file_error(target_, "cannot rename '" + path_ + "' over it: " + errno_text());
    committed_ = true;
    int dir = ::open(folder_of(target_).c_str(), O_RDONLY | O_DIRECTORY);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }

 private:
  std::string target_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

// A file opened for reading, which must be a regular file: a directory, a
// FIFO or a device (/dev/zero) has no size to check a header against, and
// reading one could block or never end. Opened non-blocking so that even a
// FIFO with no writer is refused at once rather than waited on.
class ReadFile {
 public:
  explicit ReadFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) file_error(path, "cannot open: " + errno_text());
    struct stat st;
    std::string refusal;
    if (::fstat(fd_, &st) != 0)
      refusal = "cannot stat: " + errno_text();
    else if (!S_ISREG(st.st_mode))
      refusal = std::string("not a regular file (") +
                (S_ISDIR(st.st_mode)                          ? "a directory"
                 : S_ISFIFO(st.st_mode)                       ? "a FIFO"
                 : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                              : "a socket or other special file") +
                ")";
    if (!refusal.empty()) {
      ::close(fd_);  // the destructor does not run for a constructor that throws
      file_error(path, refusal);
    }
    size_ = (uint64_t)st.st_size;
  }
  ~ReadFile() { ::close(fd_); }
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;

  uint64_t size() const { return size_; }

  // Exactly `n` bytes from `offset`, or an error naming `what`.
  void read_at(uint64_t offset, void* bytes, uint64_t n, const std::string& what) {
    char* p = static_cast<char*>(bytes);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, p, (size_t)n, (off_t)offset);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        file_error(path_, "could not read " + what + ": " + (got < 0 ? errno_text() : "the file ended early"));
      p += got;
      offset += (uint64_t)got;
      n -= (uint64_t)got;
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace

bool SafetensorsFile::has(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return true;
  return false;
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  file_error(path, "no tensor named '" + name + "'");
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  require_little_endian(path);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__" || !names.insert(name).second)
      file_error(path, "tensor name '" + name + "' is empty, reserved or repeated");
    if (!tensor.defined()) file_error(path, "tensor '" + name + "' is undefined");
    std::vector<int64_t> shape(tensor.shape().dims, tensor.shape().dims + tensor.ndim());
    uint64_t bytes = (uint64_t)tensor.numel() * sizeof(float);
    header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((kHeaderAlign - text.size() % kHeaderAlign) % kHeaderAlign, ' ');
  uint64_t length = text.size();

  TempFile file(path);
  file.write(&length, sizeof(length));  // little-endian: checked above
  file.write(text.data(), text.size());
  for (const auto& [name, tensor] : tensors) {
    std::vector<float> values = tensor.to_vector();
    file.write(values.data(), values.size() * sizeof(float));
  }
  file.commit();
}

SafetensorsFile read_safetensors(const std::string& path,
                                 const std::function<void(const SafetensorsHeader&)>& check_header) {
  require_little_endian(path);
  ReadFile file(path);
  const uint64_t file_size = file.size();
  if (file_size < 8)
    file_error(path, "truncated: " + std::to_string(file_size) + " bytes, less than the 8-byte header length");
  uint64_t header_length = 0;
  file.read_at(0, &header_length, sizeof(header_length), "the header length");  // little-endian: checked above
  checked_header_length(path, header_length, file_size);
  std::string text((size_t)header_length, '\0');
  file.read_at(8, &text[0], text.size(), "the header");
  const SafetensorsHeader header = parse_safetensors_header(path, text, file_size - 8 - header_length);
  if (check_header) check_header(header);

  // Only now, the header checked, does any tensor take memory: no more than the file's own bytes.
  SafetensorsFile out;
  out.path = path;
  out.metadata = header.metadata;
  for (const SafetensorsEntry& e : header.tensors) {
    Tensor t = Tensor::empty(Shape(e.shape));
    file.read_at(8 + header_length + e.begin, t.data(), e.end - e.begin,
                 "the data of tensor " + quoted_excerpt(e.name));
    out.tensors.push_back({e.name, t});
  }
  return out;
}

}  // namespace aha
