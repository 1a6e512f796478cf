// Runs a shell command for integration tests and captures its output; asks
// /proc what runs.
#pragma once

#include <sys/types.h>

#include <string>

namespace sovgrid::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh. Blocks until it exits.
CommandResult RunCommand(const std::string& command);

// Whether a live (not zombie) process has `uid` as its real uid.
bool ProcessRunsUnderUid(uid_t uid);

// The non-zero number a job writes to `path`, polled every 20 ms for at most
// `seconds`; 0 when none appeared by then.
long long ReadNumberOnceWritten(const std::string& path, double seconds);

}  // namespace sovgrid::testing
