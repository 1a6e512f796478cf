#include "backends/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sovgrid::backends {
namespace {

namespace fs = std::filesystem;

// What the child reports through its error pipe when a step fails.
enum Step : int {
  kStepSignals = 1,
  kStepSession,
  kStepCgroup,
  kStepDescriptors,
  kStepLimits,
  kStepGroups,
  kStepGid,
  kStepUid,
  kStepNoNewPrivs,
  kStepCwd,
  kStepExec,
};

const char* StepName(int step) {
  switch (step) {
    case kStepSignals:
      return "cannot reset signals";
    case kStepSession:
      return "cannot start a new session";
    case kStepCgroup:
      return "cannot join the job's cgroup";
    case kStepDescriptors:
      return "cannot set up descriptors";
    case kStepLimits:
      return "cannot set resource limits";
    case kStepGroups:
      return "cannot drop supplementary groups";
    case kStepGid:
      return "cannot switch group";
    case kStepUid:
      return "cannot switch user";
    case kStepNoNewPrivs:
      return "cannot set no_new_privs";
    case kStepCwd:
      return "cannot enter";
    case kStepExec:
      return "cannot run";
    default:
      return "cannot start";
  }
}

// Moves `fd` to a descriptor >= 10 (so that placing 0-4 never clobbers it).
int Lift(int fd) { return fd < 0 ? fd : ::fcntl(fd, F_DUPFD_CLOEXEC, 10); }

bool WriteAll(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// The child's side of SpawnSandboxed. Only async-signal-safe calls: the daemon
// has threads, and a fork copies only this one (no malloc, no locks, raw
// syscalls for the credentials so that glibc does not try to reach threads
// that are not there).
[[noreturn]] void RunChild(const SandboxSpec& s, char* const* argv, char* const* envp, int err_w,
                           int go_r, const rlimit (&limits)[5], const int (&resources)[5]) {
  int step = 0;
  auto fail = [&](int which) {
    const int what[2] = {which, errno};
    WriteAll(3, reinterpret_cast<const char*>(what), sizeof what);
    ::_exit(127);
  };
  // Error pipe to 3 first: every later failure is reported there.
  int out = Lift(s.stdout_fd), err = Lift(s.stderr_fd), cg = Lift(s.cgroup_procs_fd);
  const int go = Lift(go_r), errors = Lift(err_w);
  if (errors < 0 || ::dup2(errors, 3) != 3) ::_exit(127);
  ::fcntl(3, F_SETFD, FD_CLOEXEC);

  step = kStepSignals;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // KILL, STOP: EINVAL
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) fail(step);
  step = kStepSession;
  if (::setsid() < 0) fail(step);
  step = kStepCgroup;
  if (cg >= 0 && !WriteAll(cg, "0", 1)) fail(step);
  step = kStepDescriptors;
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || out < 0 || err < 0 || go < 0) fail(step);
  if (::dup2(null, 0) != 0 || ::dup2(out, 1) != 1 || ::dup2(err, 2) != 2 || ::dup2(go, 4) != 4)
    fail(step);
  ::fcntl(4, F_SETFD, FD_CLOEXEC);
  if (::close_range(5, ~0U, 0) != 0) {
    // Kernels before 5.9: close what the descriptor limit allows.
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    for (rlim_t fd = 5; fd < std::min<rlim_t>(nofile.rlim_cur, 1 << 20); ++fd)
      ::close(static_cast<int>(fd));
  }
  step = kStepLimits;
  for (int i = 0; i < 5; ++i) {
    if (limits[i].rlim_max != 0 || resources[i] == RLIMIT_CORE) {
      if (::setrlimit(resources[i], &limits[i]) != 0) fail(step);
    }
  }
  ::umask(077);
  if (s.uid.has_value()) {
    step = kStepGroups;
    if (::syscall(SYS_setgroups, 0, nullptr) != 0) fail(step);
    step = kStepGid;
    if (::syscall(SYS_setresgid, s.gid, s.gid, s.gid) != 0) fail(step);
    step = kStepUid;
    if (::syscall(SYS_setresuid, *s.uid, *s.uid, *s.uid) != 0) fail(step);
    if (::getuid() != *s.uid || ::geteuid() != *s.uid) fail(step);
  }
  step = kStepNoNewPrivs;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(step);
  step = kStepCwd;
  if (::chdir(s.cwd.c_str()) != 0) fail(step);
  // Wait for the daemon's go: it has recorded the pid. No byte (it died, or
  // could not record it): leave without running anything.
  char byte = 0;
  ssize_t got = 0;
  do {
    got = ::read(4, &byte, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) ::_exit(126);
  step = kStepExec;
  ::execve(s.program.c_str(), argv, envp);
  fail(step);
  ::_exit(127);
}

rlimit Limit(std::uint64_t value) {
  rlimit r{};
  r.rlim_cur = r.rlim_max = static_cast<rlim_t>(value);
  return r;
}

Status WriteSmallFile(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + path + ": " + std::strerror(errno));
  const bool ok = WriteAll(fd, text.data(), text.size());
  const int saved = errno;
  ::close(fd);
  if (!ok) return IoError("cannot write '" + text + "' to " + path + ": " + std::strerror(saved));
  return Status::Ok();
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool IsCgroup2(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

}  // namespace

Result<pid_t> SpawnSandboxed(const SandboxSpec& spec,
                             const std::function<Status(pid_t)>& before_exec) {
  // Everything the child needs is made here, before the fork.
  std::vector<std::string> args = spec.argv, env = spec.env;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int resources[5] = {RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_FSIZE, RLIMIT_AS, RLIMIT_CORE};
  const std::uint64_t values[5] = {spec.limits.max_processes, spec.limits.max_open_files,
                                   spec.limits.max_file_size_bytes,
                                   spec.limits.max_address_space_bytes, 0};
  rlimit limits[5] = {};
  for (int i = 0; i < 5; ++i) {
    limits[i] = Limit(values[i]);
    rlimit now{};
    // Only root may raise a hard limit: others get the lower of theirs and the value.
    if (values[i] != 0 && ::geteuid() != 0 && ::getrlimit(resources[i], &now) == 0 &&
        now.rlim_max != RLIM_INFINITY && limits[i].rlim_max > now.rlim_max)
      limits[i] = now;
  }

  int err_pipe[2], go_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return IoError(std::string("pipe: ") + strerror(errno));
  if (::pipe2(go_pipe, O_CLOEXEC) != 0) {
    const int saved = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return IoError(std::string("pipe: ") + strerror(saved));
  }
  const pid_t pid = ::fork();
  if (pid == 0)
    RunChild(spec, argv.data(), envp.data(), err_pipe[1], go_pipe[0], limits, resources);
  const int fork_errno = errno;
  ::close(err_pipe[1]);
  ::close(go_pipe[0]);
  if (pid < 0) {
    ::close(err_pipe[0]);
    ::close(go_pipe[1]);
    return IoError(std::string("cannot fork: ") + std::strerror(fork_errno));
  }
  auto reap = [pid] {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  };
  Status recorded = before_exec(pid);
  if (recorded.ok() && !WriteAll(go_pipe[1], "g", 1)) recorded = IoError("cannot signal the child");
  ::close(go_pipe[1]);
  if (!recorded.ok()) {
    ::close(err_pipe[0]);
    ::kill(pid, SIGKILL);  // it exits by itself on the closed pipe; this is quicker
    reap();
    return recorded;
  }
  int report[2] = {0, 0};
  std::size_t have = 0;
  while (have < sizeof report) {
    const ssize_t got =
        ::read(err_pipe[0], reinterpret_cast<char*>(report) + have, sizeof report - have);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    have += static_cast<std::size_t>(got);
  }
  ::close(err_pipe[0]);
  if (have == 0) return pid;  // the pipe closed on exec
  reap();
  std::string what = StepName(report[0]);
  if (report[0] == kStepCwd) what += " " + spec.cwd;
  if (report[0] == kStepExec) what += " " + spec.program;
  if (report[0] == kStepUid || report[0] == kStepGid)
    what += " to " + std::to_string(spec.uid.value_or(0)) + ":" + std::to_string(spec.gid);
  return FailedPrecondition(what + ": " + std::strerror(report[1]));
}

void SignalUid(uid_t uid, int sig) {
  if (uid == 0) return;
  const pid_t pid = ::fork();
  if (pid == 0) {
    // All three uids non-zero: the capabilities are gone too, so kill(-1)
    // reaches only processes this uid may signal, i.e. its own.
    if (::syscall(SYS_setresuid, uid, uid, uid) != 0) ::_exit(1);
    ::kill(-1, sig);
    ::_exit(0);
  }
  if (pid < 0) return;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

std::set<uid_t> LiveProcessUids() {
  std::set<uid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (const dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    bool zombie = false;
    std::vector<uid_t> uids;
    while (std::getline(in, line)) {
      if (line.rfind("State:", 0) == 0) {
        zombie = line.find('Z') != std::string::npos || line.find('X') != std::string::npos;
      } else if (line.rfind("Uid:", 0) == 0) {
        std::istringstream fields(line.substr(4));
        unsigned long long real = 0, effective = 0, saved = 0;
        if (fields >> real >> effective >> saved) {
          uids = {static_cast<uid_t>(real), static_cast<uid_t>(effective),
                  static_cast<uid_t>(saved)};
        }
        break;  // State comes before Uid
      }
    }
    if (!zombie) out.insert(uids.begin(), uids.end());
  }
  ::closedir(proc);
  return out;
}

bool UidHasLiveProcesses(uid_t uid) { return LiveProcessUids().count(uid) > 0; }

Status ChownTree(const std::string& dir, uid_t uid, gid_t gid) {
  if (::lchown(dir.c_str(), uid, gid) != 0)
    return IoError("cannot chown " + dir + ": " + std::strerror(errno));
  std::error_code ec;
  // directory_options::none: a symbolic link to a directory is not entered.
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, gid) != 0 && errno != ENOENT)
      return IoError("cannot chown " + it->path().string() + ": " + std::strerror(errno));
  }
  if (ec) return IoError("cannot walk " + dir + ": " + ec.message());
  return Status::Ok();
}

