// The local backend: a job's command as processes on this machine.
//
// Each node part of a placement becomes one process: `SHELL -c WRAPPER`,
// started by SpawnSandboxed (sandbox.h): a session of its own, descriptors 0-2
// only, resource limits, in the job's cgroup v2 where there is one, and with
// JobIsolation::kUid under a uid of its own. The wrapper runs the job's command
// and then writes its exit status to a file, so that a restarted daemon, which
// is no longer the parent of the processes, still learns how they ended.
//
// Files (TENANT and ID as EncodeJobId writes them, so that neither names
// another path; ID is NAME for the daemon's "TENANT/NAME" ids):
//   DIR/jobs/TENANT/ID/   the job's: stdout, stderr (appended, all ranks),
//                         rank-K.exit, tmp/ and whatever it writes (its HOME);
//                         0700, owned by the job's uid while it runs and by
//                         the daemon once nothing runs under that uid
//   DIR/state/TENANT/ID/  the daemon's, out of every job's reach (0700): uid,
//                         rank-K.pid ("PID STARTTIME", STARTTIME from /proc so
//                         that a reused pid is not taken for the job; a third
//                         word "starting" until the exec succeeded, then
//                         "launched")
// DIR and DIR/jobs/TENANT are 0711 with kUid: a job can pass through them to
// its own folder, but list nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "backends/execution_backend.h"
#include "backends/process.h"
#include "backends/sandbox.h"

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

// A rank's record ends in kStarting until its exec succeeded, then in
// kLaunched, written over it (the same length: see MarkLaunched).
constexpr const char* kStarting = "starting";
constexpr const char* kLaunched = "launched";
static_assert(std::char_traits<char>::length(kStarting) ==
              std::char_traits<char>::length(kLaunched));

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

// A tenant or id as one path component (never empty, ".", ".." or with '/').
std::string Component(const std::string& name) {
  return name.empty() ? std::string("%") : EncodeJobId(name);
}

struct Rank {
  pid_t pid = 0;  // also its process group and session
  unsigned long long start_ticks = 0;
  bool child = false;  // started by this instance (waitpid works)
  bool done = false;
  int exit_code = 0;  // when done: the command's status; -1: unknown
  std::string how;    // when done: "exit 3", "killed by signal 9"...
};

struct LocalJob {
  fs::path dir, state;
  std::string cgroup;  // the cgroup's name under the parent; empty: none
  std::optional<uid_t> uid;
  std::vector<Rank> ranks;
  bool stopping = false;
  Clock::time_point kill_at{};
};

// What is left of a job that ended or was stopped (or could not start): its
// processes are killed until none is left, then its folders go back to the
// daemon, its cgroup is removed and its uid may be handed out again.
struct Drain {
  std::vector<fs::path> dirs;  // chowned back to the daemon (kUid)
  std::optional<uid_t> uid;
  std::vector<pid_t> groups;    // kNone: the ranks' process groups
  std::vector<pid_t> children;  // not yet reaped
  std::string cgroup;
  fs::path state;        // the job's state folder (empty: none known)
  fs::path clear_state;  // a stopped job's process records go (empty: kept)
};

class LocalBackend final : public ExecutionBackend {
 public:
  LocalBackend(LocalBackendOptions o, std::optional<JobCgroups> cgroups)
      : o_(std::move(o)), cgroups_(std::move(cgroups)) {
    if (Isolated()) ScanOwnedFolders();
  }
  std::string_view name() const override { return "local"; }

  Status Accepts(const model::Job& job) const override {
    if (job.command.empty())
      return InvalidArgument("job.command: the local backend runs the job's command; none given")
          .WithField("command");
    return Status::Ok();
  }

  Result<std::string> Start(const model::Job& job, const std::vector<PlacedPart>& where,
                            Time /*now*/) override {
    if (Status s = Accepts(job); !s.ok()) return s;
    if (where.empty()) return InvalidArgument("empty placement");
    Settle();
    // A job runs once: a leftover of an earlier run is gone before it starts again.
    if (Status s = Retire(job); !s.ok()) return s;
    LocalJob lj;
    lj.dir = JobDir(job.tenant, job.id);
    lj.state = StateDir(job.tenant, job.id);
    if (Isolated()) {
      auto uid = AllocateUid();
      if (!uid.ok()) return uid.status();
      lj.uid = *uid;
    }
    if (cgroups_.has_value()) lj.cgroup = Component(job.tenant) + "@" + Component(job.id);
    Status started = StartRanks(job, where, lj);
    if (!started.ok()) {
      drains_.push_back(MakeDrain(lj, /*clear_state=*/true));  // what started goes
      return started;
    }
    std::string handle = "pid:";
    for (std::size_t r = 0; r < lj.ranks.size(); ++r)
      handle += (r == 0 ? "" : ",") + std::to_string(lj.ranks[r].pid);
    jobs_[job.id] = std::move(lj);
    return handle;
  }

