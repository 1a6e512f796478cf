// Running a job's processes apart from the daemon (Linux): under a uid and gid
// of their own, with resource limits, in a cgroup v2 where there is one, and
// finding and killing everything that runs under such a uid afterwards.
// docs/backends.md ("Isolation model") says what this protects and what not.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace sovgrid::backends {

// setrlimit values for a job's processes; 0 leaves that limit as inherited.
// RLIMIT_CORE is always 0 (a core dump is written as the job, into its cwd,
// and may hold anything the job read).
struct ProcessLimits {
  std::uint64_t max_processes = 0;            // RLIMIT_NPROC: counts per real uid
  std::uint64_t max_open_files = 0;           // RLIMIT_NOFILE
  std::uint64_t max_file_size_bytes = 0;      // RLIMIT_FSIZE (stdout and stderr too)
  std::uint64_t max_address_space_bytes = 0;  // RLIMIT_AS
};

struct SandboxSpec {
  std::string program;            // an absolute path; not searched in PATH
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // the whole environment, "KEY=VALUE"
  std::string cwd;                // entered after the uid switch: the job must reach it
  int stdout_fd = -1;             // standard input is /dev/null
  int stderr_fd = -1;
  std::optional<uid_t> uid;  // switch to uid:gid (no supplementary groups); needs root
  gid_t gid = 0;
  ProcessLimits limits;
  int cgroup_procs_fd = -1;  // an open cgroup.procs: the child moves itself there first
};

// Starts `spec` as a new process: signal dispositions and mask reset, a new
// session (so its pid is its process group and session id), in the cgroup,
// descriptors 0-2 as given and every other one closed, limits set, umask 077,
// the uid switched (setgroups(0), then gid, then uid: real, effective and
// saved), PR_SET_NO_NEW_PRIVS, then the cwd entered and the program exec'd.
//
// `before_exec(pid)` runs in the caller once the child exists and before it
// may exec (the child waits on a pipe): a caller records the pid durably
// there, so that no job process ever runs that a restarted daemon could not
// find. When it fails, or the caller dies first, the child exits without
// running anything. Returns the pid once the exec succeeded; a failed step is
// FailedPrecondition naming it ("cannot enter /x: Permission denied"), a fork
// failure IoError. The caller reaps the child (waitpid).
Result<pid_t> SpawnSandboxed(const SandboxSpec& spec,
                             const std::function<Status(pid_t)>& before_exec);

// Sends `sig` to every process whose real or saved uid is `uid`, through a
// short-lived child that becomes that uid and calls kill(-1, sig): it reaches
// processes that left their process group or session (a double fork) and
// nothing of any other uid. Needs root; `uid` must not be 0.
void SignalUid(uid_t uid, int sig);

// The real, effective and saved uids of every live (not zombie) process.
std::set<uid_t> LiveProcessUids();
bool UidHasLiveProcesses(uid_t uid);

// lchown of `dir` and everything under it, never following a symbolic link
// (the tree may hold links a job made to files it must not get).
Status ChownTree(const std::string& dir, uid_t uid, gid_t gid);

// Up to `limit` bytes from `offset` of a file a job could have replaced:
// refuses (NotFound, "... is not a regular file") a symbolic link, FIFO,
// device or a file with more than one hard link, and never blocks on open.
// NotFound when missing; `what` names the file in messages.
Result<std::string> ReadUntrustedFile(const std::string& path, std::size_t offset,
                                      std::size_t limit, const std::string& what);

// Per-job cgroups v2 under one parent cgroup: memory.max and pids.max set,
// killed with cgroup.kill, empty when cgroup.events says "populated 0".
struct CgroupLimits {
  std::uint64_t memory_max_bytes = 0;  // 0: not limited
  std::uint64_t pids_max = 0;          // 0: not limited
};

class JobCgroups {
 public:
  // `setting`: "none" (nullopt); "auto": PARENT = /sys/fs/cgroup/sovgrid-jobs
  // when /sys/fs/cgroup is a cgroup2 mount this process may write, with the
  // controllers the limits need, else nullopt (`note` says why); any other
  // value is the PARENT directory itself, which must be on cgroup2 (error
  // otherwise). PARENT is created and its memory and pids controllers enabled.
  static Result<std::optional<JobCgroups>> Open(const std::string& setting,
                                                const CgroupLimits& limits, std::string* note);

  const std::string& parent() const { return parent_; }
  // Creates (or reuses) PARENT/name with the limits; an open descriptor of
  // its cgroup.procs for SandboxSpec (the caller closes it).
  Result<int> Create(const std::string& name) const;
  void Kill(const std::string& name) const;
  void Signal(const std::string& name, int sig) const;  // each process listed in it
  bool Populated(const std::string& name) const;
  void Remove(const std::string& name) const;  // rmdir; only an empty cgroup goes

 private:
  std::string parent_;
  CgroupLimits limits_;
};

}  // namespace sovgrid::backends
