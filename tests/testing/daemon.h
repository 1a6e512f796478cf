// Starting the real `sovgrid serve` binary in integration tests: a child
// process with its output in a file, waited for with time limits, stopped by
// PID. Every wait is bounded; the destructor kills a child still running.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sovgrid::testing {

class Daemon {
 public:
  // Starts `binary` with `args`; stdout and stderr go to `log_path`.
  Daemon(const std::string& binary, const std::vector<std::string>& args, std::string log_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // The port from the "listening on http://HOST:PORT" line; -1 after `timeout_s`.
  int WaitForPort(double timeout_s = 30);
  // Sends `signal` and waits for the exit (at most `timeout_s`, then SIGKILL).
  // Returns the exit code, or 128 + signal when killed by one.
  int Stop(int signal, double timeout_s = 30);
  std::string Log() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

}  // namespace sovgrid::testing
