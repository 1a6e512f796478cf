// The local backend: a job's command as processes on this machine.
//
// Each node part of a placement becomes one process: `SHELL -c WRAPPER`, in a
// process group of its own, started with posix_spawn (safe in a threaded
// daemon; every inherited descriptor but 0-2 is closed, so that a job never
// holds the daemon's listening socket). The wrapper runs the job's command and
// then writes its exit status to a file, so that a restarted daemon, which is
// no longer the parent of the processes, still learns how they ended.
//
// Per job, DIR/jobs/ENCODED_ID/ holds stdout, stderr (appended, all ranks),
// rank-K.pid ("PID STARTTIME", STARTTIME from /proc so that a reused pid is
// not mistaken for the job) and rank-K.exit.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "backends/execution_backend.h"
#include "backends/process.h"

namespace sovgrid::backends {
namespace {

namespace fs = std::filesystem;
using model::Time;
using Clock = std::chrono::steady_clock;

// Runs the command, then records its status atomically for a later reader.
constexpr const char* kWrapper =
    "\"$SOVGRID_SHELL\" -c \"$SOVGRID_COMMAND\"; s=$?; "
    "echo \"$s\" > \"$SOVGRID_EXIT_FILE.tmp\" && mv \"$SOVGRID_EXIT_FILE.tmp\" "
    "\"$SOVGRID_EXIT_FILE\"; exit \"$s\"";

// Field 22 of /proc/PID/stat (start time in clock ticks since boot) and the
// state letter; false when the process does not exist.
bool ReadProcStat(pid_t pid, unsigned long long* start, char* state) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const auto paren = line.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return false;
  std::istringstream rest(line.substr(paren + 1));
  std::string field;
  rest >> *state;
  // Fields 4..21 are skipped; field 22 is the start time.
  for (int i = 4; i <= 21 && rest >> field; ++i) {
  }
  return static_cast<bool>(rest >> *start);
}

struct Rank {
  pid_t pid = 0;  // also its process group
  unsigned long long start_ticks = 0;
  bool child = false;  // started by this instance (waitpid works)
  bool done = false;
  int exit_code = 0;  // when done: the command's status; -1: unknown
  std::string how;    // when done: "exit 3", "killed by signal 9"...
};

struct LocalJob {
  fs::path dir;
  std::vector<Rank> ranks;
  bool stopping = false;
  Clock::time_point kill_at{};
  bool killed = false;
};

class LocalBackend final : public ExecutionBackend {
 public:
  explicit LocalBackend(LocalBackendOptions o) : o_(std::move(o)) {}
  std::string_view name() const override { return "local"; }

  Status Accepts(const model::Job& job) const override {
    if (job.command.empty())
      return InvalidArgument("job.command: the local backend runs the job's command; none given");
    return Status::Ok();
  }

  Result<std::string> Start(const model::Job& job, const std::vector<PlacedPart>& where,
                            Time /*now*/) override {
    if (Status s = Accepts(job); !s.ok()) return s;
    if (where.empty()) return InvalidArgument("empty placement");
    Stop(job.id);  // a job runs once: a leftover of an earlier run goes
    jobs_.erase(job.id);
    LocalJob lj;
    lj.dir = JobDir(job.id);
    std::error_code ec;
    fs::create_directories(lj.dir, ec);
    if (ec) return IoError("cannot create " + lj.dir.string() + ": " + ec.message());
    for (const auto& entry : fs::directory_iterator(lj.dir, ec)) {
      const std::string f = entry.path().filename().string();
      if (f.rfind("rank-", 0) == 0) fs::remove(entry.path(), ec);
    }
    std::string nodes;
    for (const auto& p : where) nodes += (nodes.empty() ? "" : ",") + p.node;
    std::string handle = "pid:";
    for (std::size_t r = 0; r < where.size(); ++r) {
      auto rank = Spawn(job, where, r, nodes, lj.dir);
      if (!rank.ok()) {
        KillAll(lj, SIGKILL);  // the ranks already started
        return rank.status();
      }
      lj.ranks.push_back(*rank);
      handle += (r == 0 ? "" : ",") + std::to_string(rank->pid);
      if (Status s = WriteFileAtomically(
              (lj.dir / ("rank-" + std::to_string(r) + ".pid")).string(),
              std::to_string(rank->pid) + " " + std::to_string(rank->start_ticks) + "\n");
          !s.ok()) {
        KillAll(lj, SIGKILL);
        return s;
      }
    }
    jobs_[job.id] = std::move(lj);
    return handle;
  }