  // The handle is not needed: the records in the job's state folder are the
  // truth (they are written before a process may run, and no job can reach
  // them), so an empty handle (a crash between committing the job and
  // recording its handle) adopts as well.
  Status Adopt(const model::Job& job, const std::vector<PlacedPart>& where, Time /*started_at*/,
               const std::string& /*handle*/) override {
    LocalJob lj;
    lj.dir = JobDir(job.tenant, job.id);
    lj.state = StateDir(job.tenant, job.id);
    if (cgroups_.has_value()) lj.cgroup = Component(job.tenant) + "@" + Component(job.id);
    // No uid (with kUid): the job ended and nothing of it runs any more (its
    // uid was released); its end is reported again from its records.
    if (Isolated()) lj.uid = RecordedUid(lj);
    bool complete = true;
    for (std::size_t r = 0; r < where.size(); ++r) {
      std::ifstream in(lj.state / ("rank-" + std::to_string(r) + ".pid"));
      Rank rank;
      long long pid = 0;
      std::string starting;
      if (!(in >> pid >> rank.start_ticks) || pid <= 0) {
        complete = false;
        continue;
      }
      rank.pid = static_cast<pid_t>(pid);
      lj.ranks.push_back(rank);
      if (in >> starting && starting == kStarting) complete = false;  // may never have run
    }
    if (lj.uid.has_value()) Claim(*lj.uid, lj.dir);
    if (!complete) {
      // Never started, or started in part: whatever did start is killed (and
      // its uid drained) before the job is requeued, so it never runs twice.
      if (lj.uid.has_value() || !lj.ranks.empty())
        drains_.push_back(MakeDrain(lj, /*clear_state=*/true));
      return NotFound("job '" + job.id + "': not every process was started");
    }
    jobs_[job.id] = std::move(lj);
    return Status::Ok();
  }