Result<std::string> ReadUntrustedFile(const std::string& path, std::size_t offset,
                                      std::size_t limit, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(what + " does not exist");
    return NotFound(what + " cannot be read: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    ::close(fd);
    return NotFound(what + " is not a regular file");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  std::string out;
  if (offset < size) {
    out.resize(std::min(limit, size - offset));
    std::size_t have = 0;
    while (have < out.size()) {
      const ssize_t got =
          ::pread(fd, out.data() + have, out.size() - have, static_cast<off_t>(offset + have));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      have += static_cast<std::size_t>(got);
    }
    out.resize(have);
  }
  ::close(fd);
  return out;
}

Result<std::optional<JobCgroups>> JobCgroups::Open(const std::string& setting,
                                                   const CgroupLimits& limits, std::string* note) {
  if (setting == "none") return std::optional<JobCgroups>();
  const bool automatic = setting == "auto";
  const std::string parent = automatic ? "/sys/fs/cgroup/sovgrid-jobs" : setting;
  const fs::path above = fs::path(parent).parent_path();
  auto unavailable = [&](const std::string& why) -> Result<std::optional<JobCgroups>> {
    if (!automatic) return InvalidArgument("job cgroup " + parent + ": " + why);
    if (note != nullptr) *note = "no cgroup v2 for jobs (" + why + "): rlimits only";
    return std::optional<JobCgroups>();
  };
  if (!IsCgroup2(above.string()))
    return unavailable(above.string() + " is not a cgroup2 file system (cgroup v1 or hybrid)");
  if (::access(above.c_str(), W_OK) != 0)
    return unavailable(above.string() + " is not writable: " + std::strerror(errno));
  std::vector<std::string> needed;
  if (limits.memory_max_bytes > 0) needed.push_back("memory");
  if (limits.pids_max > 0) needed.push_back("pids");
  const std::string available = ReadSmallFile((above / "cgroup.controllers").string());
  for (const auto& c : needed) {
    if (available.find(c) == std::string::npos)
      return unavailable("controller " + c + " not available in " + above.string());
  }
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return unavailable("cannot create " + parent + ": " + ec.message());
  for (const auto& c : needed) {
    // Enabled in the level above (for PARENT) and in PARENT (for the jobs).
    // A cgroup holding processes (other than the root) cannot hand controllers
    // down: give a delegated cgroup of its own, not the daemon's.
    for (const auto& at : {above, fs::path(parent)}) {
      if (Status s = WriteSmallFile((at / "cgroup.subtree_control").string(), "+" + c); !s.ok())
        return unavailable(s.message());
    }
  }
  JobCgroups out;
  out.parent_ = parent;
  out.limits_ = limits;
  return std::optional<JobCgroups>(std::move(out));
}

Result<int> JobCgroups::Create(const std::string& name) const {
  const fs::path dir = fs::path(parent_) / name;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return IoError("cannot create cgroup " + dir.string() + ": " + std::strerror(errno));
  if (limits_.memory_max_bytes > 0) {
    if (Status s =
            WriteSmallFile((dir / "memory.max").string(), std::to_string(limits_.memory_max_bytes));
        !s.ok())
      return s;
    (void)WriteSmallFile((dir / "memory.swap.max").string(), "0");  // absent without swap
  }
  if (limits_.pids_max > 0) {
    if (Status s = WriteSmallFile((dir / "pids.max").string(), std::to_string(limits_.pids_max));
        !s.ok())
      return s;
  }
  const int fd = ::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + (dir / "cgroup.procs").string());
  return fd;
}

void JobCgroups::Kill(const std::string& name) const {
  // cgroup.kill (Linux 5.14) kills every process of the cgroup at once.
  if (WriteSmallFile((fs::path(parent_) / name / "cgroup.kill").string(), "1").ok()) return;
  Signal(name, SIGKILL);
}

void JobCgroups::Signal(const std::string& name, int sig) const {
  std::istringstream procs(ReadSmallFile((fs::path(parent_) / name / "cgroup.procs").string()));
  long long pid = 0;
  while (procs >> pid) {
    if (pid > 0) ::kill(static_cast<pid_t>(pid), sig);
  }
}

bool JobCgroups::Populated(const std::string& name) const {
  const std::string events = ReadSmallFile((fs::path(parent_) / name / "cgroup.events").string());
  return events.find("populated 1") != std::string::npos;
}

void JobCgroups::Remove(const std::string& name) const {
  ::rmdir((fs::path(parent_) / name).c_str());
}

}  // namespace sovgrid::backends
