// ExecutionBackend: where the control plane's decisions run. The scheduler
// decides which job runs on which nodes and accelerators; a backend makes that
// happen (simulated in wall-clock time, as local processes, or on a site's own
// scheduler) and reports when jobs end.
//
// Contract (tests/backends/backend_contract.h runs it against every
// backend):
//  * Accepts(job) says at submission whether this backend can run the job at
//    all (InvalidArgument "job.FIELD: ..." with field() FIELD otherwise), so that a job it can
//    never run is refused before it is acknowledged.
//  * Start runs a job on exactly the placement given and returns a handle the
//    caller keeps durably with the job (a process id, a site scheduler's job
//    id; may be empty). An error means the job did not start and left nothing
//    running: IoError when trying again later may work (a site's scheduler
//    unreachable; the caller requeues the job), any other code when the job
//    can never start this way (the caller fails it with the message).
//  * StartAll starts several jobs, result i for request i with Start's
//    meaning; one job's failure does not stop the others. A backend whose
//    starts wait on something slow (a site's scheduler) runs them
//    concurrently; the default starts them one after another.
//  * Every started or adopted job is reported by Poll exactly once, when it
//    ends by itself, unless Stop was called for it first. A stopped job is
//    never reported. Stop of an unknown job does nothing. A job the site lost
//    without it failing (its node failed, the site preempted it, the site no
//    longer knows it) is reported with `lost`: the caller requeues it.
//  * Health reports changes of node and site health the backend observed (a
//    site's scheduler unreachable, a node drained there), each once, as they
//    happen; the caller combines them with the administrators' states.
//  * Adopt takes over, after a restart of the caller, a job that an earlier
//    instance started (same placement, same handle). A job that ended while
//    nobody watched is reported by the next Poll. NotFound when the backend
//    has no trace of the job: it is not running, and the caller requeues it.
//  * Logs returns the captured output of a job this backend ran, also after
//    the job ended and after a restart; FailedPrecondition when the backend
//    captures none (twin), NotFound when there is none for the job.
//  * Times are seconds since the Unix epoch, given by the caller.
//  * Not thread-safe: the control plane calls it under its own lock, except
//    Accepts, which it calls from submitting threads: Accepts reads the job
//    and immutable configuration only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"

namespace sovgrid::backends {

// One node's part of a placement, in the scenario's names.
struct PlacedPart {
  std::string node;  // "pool-id/n00012", as the API shows it
  std::string pool;
  std::string site;
  std::vector<int> accelerators;  // indexes on the node, 0-based
  double share = 1;               // of each accelerator (< 1: a fraction of one)
};

struct Ended {
  std::string job;
  bool failed = false;
  bool lost = false;    // ended by no fault of its own: requeue it
  std::string message;  // "exit 0", "exit 3", "killed by signal 9", a site's reason...
};

struct HealthChange {
  enum class Kind : std::uint8_t { kNode, kSite };
  Kind kind = Kind::kNode;
  std::string name;   // a node as "pool-id/n00012", or a site id
  std::string state;  // "up", "draining" or "down"
  std::string reason;
};

// One job to start and its placement; StartAll reads them for the call only.
struct StartRequest {
  const model::Job* job = nullptr;
  std::vector<PlacedPart> where;
};

class ExecutionBackend {
 public:
  virtual ~ExecutionBackend() = default;
  virtual std::string_view name() const = 0;

