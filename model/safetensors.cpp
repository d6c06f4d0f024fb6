#include "model/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace aha {
namespace {

// The Rust reference implementation refuses headers above 100 MB; so do we,
// before allocating one from a corrupt length field.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// It also pads the header with spaces so the data starts 8-byte aligned.
constexpr size_t kHeaderAlign = 8;

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

SafetensorsFile read_safetensors(const std::string& path) {
  require_little_endian(path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) file_error(path, "cannot open: " + errno_text());
  const uint64_t file_size = (uint64_t)in.tellg();
  in.seekg(0);
  if (file_size < 8)
    file_error(path, "truncated: " + std::to_string(file_size) + " bytes, less than the 8-byte header length");
  uint64_t header_length = 0;
  in.read(reinterpret_cast<char*>(&header_length), sizeof(header_length));
  if (header_length > file_size - 8)
    file_error(path, "header length " + std::to_string(header_length) + " goes beyond the file (" +
                         std::to_string(file_size) + " bytes): truncated or not a safetensors file");
  if (header_length > kMaxHeaderBytes)
    file_error(path, "header length " + std::to_string(header_length) + " exceeds the 100 MB limit");
  std::string text((size_t)header_length, '\0');
  in.read(&text[0], (std::streamsize)header_length);
  if (!in) file_error(path, "could not read the " + std::to_string(header_length) + "-byte header");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    file_error(path, std::string("bad header JSON: ") + e.what());
  }
  if (!header.is_object()) file_error(path, "bad header: the JSON is not an object");

  SafetensorsFile out;
  out.path = path;
  const uint64_t data_size = file_size - 8 - header_length;
  struct Entry {
    std::string name;
    Shape shape;
    uint64_t begin;
  };
  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) file_error(path, "__metadata__ is not an object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) file_error(path, "__metadata__ value of '" + key + "' is not a string");
        out.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string what = "tensor '" + name + "': ";
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
      file_error(path, what + "needs dtype, shape and data_offsets");
    if (!info["dtype"].is_string() || info["dtype"].get<std::string>() != "F32")
      file_error(path, what + "dtype " + info["dtype"].dump() + " is not supported (only F32)");
    const nlohmann::json& dims = info["shape"];
    if (!dims.is_array() || dims.size() > (size_t)Shape::kMaxDims)
      file_error(path, what + "shape " + dims.dump() + " is not a list of at most 4 sizes");
    std::vector<int64_t> sizes;
    for (const auto& d : dims) {
      if (!d.is_number_unsigned()) file_error(path, what + "shape " + dims.dump() + " has a bad size");
      sizes.push_back(d.get<int64_t>());
    }
    Shape shape(sizes);
    const nlohmann::json& offsets = info["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      file_error(path, what + "data_offsets " + offsets.dump() + " are not two byte offsets");
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size)
      file_error(path, what + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                           "] out of range: the data section has " + std::to_string(data_size) +
                           " bytes (truncated file?)");
    if (end - begin != (uint64_t)shape.numel() * sizeof(float))
      file_error(path, what + "data_offsets span " + std::to_string(end - begin) + " bytes but shape " +
                           shape.str() + " needs " + std::to_string(shape.numel() * sizeof(float)));
    entries.push_back({name, shape, begin});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape);
    in.seekg((std::streamoff)(8 + header_length + e.begin));
    in.read(reinterpret_cast<char*>(t.data()), (std::streamsize)(t.numel() * sizeof(float)));
    if (!in) file_error(path, "could not read the data of tensor '" + e.name + "'");
    out.tensors.push_back({e.name, t});
  }
  return out;
}

}  // namespace aha
