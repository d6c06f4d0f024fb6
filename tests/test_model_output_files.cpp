// The files a run writes (model/output_files.h): outputs checked before any
// work, writes that are whole or absent, a resumed log cut back atomically.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/output_files.h"

using namespace aha;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("aha_test_outputs_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Every file in `dir` whose name contains ".tmp".
std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp") != std::string::npos) found.push_back(entry.path().string());
  return found;
}

// A log of steps 1..n, each line padded to about `pad` bytes.
std::string make_log(int n, size_t pad = 0) {
  std::string log;
  for (int s = 1; s <= n; ++s)
    log += "{\"step\": " + std::to_string(s) + ", \"loss\": 1.5, \"pad\": \"" + std::string(pad, 'x') + "\"}\n";
  return log;
}

}  // namespace

TEST_CASE("check_output_paths: an output that is an input is refused, naming both options") {
  TempDir dir("same");
  const std::string base = dir.file("base.safetensors");
  write_file(base, "the base model");

  SUBCASE("the same path") {
    CHECK_THROWS_WITH_AS(check_output_paths("grpo", {{"--out", base, "--resume"}}, {{"--init", base}}),
                         doctest::Contains(("grpo: --out '" + base + "' is the same file as --init; writing it "
                                            "would destroy the input: choose another --out").c_str()),
                         std::runtime_error);
  }
  SUBCASE("another spelling of it: ./, .., a symbolic link, a hard link") {
    const std::string dotted = (dir.path / "." / "sub" / ".." / "base.safetensors").string();
    fs::create_directories(dir.path / "sub");
    fs::create_symlink(base, dir.file("link.safetensors"));
    fs::create_hard_link(base, dir.file("hard.safetensors"));
    for (const std::string& alias : {dotted, dir.file("link.safetensors"), dir.file("hard.safetensors")}) {
      CAPTURE(alias);
      CHECK_THROWS_WITH_AS(check_output_paths("eval", {{"--out", alias, ""}}, {{"--ckpt", base}}),
                           doctest::Contains("is the same file as --ckpt"), std::runtime_error);
    }
  }
  SUBCASE("a log that is the checkpoint resumed from; two outputs that are one file") {
    CHECK_THROWS_WITH_AS(check_output_paths("pretrain", {{"--out", dir.file("more.safetensors"), "--resume"}, {"--log", base, ""}},
                                            {{"--resume", base}}),
                         doctest::Contains(("--log '" + base + "' is the same file as --resume").c_str()), std::runtime_error);
    const std::string fresh = dir.file("new.safetensors");  // neither exists yet: compared by their names
    CHECK_THROWS_WITH_AS(check_output_paths("pretrain", {{"--out", fresh, ""}, {"--log", dir.file("./new.safetensors"), ""}}, {}),
                         doctest::Contains("--out and --log are the same file"), std::runtime_error);
  }
  // Nothing was written, and the input is whole.
  CHECK(read_file(base) == "the base model");
  CHECK(temp_files(dir.path).empty());
}

TEST_CASE("check_output_paths: --resume X --out X continues in place; distinct paths pass and get their folder") {
  TempDir dir("allowed");
  const std::string ckpt = dir.file("rl.safetensors");
  write_file(ckpt, "a checkpoint");
  check_output_paths("grpo", {{"--out", ckpt, "--resume"}, {"--log", dir.file("logs/rl.jsonl"), ""}},
                     {{"--resume", ckpt}, {"--init", dir.file("base.safetensors")}, {"--text", ""}});
  CHECK(fs::is_directory(dir.path / "logs"));  // made now, not at the first write
  CHECK(read_file(ckpt) == "a checkpoint");
  CHECK(temp_files(dir.path).empty());  // the probe file is gone
}

TEST_CASE("check_output_paths: a directory, a device, or a folder that cannot be made is refused at once") {
  TempDir dir("bad");
  CHECK_THROWS_WITH_AS(check_output_paths("grpo", {{"--out", dir.path.string(), ""}}, {}),
                       doctest::Contains(("--out '" + dir.path.string() + "' is a directory").c_str()), std::runtime_error);
  CHECK_THROWS_WITH_AS(check_output_paths("eval", {{"--out", "/dev/null", ""}}, {}),
                       doctest::Contains("is not a regular file"), std::runtime_error);
  // The folder would have to be made inside a regular file.
  write_file(dir.file("plain"), "x");
  CHECK_THROWS_WITH_AS(check_output_paths("pretrain", {{"--log", dir.file("plain/logs/a.jsonl"), ""}}, {}),
                       doctest::Contains(("pretrain: --log '" + dir.file("plain/logs/a.jsonl") + "': cannot make its folder").c_str()),
                       std::runtime_error);
}