  virtual Status Accepts(const model::Job& job) const = 0;
  virtual Result<std::string> Start(const model::Job& job, const std::vector<PlacedPart>& where,
                                    model::Time now) = 0;
  virtual std::vector<Result<std::string>> StartAll(const std::vector<StartRequest>& starts,
                                                    model::Time now) {
    std::vector<Result<std::string>> out;
    out.reserve(starts.size());
    for (const auto& s : starts) out.push_back(Start(*s.job, s.where, now));
    return out;
  }
  virtual Status Adopt(const model::Job& job, const std::vector<PlacedPart>& where,
                       model::Time started_at, const std::string& handle) = 0;
  virtual void Stop(const std::string& job) = 0;
  // Jobs that ended by themselves since the last call, in a deterministic order.
  virtual std::vector<Ended> Poll(model::Time now) = 0;
  // Node and site health changes seen since the last call.
  virtual std::vector<HealthChange> Health(model::Time /*now*/) { return {}; }
  // Up to `limit` bytes of the job's "stdout" or "stderr" from byte `offset`.
  virtual Result<std::string> Logs(const std::string& job, std::string_view stream,
                                   std::size_t offset, std::size_t limit) = 0;
};

// Simulated execution in wall-clock time: a job "runs" for runtime_s / speedup
// seconds from its start (a job without runtime_s runs until it is stopped).
std::unique_ptr<ExecutionBackend> MakeTwinBackend(double speedup);

// How the local backend keeps jobs from the daemon and from each other
// (docs/backends.md, "Isolation model").
enum class JobIsolation : std::uint8_t {
  kUid,   // each running job under a uid and gid of its own; needs root
  kNone,  // jobs run as the daemon's user, in reach of its files: development only
};

struct LocalBackendOptions {
  // Per-job folders go under it: DIR/jobs/TENANT/ID (the job's own: output,
  // exit statuses, its HOME) and DIR/state/TENANT/ID (the daemon's: uid,
  // process ids). Created if missing; must survive restarts for Adopt and Logs.
  std::string dir;
  std::string shell = "/bin/sh";  // runs the job's command with -c
  // After Stop, a job's processes get SIGTERM, then SIGKILL this much later.
  double kill_grace_s = 5;
  JobIsolation isolation = JobIsolation::kUid;
  // kUid: uids (and gids of the same number) [uid_base, uid_base + uid_count)
  // are handed out, one per running job; nothing else may use them. Linux
  // needs no passwd entry for them.
  std::uint32_t uid_base = 2000000000;
  std::uint32_t uid_count = 65536;
  std::string path = "/usr/local/bin:/usr/bin:/bin";  // the jobs' PATH
  // setrlimit in each job process (0: inherited). max_processes is
  // RLIMIT_NPROC, which counts a uid's processes: applied with kUid only.
  std::uint64_t max_processes = 4096;
  std::uint64_t max_open_files = 4096;
  std::uint64_t max_file_size_bytes = 0;
  std::uint64_t max_address_space_bytes = 0;
  // Per-job cgroup v2: "auto" (/sys/fs/cgroup/sovgrid-jobs when
  // /sys/fs/cgroup is a writable cgroup2 mount), "none", or a delegated cgroup2
  // directory. memory.max (0: none) and pids.max (= max_processes) per job.
  std::string cgroup = "auto";
  std::uint64_t max_memory_bytes = 0;
};

// Runs each job's `command` as processes on this machine: one per node of its
// placement, each in a session of its own, with the accelerators of its part
// in CUDA_VISIBLE_DEVICES (and SOVGRID_* variables, docs/backends.md), stdout
// and stderr appended to DIR/jobs/TENANT/ID/{stdout,stderr}. A job ends when
// all its processes ended; it failed if any exited non-zero or was killed.
// With kUid, whatever runs under a job's uid is killed when the job ends or is
// stopped, and the uid is handed out again only once nothing runs under it.
// FailedPrecondition for kUid when not running as root; InvalidArgument when
// a folder above DIR keeps job uids out. `summary`, if given, gets one line on
// the isolation, limits and cgroups in force, for the daemon's log.
Result<std::unique_ptr<ExecutionBackend>> MakeLocalBackend(const LocalBackendOptions& options,
                                                           std::string* summary = nullptr);

// The Slurm backend is declared in backends/slurm_backend.h.

}  // namespace sovgrid::backends
