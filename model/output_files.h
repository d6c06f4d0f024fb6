// The files a run writes (checkpoints, logs, eval results) and the care they
// need so that nothing is lost:
//   - every output path is checked before any work: a run that would destroy
//     its own input, or could not save what it trained, stops at once;
//   - a file is written whole or not at all: a temporary file beside it,
//     fsync'ed, renamed over it (rename is atomic within one file system);
//   - a resumed run's log is cut back to the checkpoint's step the same way,
//     so a kill mid-rewrite leaves the old log, and no step appears twice.
// Temporary files are named "<target>.tmp.<pid>": removed on every error
// path, and those of a killed process are swept by the next check.
#pragma once

#include <string>
#include <vector>

namespace aha {

// A path a command reads, with the option it came from: {"--init", "runs/x/base.safetensors"}.
struct NamedPath {
  std::string option;
  std::string path;
};

// A path a command writes. `may_replace` names the one input it may be on
// purpose: `--resume X --out X` continues a run in place.
struct OutputPath {
  std::string option;
  std::string path;
  std::string may_replace;
};

// Throws "<command>: <option> '<path>' ..." naming the option at fault when an
// output is a directory or not a regular file, is the same file as an input
// (but for its `may_replace`) or as another output, or cannot be written (its
// folder cannot be made, or a file cannot be created in it). Creates missing
// folders and sweeps stale temporary files beside each output. Empty paths
// (options not given) are skipped. Two paths are the same file when
// std::filesystem::equivalent says so (links included), else when their
// normalised absolute forms are equal.
void check_output_paths(const std::string& command, const std::vector<OutputPath>& outputs,
                        const std::vector<NamedPath>& inputs);

// `text` into `path`, whole or not at all: on any error (thrown, naming the
// file) the temporary file is removed and `path` is as it was.
void write_file_atomically(const std::string& path, const std::string& text);

// A resumed run's JSON Lines log cut back to the checkpoint: keeps the lines
// whose "step" is <= `step`, so a run that logged steps it never saved does
// not log them twice; a torn last line (a kill mid-append) and, where steps
// repeat, the earlier copies are dropped, so steps strictly increase.
// Rewritten atomically; a missing log is left missing.
void truncate_log_to_step(const std::string& path, int step);

// Removes "<path>.tmp.<pid>" files of processes that are gone (a run killed
// mid-write) and the "<path>.tmp" of older versions. Returns how many.
int sweep_stale_temp_files(const std::string& path);

}  // namespace aha