  void Stop(const std::string& job) override {
    auto it = jobs_.find(job);
    if (it == jobs_.end() || it->second.stopping) return;
    LocalJob& lj = it->second;
    lj.stopping = true;
    lj.kill_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o_.kill_grace_s));
    Signal(lj, SIGTERM);
  }

  std::vector<Ended> Poll(Time /*now*/) override {
    Settle();
    std::vector<Ended> out;
    std::optional<std::set<uid_t>> live;  // read once, when needed
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      LocalJob& lj = it->second;
      bool all_done = true;
      for (auto& r : lj.ranks) {
        if (!r.done) Check(lj, r);
        all_done = all_done && r.done;
      }
      if (lj.stopping) {
        // Stopped: drained once nothing of it runs, or at the end of the grace.
        if (!live.has_value()) live = LiveProcessUids();
        if (!AnythingRuns(lj, *live) || Clock::now() >= lj.kill_at) {
          drains_.push_back(MakeDrain(lj, /*clear_state=*/true));
          it = jobs_.erase(it);
        } else {
          ++it;
        }
        continue;
      }
      if (!all_done) {
        ++it;
        continue;
      }
      // What a command left behind ends with it, as a Slurm step's does.
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
      drains_.push_back(MakeDrain(lj, /*clear_state=*/false));
      it = jobs_.erase(it);
    }
    RunDrains();
    return out;
  }

  Result<std::string> Logs(const std::string& job, std::string_view stream, std::size_t offset,
                           std::size_t limit) override {
    if (stream != "stdout" && stream != "stderr")
      return InvalidArgument("stream: expected stdout or stderr, found '" + std::string(stream) +
                             "'");
    const std::string what = "the " + std::string(stream) + " of job '" + job + "'";
    auto dir = FindJobDir(job);
    if (!dir.has_value()) return NotFound(what + " does not exist");
    // Read as the daemon from a folder the job owned: never through a link it made.
    return ReadUntrustedFile((*dir / stream).string(), offset, limit, what);
  }

 private:
  bool Isolated() const { return o_.isolation == JobIsolation::kUid; }
  fs::path JobDir(const std::string& tenant, const std::string& id) const {
    return fs::path(o_.dir) / "jobs" / Component(tenant) / Component(NameWithin(tenant, id));
  }
  fs::path StateDir(const std::string& tenant, const std::string& id) const {
    return fs::path(o_.dir) / "state" / Component(tenant) / Component(NameWithin(tenant, id));
  }
  // The daemon's job ids are "TENANT/NAME": the folder is named by NAME only,
  // beside its tenant's other jobs. Any other id is kept whole.
  static std::string NameWithin(const std::string& tenant, const std::string& id) {
    return id.size() > tenant.size() + 1 && id.compare(0, tenant.size(), tenant) == 0 &&
                   id[tenant.size()] == '/'
               ? id.substr(tenant.size() + 1)
               : id;
  }

  // A job's folder by id alone: the running job's; for "TENANT/NAME" that
  // tenant's NAME; else the first DIR/jobs/*/ID.
  std::optional<fs::path> FindJobDir(const std::string& id) const {
    if (auto it = jobs_.find(id); it != jobs_.end()) return it->second.dir;
    std::error_code ec;
    if (const auto slash = id.rfind('/'); slash != std::string::npos) {
      const fs::path dir = JobDir(id.substr(0, slash), id);
      if (fs::is_directory(fs::symlink_status(dir, ec))) return dir;
    }
    std::vector<fs::path> found;
    for (const auto& tenant : fs::directory_iterator(fs::path(o_.dir) / "jobs", ec)) {
      const fs::path dir = tenant.path() / Component(id);
      if (fs::is_directory(fs::symlink_status(dir, ec))) found.push_back(dir);
    }
    if (found.empty()) return std::nullopt;
    return *std::min_element(found.begin(), found.end());
  }

  // The uid a started job ran under: its state record, else its folder's owner.
  std::optional<uid_t> RecordedUid(const LocalJob& lj) const {
    std::ifstream in(lj.state / "uid");
    unsigned long long uid = 0;
    if (in >> uid && uid > 0) return static_cast<uid_t>(uid);
    struct stat st {};
    if (::lstat(lj.dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid != ::geteuid())
      return st.st_uid;
    return std::nullopt;
  }

  // Job folders owned by a job uid when this instance starts: uids of jobs an
  // earlier instance ran. Those adopted are claimed; the rest are drained at
  // the first Start or Poll (Settle), before any of their uids is reused.
  void ScanOwnedFolders() {
    std::error_code ec;
    for (const auto& tenant : fs::directory_iterator(fs::path(o_.dir) / "jobs", ec)) {
      std::error_code ec2;
      for (const auto& job : fs::directory_iterator(tenant.path(), ec2)) {
        struct stat st {};
        if (::lstat(job.path().c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
            st.st_uid != ::geteuid())
          unsettled_[st.st_uid].push_back(job.path());
      }
    }
  }
  void Claim(uid_t uid, const fs::path& dir) {
    busy_uids_.insert(uid);
    auto it = unsettled_.find(uid);
    if (it == unsettled_.end()) return;
    auto& dirs = it->second;
    dirs.erase(std::remove(dirs.begin(), dirs.end(), dir), dirs.end());
  }
  void Settle() {
    if (settled_) return;
    settled_ = true;
    for (auto& [uid, dirs] : unsettled_) {
      if (dirs.empty()) continue;
      if (busy_uids_.count(uid) > 0) {
        // An adopted job's uid: its processes are that job's; only the folders go back.
        for (const auto& d : dirs) (void)ChownTree(d.string(), ::geteuid(), ::getegid());
        continue;
      }
      Drain d;
      d.uid = uid;
      d.dirs = dirs;
      busy_uids_.insert(uid);
      drains_.push_back(std::move(d));
    }
    unsettled_.clear();
  }

  Result<uid_t> AllocateUid() {
    // A uid some process uses is skipped too (the range is meant to be
    // sovgrid's alone; this catches what an earlier instance left). Read at
    // most once a second: a cycle may start thousands of jobs.
    if (Clock::now() - live_read_at_ > std::chrono::seconds(1)) {
      live_cache_ = LiveProcessUids();
      live_read_at_ = Clock::now();
    }
    const std::set<uid_t>& live = live_cache_;
    for (std::uint32_t i = 0; i < o_.uid_count; ++i) {
      const std::uint32_t offset = (next_uid_ + i) % o_.uid_count;
      const uid_t uid = o_.uid_base + offset;
      if (busy_uids_.count(uid) > 0 || live.count(uid) > 0) continue;
      next_uid_ = (offset + 1) % o_.uid_count;
      busy_uids_.insert(uid);
      return uid;
    }
    return IoError("no free job uid: all " + std::to_string(o_.uid_count) + " from " +
                   std::to_string(o_.uid_base) + " are in use");
  }

  // Kills what is left of an earlier run of `job` and waits (up to 2 s) until
  // it is gone; IoError (try again later) if it is not.
  Status Retire(const model::Job& job) {
    if (auto it = jobs_.find(job.id); it != jobs_.end()) {
      drains_.push_back(MakeDrain(it->second, /*clear_state=*/true));
      jobs_.erase(it);
    }
    const fs::path dir = JobDir(job.tenant, job.id);
    auto pending = [&] {
      return std::any_of(drains_.begin(), drains_.end(), [&](const Drain& d) {
        return std::find(d.dirs.begin(), d.dirs.end(), dir) != d.dirs.end() ||
               (!d.clear_state.empty() && d.clear_state == StateDir(job.tenant, job.id));
      });
    };
    for (int i = 0; i < 100 && pending(); ++i) {
      RunDrains();
      if (pending()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pending())
      return IoError("job '" + job.id + "': processes of its earlier run are still ending");
    return Status::Ok();
  }

  Drain MakeDrain(const LocalJob& lj, bool clear_state) const {
    Drain d;
    d.dirs = {lj.dir};
    d.uid = lj.uid;
    d.cgroup = lj.cgroup;
    d.state = lj.state;
    if (clear_state) d.clear_state = lj.state;
    for (const auto& r : lj.ranks) {
      // With kUid the uid reaches everything; a process group id of a job
      // whose uid was released may name someone else's group by now.
      if (!Isolated()) d.groups.push_back(r.pid);
      if (r.child && !r.done) d.children.push_back(r.pid);
    }
    return d;
  }

  // Kills every drain's processes and finishes those with nothing left.
  void RunDrains() {
    if (drains_.empty()) return;
    for (auto& d : drains_) {
      if (d.uid.has_value()) SignalUid(*d.uid, SIGKILL);
      for (pid_t g : d.groups) ::kill(-g, SIGKILL);
      if (!d.cgroup.empty()) cgroups_->Kill(d.cgroup);
      d.children.erase(std::remove_if(d.children.begin(), d.children.end(),
                                      [](pid_t p) {
                                        int status = 0;
                                        return ::waitpid(p, &status, WNOHANG) != 0;
                                      }),
                       d.children.end());
    }
    const std::set<uid_t> live = LiveProcessUids();
    for (auto it = drains_.begin(); it != drains_.end();) {
      Drain& d = *it;
      const bool runs = !d.children.empty() || (d.uid.has_value() && live.count(*d.uid) > 0) ||
                        std::any_of(d.groups.begin(), d.groups.end(), GroupAlive) ||
                        (!d.cgroup.empty() && cgroups_->Populated(d.cgroup));
      if (runs) {
        ++it;
        continue;
      }
      if (d.uid.has_value()) {
        // Back to the daemon before the uid is handed out again, so that the
        // next job under it cannot read this one's output.
        for (const auto& dir : d.dirs) (void)ChownTree(dir.string(), ::geteuid(), ::getegid());
        // The job no longer owns the uid: a restarted daemon adopting the
        // job (to report its end) must not claim or kill it.
        if (!d.state.empty()) {
          std::error_code ec;
          fs::remove(d.state / "uid", ec);
        }
        busy_uids_.erase(*d.uid);
      }
      if (!d.cgroup.empty()) cgroups_->Remove(d.cgroup);
      if (!d.clear_state.empty()) ClearRecords(d.clear_state);
      it = drains_.erase(it);
    }
  }

  static void ClearRecords(const fs::path& state) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(state, ec)) {
      const std::string f = entry.path().filename().string();
      if (f.rfind("rank-", 0) == 0 || f == "uid") fs::remove(entry.path(), ec);
    }
  }

  bool AnythingRuns(const LocalJob& lj, const std::set<uid_t>& live) const {
    if (!lj.cgroup.empty() && cgroups_->Populated(lj.cgroup)) return true;
    const bool ranks_run =
        std::any_of(lj.ranks.begin(), lj.ranks.end(), [](const Rank& r) { return !r.done; });
    if (lj.uid.has_value()) return live.count(*lj.uid) > 0 || ranks_run;
    if (Isolated()) return ranks_run;  // its uid released: nothing of it is left
    return std::any_of(lj.ranks.begin(), lj.ranks.end(),
                       [](const Rank& r) { return GroupAlive(r.pid); });
  }

  void Signal(const LocalJob& lj, int sig) const {
    if (lj.uid.has_value()) {
      SignalUid(*lj.uid, sig);  // reaches what left the process groups too
    } else if (!Isolated()) {   // with kUid and no uid: nothing of it is left
      for (const auto& r : lj.ranks) {
        if (r.pid > 0) ::kill(-r.pid, sig);
      }
    }
    if (!lj.cgroup.empty()) cgroups_->Signal(lj.cgroup, sig);
  }
  static bool GroupAlive(pid_t pgid) {
    return pgid > 0 && (::kill(-pgid, 0) == 0 || errno != ESRCH);
  }

  // Makes the job's folders (clean, but for the output of earlier runs), hands
  // its folder to its uid, and starts one process per node part.
  Status StartRanks(const model::Job& job, const std::vector<PlacedPart>& where, LocalJob& lj) {
    if (Status s = PrepareFolders(lj); !s.ok()) return s;
    auto out = OpenOutput(lj.dir / "stdout", lj.uid);
    if (!out.ok()) return out.status();
    auto err = OpenOutput(lj.dir / "stderr", lj.uid);
    if (!err.ok()) {
      ::close(*out);
      return err.status();
    }
    int procs = -1;
    if (!lj.cgroup.empty()) {
      auto fd = cgroups_->Create(lj.cgroup);
      if (!fd.ok()) {
        ::close(*out);
        ::close(*err);
        return fd.status();
      }
      procs = *fd;
    }
    std::string nodes;
    for (const auto& p : where) nodes += (nodes.empty() ? "" : ",") + p.node;
    Status status = Status::Ok();
    for (std::size_t r = 0; r < where.size() && status.ok(); ++r) {
      SandboxSpec spec = Spec(job, where, r, nodes, lj);
      spec.stdout_fd = *out;
      spec.stderr_fd = *err;
      spec.cgroup_procs_fd = procs;
      const std::string record = (lj.state / ("rank-" + std::to_string(r) + ".pid")).string();
      Rank rank;
      rank.child = true;
      auto pid = SpawnSandboxed(spec, [&](pid_t child) {
        char state = 0;
        if (!ReadProcStat(child, &rank.start_ticks, &state)) rank.start_ticks = 0;
        rank.pid = child;
        lj.ranks.push_back(rank);  // from here on a drain reaps it
        return WriteFileAtomically(record, std::to_string(child) + " " +
                                               std::to_string(rank.start_ticks) + " " + kStarting +
                                               "\n");
      });
      if (!pid.ok()) {
        status = pid.status();
        // Reaped by SpawnSandboxed already.
        if (!lj.ranks.empty() && lj.ranks.back().pid == rank.pid) lj.ranks.back().done = true;
        break;
      }
      status = MarkLaunched(record);
    }
    ::close(*out);
    ::close(*err);
    if (procs >= 0) ::close(procs);
    return status;
  }

  // The exec succeeded: the record's "starting" becomes "launched" in place.
  // The same length in the same block needs no new space, so a full disk
  // cannot leave a running job recorded as one that may never have run
  // (which a restarted daemon would kill and run again).
  static Status MarkLaunched(const std::string& record) {
    const int fd = ::open(record.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return IoError("cannot open " + record + ": " + std::strerror(errno));
    char text[64] = {};
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    const char* word = n > 0 ? std::strstr(text, kStarting) : nullptr;
    Status status = Status::Ok();
    if (word == nullptr) {
      status = IoError(record + " does not say starting");
    } else if (::pwrite(fd, kLaunched, std::strlen(kLaunched), word - text) !=
               static_cast<ssize_t>(std::strlen(kLaunched))) {
      status = IoError("cannot write " + record + ": " + std::strerror(errno));
    }
    ::close(fd);
    return status;
  }

  Status PrepareFolders(const LocalJob& lj) const {
    std::error_code ec;
    const mode_t pass = Isolated() ? 0711 : 0700;  // see the file comment
    fs::create_directories(lj.dir.parent_path(), ec);
    if (ec) return IoError("cannot create " + lj.dir.parent_path().string() + ": " + ec.message());
    ::chmod(lj.dir.parent_path().c_str(), pass);
    if (::mkdir(lj.dir.c_str(), 0700) != 0 && errno != EEXIST)
      return IoError("cannot create " + lj.dir.string() + ": " + std::strerror(errno));
    struct stat st {};
    if (::lstat(lj.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return IoError(lj.dir.string() + " is not a directory");
    // Whatever an earlier run left goes, but for its output (kept and appended
    // to, if it is still a plain file): no link or file it made survives into
    // a run under another uid.
    for (const auto& entry : fs::directory_iterator(lj.dir, ec)) {
      const std::string f = entry.path().filename().string();
      struct stat est {};
      const bool output = (f == "stdout" || f == "stderr") &&
                          ::lstat(entry.path().c_str(), &est) == 0 && S_ISREG(est.st_mode) &&
                          est.st_nlink == 1;
      if (!output) fs::remove_all(entry.path(), ec);
    }
    if (ec) return IoError("cannot clean " + lj.dir.string() + ": " + ec.message());
    ::chmod(lj.dir.c_str(), 0700);
    if (::mkdir((lj.dir / "tmp").c_str(), 0700) != 0)
      return IoError("cannot create " + (lj.dir / "tmp").string() + ": " + std::strerror(errno));
    fs::create_directories(lj.state, ec);
    if (ec) return IoError("cannot create " + lj.state.string() + ": " + ec.message());
    ClearRecords(lj.state);
    if (lj.uid.has_value()) {
      if (Status s = WriteFileAtomically((lj.state / "uid").string(), std::to_string(*lj.uid));
          !s.ok())
        return s;
      if (Status s = ChownTree(lj.dir.string(), *lj.uid, *lj.uid); !s.ok()) return s;
    }
    return Status::Ok();
  }

  static Result<int> OpenOutput(const fs::path& path, std::optional<uid_t> uid) {
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return IoError("cannot open " + path.string() + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uid.has_value() && ::fchown(fd, *uid, *uid) != 0)) {
      ::close(fd);
      return IoError("cannot prepare " + path.string());
    }
    return fd;
  }

  // The process of node part `r`: its command line and its whole environment
  // (docs/backends.md; nothing of the daemon's own).
  SandboxSpec Spec(const model::Job& job, const std::vector<PlacedPart>& where, std::size_t r,
                   const std::string& nodes, const LocalJob& lj) const {
    const PlacedPart& part = where[r];
    std::string devices;
    for (int a : part.accelerators) devices += (devices.empty() ? "" : ",") + std::to_string(a);
    const std::map<std::string, std::string> env = {
        {"PATH", o_.path},
        {"HOME", lj.dir.string()},
        {"TMPDIR", (lj.dir / "tmp").string()},
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
        {"SOVGRID_JOB_DIR", lj.dir.string()},
        {"SOVGRID_SHELL", o_.shell},
        {"SOVGRID_COMMAND", job.command},
        {"SOVGRID_EXIT_FILE", (lj.dir / ("rank-" + std::to_string(r) + ".exit")).string()},
    };
    SandboxSpec spec;
    spec.program = o_.shell;
    spec.argv = {o_.shell, "-c", kWrapper, "sovgrid-job"};
    for (const auto& [k, v] : env) spec.env.push_back(k + "=" + v);
    spec.cwd = lj.dir.string();
    spec.uid = lj.uid;
    spec.gid = lj.uid.value_or(0);
    spec.limits.max_processes = Isolated() ? o_.max_processes : 0;
    spec.limits.max_open_files = o_.max_open_files;
    spec.limits.max_file_size_bytes = o_.max_file_size_bytes;
    spec.limits.max_address_space_bytes = o_.max_address_space_bytes;
    return spec;
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
    // Written by the job's own uid: read as an untrusted file.
    auto text = ReadUntrustedFile(
        (lj.dir / ("rank-" + std::to_string(&r - lj.ranks.data()) + ".exit")).string(), 0, 32,
        "exit file");
    std::istringstream in(text.ok() ? *text : "");
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

  LocalBackendOptions o_;
  std::optional<JobCgroups> cgroups_;
  std::map<std::string, LocalJob> jobs_;  // ordered: deterministic Poll order
  std::vector<Drain> drains_;
  std::set<uid_t> busy_uids_;  // of running jobs and drains
  std::uint32_t next_uid_ = 0;
  std::map<uid_t, std::vector<fs::path>> unsettled_;  // see ScanOwnedFolders
  std::set<uid_t> live_cache_;                        // see AllocateUid
  Clock::time_point live_read_at_{};
  bool settled_ = false;
};

Status CheckReachable(const fs::path& dir) {
  // A job enters its folder as its own uid: every folder above DIR must let
  // others pass (x).
  for (fs::path p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0)
      return IoError("cannot stat " + p.string() + ": " + std::strerror(errno));
    if ((st.st_mode & S_IXOTH) == 0)
      return InvalidArgument("local backend: jobs run under their own uid and must reach " +
                             dir.string() + ", but " + p.string() +
                             " is not searchable by others (chmod o+x, or another data dir)");
    if (p == p.root_path()) break;
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ExecutionBackend>> MakeLocalBackend(const LocalBackendOptions& options,
                                                           std::string* summary) {
  if (options.dir.empty()) return InvalidArgument("local backend: no directory given");
  const bool isolated = options.isolation == JobIsolation::kUid;
  if (isolated) {
    if (::geteuid() != 0)
      return FailedPrecondition(
          "local backend: running each job under its own uid needs root (this process runs as "
          "uid " +
          std::to_string(::geteuid()) +
          "); run as root, or choose job isolation 'none' (development only: jobs can then read "
          "everything the daemon can)");
    if (options.uid_base == 0 || options.uid_count == 0 ||
        std::uint64_t{options.uid_base} + options.uid_count > 4294967294ULL)
      return InvalidArgument(
          "local backend: job uids: expected a range of 1 or more within "
          "1..4294967293, found " +
          std::to_string(options.uid_base) + " + " + std::to_string(options.uid_count));
  }
  std::error_code ec;
  const fs::path dir = fs::absolute(options.dir, ec);
  for (const char* sub : {"jobs", "state"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) return IoError("cannot create " + (dir / sub).string() + ": " + ec.message());
  }
  const mode_t pass = isolated ? 0711 : 0700;
  if (::chmod(dir.c_str(), pass) != 0 || ::chmod((dir / "jobs").c_str(), pass) != 0 ||
      ::chmod((dir / "state").c_str(), 0700) != 0)
    return IoError("cannot set the modes of " + dir.string() + ": " + std::strerror(errno));
  if (isolated) {
    if (Status s = CheckReachable(dir); !s.ok()) return s;
  }
  if (::access(options.shell.c_str(), X_OK) != 0 || options.shell.front() != '/')
    return InvalidArgument("local backend: shell " + options.shell +
                           " is not an executable absolute path");
  std::string note;
  auto cgroups = JobCgroups::Open(
      options.cgroup, {options.max_memory_bytes, isolated ? options.max_processes : 0}, &note);
  if (!cgroups.ok()) return cgroups.status();
  if (summary != nullptr) {
    auto limit = [](std::uint64_t v) { return v == 0 ? std::string("-") : std::to_string(v); };
    *summary = isolated ? "jobs under uids " + std::to_string(options.uid_base) + ".." +
                              std::to_string(options.uid_base + options.uid_count - 1)
                        : "jobs as this user (isolation none)";
    *summary += "; rlimits nproc " + (isolated ? limit(options.max_processes) : "-") + ", nofile " +
                limit(options.max_open_files) + ", fsize " + limit(options.max_file_size_bytes) +
                ", as " + limit(options.max_address_space_bytes) + ", core 0; ";
    *summary += cgroups->has_value() ? "cgroup v2 under " + (*cgroups)->parent() + " (memory.max " +
                                           limit(options.max_memory_bytes) + ", pids.max " +
                                           limit(options.max_processes) + ")"
                                     : (note.empty() ? "no cgroup v2 (none asked)" : note);
  }
  LocalBackendOptions o = options;
  o.dir = dir.string();
  return std::unique_ptr<ExecutionBackend>(
      std::make_unique<LocalBackend>(std::move(o), std::move(*cgroups)));
}

}  // namespace sovgrid::backends