TEST_CASE("stale temporary files of a killed writer are swept; a live process's are kept") {
  TempDir dir("sweep");
  const std::string out = dir.file("rl.safetensors");
  // pid 1 is alive (init); a pid above the kernel's pid_max is not.
  write_file(out + ".tmp.1", "live writer");
  write_file(out + ".tmp.99999999", "killed writer");
  write_file(out + ".tmp", "older aha");
  write_file(dir.file("other.safetensors.tmp.99999999"), "another output's");
  CHECK(sweep_stale_temp_files(out) == 2);
  CHECK(fs::exists(out + ".tmp.1"));
  CHECK_FALSE(fs::exists(out + ".tmp.99999999"));
  CHECK_FALSE(fs::exists(out + ".tmp"));
  CHECK(fs::exists(dir.file("other.safetensors.tmp.99999999")));
  // check_output_paths sweeps too.
  write_file(out + ".tmp.99999999", "killed writer");
  check_output_paths("grpo", {{"--out", out, ""}}, {});
  CHECK_FALSE(fs::exists(out + ".tmp.99999999"));
}

TEST_CASE("write_file_atomically: a write that fails midway leaves the old file whole and no temporary file") {
  TempDir dir("atomic");
  const std::string path = dir.file("grpo.jsonl");
  const std::string old_log = make_log(40, 100);
  write_file(path, old_log);

  write_file_atomically(path, "new\n");
  CHECK(read_file(path) == "new\n");
  write_file(path, old_log);

  SUBCASE("the disk fills up in the middle of the write (a file size limit: write() fails with EFBIG)") {
    struct rlimit saved;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);  // a failing write(), not a killed process
    struct rlimit small = saved;
    small.rlim_cur = 1000;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    bool threw = false;
    std::string message;
    try {
      write_file_atomically(path, make_log(80, 100));  // about 10 KB: stops after the first 1000 bytes
    } catch (const std::runtime_error& e) {
      threw = true;
      message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::signal(SIGXFSZ, old_handler);
    CHECK(threw);
    CHECK(message.find("cannot write '" + path + "': write failed") != std::string::npos);
  }
  SUBCASE("the temporary file cannot be made") {
    fs::create_directories(path + ".tmp." + std::to_string(::getpid()));  // a folder in its way
    CHECK_THROWS_WITH_AS(write_file_atomically(path, "new\n"), doctest::Contains("cannot create the temporary file"),
                         std::runtime_error);
    fs::remove(path + ".tmp." + std::to_string(::getpid()));
  }
  CHECK(read_file(path) == old_log);
  CHECK(temp_files(dir.path).empty());
}

TEST_CASE("truncate_log_to_step: a resumed run's log keeps steps up to the checkpoint, each once, and stays whole") {
  TempDir dir("truncate");
  const std::string path = dir.file("pretrain.jsonl");

  SUBCASE("steps logged after the last save, and a line torn by a kill, are dropped") {
    write_file(path, make_log(7) + "{\"step\": 8, \"lo");
    truncate_log_to_step(path, 5);
    CHECK(read_file(path) == make_log(5));
  }
  SUBCASE("a log that an older aha appended to without cutting: the later copy of a step wins") {
    const std::string first = "{\"step\": 1, \"run\": 1}\n{\"step\": 2, \"run\": 1}\n{\"step\": 3, \"run\": 1}\n";
    const std::string again = "{\"step\": 2, \"run\": 2}\n{\"step\": 3, \"run\": 2}\n{\"step\": 4, \"run\": 2}\n";
    write_file(path, first + again);
    truncate_log_to_step(path, 3);
    CHECK(read_file(path) == "{\"step\": 1, \"run\": 1}\n{\"step\": 2, \"run\": 2}\n{\"step\": 3, \"run\": 2}\n");
  }
  SUBCASE("a log with nothing to cut is left as it is (a long log is not rewritten for nothing)") {
    write_file(path, make_log(3));
    const auto before = fs::last_write_time(path);
    truncate_log_to_step(path, 5);
    CHECK(read_file(path) == make_log(3));
    CHECK(fs::last_write_time(path) == before);
  }
  SUBCASE("a last line without its newline gets one, so the next append starts a line") {
    std::string log = make_log(2);
    log.pop_back();
    write_file(path, log);
    truncate_log_to_step(path, 2);
    CHECK(read_file(path) == make_log(2));
  }
  SUBCASE("a missing log stays missing") {
    truncate_log_to_step(path, 5);
    CHECK_FALSE(fs::exists(path));
  }
  CHECK(temp_files(dir.path).empty());
}
