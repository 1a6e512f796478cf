// Runs a shell command for integration tests and captures its output.
#pragma once

#include <string>

namespace sovgrid::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh. Blocks until it exits.
CommandResult RunCommand(const std::string& command);

}  // namespace sovgrid::testing