  Status Adopt(const model::Job& job, const std::vector<PlacedPart>& where, Time /*started_at*/,
               const std::string& /*handle*/) override {
    LocalJob lj;
    lj.dir = JobDir(job.id);
    for (std::size_t r = 0; r < where.size(); ++r) {
      std::ifstream in(lj.dir / ("rank-" + std::to_string(r) + ".pid"));
      Rank rank;
      long long pid = 0;
      if (!(in >> pid >> rank.start_ticks) || pid <= 0)
        return NotFound("job '" + job.id + "': no process record for rank " + std::to_string(r));
      rank.pid = static_cast<pid_t>(pid);
      lj.ranks.push_back(rank);
    }
    jobs_[job.id] = std::move(lj);
    return Status::Ok();
  }

  void Stop(const std::string& job) override {
    auto it = jobs_.find(job);
    if (it == jobs_.end() || it->second.stopping) return;
    it->second.stopping = true;
    it->second.kill_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(o_.kill_grace_s));
    KillAll(it->second, SIGTERM);
  }

  std::vector<Ended> Poll(Time /*now*/) override {
    std::vector<Ended> out;
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      LocalJob& lj = it->second;
      bool all_done = true;
      for (auto& r : lj.ranks) {
        if (!r.done) Check(lj, r);
        all_done = all_done && r.done;
      }
      if (lj.stopping) {
        // Stopped: gone when every process of its groups is, however each ended.
        const bool groups_gone = std::none_of(lj.ranks.begin(), lj.ranks.end(),
                                              [](const Rank& r) { return GroupAlive(r.pid); });
        if (!groups_gone && !lj.killed && Clock::now() >= lj.kill_at) {
          KillAll(lj, SIGKILL);
          lj.killed = true;
        }
        it = groups_gone ? jobs_.erase(it) : std::next(it);
        continue;
      }
      if (!all_done) {
        ++it;
        continue;
      }
      // What a command left behind in its group ends with it, as a Slurm step's does.
      KillAll(lj, SIGKILL);
      Ended e{it->first, false, false, ""};
      for (std::size_t r = 0; r < lj.ranks.size(); ++r) {
        const Rank& rank = lj.ranks[r];
        if (rank.exit_code != 0) {
          e.failed = true;
          if (!e.message.empty()) e.message += "; ";
          e.message += (lj.ranks.size() > 1 ? "rank " + std::to_string(r) + ": " : "") + rank.how;
        }
      }
      if (!e.failed) e.message = "exit 0";
      out.push_back(std::move(e));
      it = jobs_.erase(it);
    }
    return out;
  }

  Result<std::string> Logs(const std::string& job, std::string_view stream, std::size_t offset,
                           std::size_t limit) override {
    return ReadJobStream(JobDir(job).string(), stream, offset, limit, job);
  }

 private:
  fs::path JobDir(const std::string& id) const {
    return fs::path(o_.dir) / "jobs" / EncodeJobId(id);
  }

  Result<Rank> Spawn(const model::Job& job, const std::vector<PlacedPart>& where, std::size_t r,
                     const std::string& nodes, const fs::path& dir) {
    const PlacedPart& part = where[r];
    std::string devices;
    for (int a : part.accelerators) devices += (devices.empty() ? "" : ",") + std::to_string(a);
    std::map<std::string, std::string> set = {
        {"CUDA_VISIBLE_DEVICES", devices},
        {"SOVGRID_ACCELERATORS", devices},
        {"SOVGRID_JOB_ID", job.id},
        {"SOVGRID_TENANT", job.tenant},
        {"SOVGRID_NODE", part.node},
        {"SOVGRID_NODE_RANK", std::to_string(r)},
        {"SOVGRID_NUM_NODES", std::to_string(where.size())},
        {"SOVGRID_NODES", nodes},
        {"SOVGRID_SITE", part.site},
        {"SOVGRID_ACCELERATOR_SHARE", std::to_string(part.share)},
        {"SOVGRID_JOB_DIR", dir.string()},
        {"SOVGRID_SHELL", o_.shell},
        {"SOVGRID_COMMAND", job.command},
        {"SOVGRID_EXIT_FILE", (dir / ("rank-" + std::to_string(r) + ".exit")).string()},
    };
    std::vector<std::string> env = MergedEnvironment(set);
    std::vector<char*> envp;
    envp.reserve(env.size() + 1);
    for (auto& kv : env) envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::string shell = o_.shell, dash_c = "-c", wrapper = kWrapper, arg0 = "sovgrid-job";
    char* argv[] = {shell.data(), dash_c.data(), wrapper.data(), arg0.data(), nullptr};

    const std::string out_path = (dir / "stdout").string(), err_path = (dir / "stderr").string();
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_setpgroup(&attr, 0);
    // The daemon ignores SIGPIPE and blocks its shutdown signals; jobs get the defaults.
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, shell.c_str(), &fa, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return IoError("cannot start " + o_.shell + ": " + std::strerror(rc));
    Rank rank;
    rank.pid = pid;
    rank.child = true;
    char state = 0;
    if (!ReadProcStat(pid, &rank.start_ticks, &state)) rank.start_ticks = 0;
    return rank;
  }

  // Whether the rank ended; if so, how (from its exit file, else from waitpid).
  void Check(const LocalJob& lj, Rank& r) {
    int status = 0;
    bool signalled = false, exited = false;
    if (r.child) {
      const pid_t w = waitpid(r.pid, &status, WNOHANG);
      if (w == 0) return;  // still running
      signalled = w == r.pid && WIFSIGNALED(status);
      exited = w == r.pid && WIFEXITED(status);
    } else {
      unsigned long long start = 0;
      char state = 0;
      if (ReadProcStat(r.pid, &start, &state) && start == r.start_ticks && state != 'Z') return;
    }
    r.done = true;
    if (exited) {
      // The wrapper exits with the command's status: for a child this is
      // authoritative, also when the exit file could not be written (disk full).
      r.exit_code = WEXITSTATUS(status);
      r.how = "exit " + std::to_string(r.exit_code);
      return;
    }
    std::ifstream in(lj.dir / ("rank-" + std::to_string(&r - lj.ranks.data()) + ".exit"));
    int code = 0;
    if (in >> code) {
      r.exit_code = code;
      r.how = "exit " + std::to_string(code);
    } else if (signalled) {
      r.exit_code = -1;
      r.how = "killed by signal " + std::to_string(WTERMSIG(status));
    } else {
      r.exit_code = -1;
      r.how = "ended without an exit status (killed, or while sovgrid was not watching)";
    }
  }

  // Signals every process group of the job (each rank's pid is its group id).
  static void KillAll(const LocalJob& lj, int sig) {
    for (const auto& r : lj.ranks) {
      if (r.pid > 0) ::kill(-r.pid, sig);
    }
  }
  static bool GroupAlive(pid_t pgid) {
    return pgid > 0 && (::kill(-pgid, 0) == 0 || errno != ESRCH);
  }

  LocalBackendOptions o_;
  std::map<std::string, LocalJob> jobs_;  // ordered: deterministic Poll order
};

}  // namespace

Result<std::unique_ptr<ExecutionBackend>> MakeLocalBackend(const LocalBackendOptions& options) {
  if (options.dir.empty()) return InvalidArgument("local backend: no directory given");
  std::error_code ec;
  fs::create_directories(fs::path(options.dir) / "jobs", ec);
  if (ec) return IoError("cannot create " + options.dir + "/jobs: " + ec.message());
  if (::access(options.shell.c_str(), X_OK) != 0)
    return InvalidArgument("local backend: shell " + options.shell + " is not executable");
  return std::unique_ptr<ExecutionBackend>(std::make_unique<LocalBackend>(options));
}

}  // namespace sovgrid::backends
