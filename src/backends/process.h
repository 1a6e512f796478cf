// Small process helpers shared by the backends: running a client program
// (sbatch, squeue...) with a time limit, and the per-job files they keep.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sovgrid::backends {

struct ProgramResult {
  int exit_code = -1;  // -1: could not be started or was killed (see timed_out)
  bool timed_out = false;
  std::string out, err;
};

// Runs argv[0] (searched in PATH) with the daemon's environment plus `env`,
// standard input from /dev/null, every other descriptor closed, capturing
// standard output and error; killed (its process group) after `timeout_s`.
// Safe to call from any thread.
ProgramResult RunProgram(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env, double timeout_s);

// The daemon's environment with `overrides` set (replacing variables of the
// same name), as "KEY=VALUE" strings for exec.
std::vector<std::string> MergedEnvironment(const std::map<std::string, std::string>& overrides);

// A job id as a file or Slurm name: [A-Za-z0-9_-] and non-leading '.' kept,
// everything else as %XX, so that no id names another path or breaks a field.
std::string EncodeJobId(const std::string& id);

// Writes `text` to `path` through PATH.tmp and a rename: a reader (or a
// restarted daemon) sees the old file or the whole new one, never a part.
Status WriteFileAtomically(const std::string& path, const std::string& text);

// Up to `limit` bytes of the file from `offset` ("" past its end); NotFound
// when it does not exist. `what` names it in the message.
Result<std::string> ReadFileChunk(const std::string& path, std::size_t offset, std::size_t limit,
                                  const std::string& what);

// A job's captured "stdout" or "stderr" in `job_dir`, as ExecutionBackend::Logs
// returns it (InvalidArgument for another stream name).
Result<std::string> ReadJobStream(const std::string& job_dir, std::string_view stream,
                                  std::size_t offset, std::size_t limit, const std::string& job);

}  // namespace sovgrid::backends
