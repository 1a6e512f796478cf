#include "testing/run_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace sovgrid::testing {

CommandResult RunCommand(const std::string& command) {
  char err_path[] = "/tmp/sovgrid-test-stderr-XXXXXX";
  const int fd = mkstemp(err_path);
  if (fd >= 0) close(fd);
  CommandResult result;
  FILE* pipe = popen((command + " 2>" + err_path).c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.out.append(buf.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  std::ostringstream s;
  s << err.rdbuf();
  result.err = s.str();
  std::remove(err_path);
  return result;
}

bool ProcessRunsUnderUid(uid_t uid) {
  std::error_code ec;
  for (const auto& p : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = p.path().filename().string();
    if (name.empty() || name[0] < '0' || name[0] > '9') continue;
    std::ifstream in(p.path() / "status");
    std::string line, state;
    while (std::getline(in, line)) {
      if (line.rfind("State:", 0) == 0) state = line;
      if (line.rfind("Uid:", 0) == 0) {
        std::istringstream f(line.substr(4));
        unsigned long long real = 0;
        if (f >> real && real == uid && state.find('Z') == std::string::npos) return true;
      }
    }
  }
  return false;
}

long long ReadNumberOnceWritten(const std::string& path, double seconds) {
  long long n = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    std::ifstream in(path);
    in >> n;
    if (n != 0 || std::chrono::steady_clock::now() >= end) return n;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace sovgrid::testing
