// Scheduler: one passive scheduler for the whole grid.
//
// Contract:
//  * Passive. No wall clock, no threads, no I/O: the caller feeds events
//    (Submit, Cancel, Finish, Fail, SetNodeHealth, SetSiteState, SetQuota,
//    SetGrants) and calls RunCycle(now). The twin calls it in virtual time, the
//    daemon in wall-clock time; both get the same decisions for the same inputs.
//  * RunCycle returns decisions (start, preempt, reserve, requeue), each with a
//    reason. The scheduler has already applied them to its own state: a started
//    job is running from `now` until the caller reports Finish/Fail/Cancel.
//  * Every job left pending has a WaitReason; Explain() renders it in words a
//    person can act on.
//  * Residency is a hard filter: no decision ever places a job touching a
//    dataset on a site that the dataset's rule excludes.
//  * Deterministic: ties are broken by submission order and indexes, never by
//    addresses or hash order.
//  * Expected failures (unknown ids, invalid jobs) return Status; broken
//    invariants assert.
// Not thread-safe; one owner drives it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"
#include "sched/decision.h"
#include "sched/grid_state.h"
#include "sched/queue_order.h"
#include "sched/quota.h"
#include "sched/score.h"

namespace sovgrid::sched {

struct SchedulerConfig {
  std::string queue_order = "drf";
  std::vector<std::string> scores = {"topology", "binpack"};
  bool backfill = true;
  bool preemption = true;
  model::Duration preemption_grace_s = 1800;
  int max_reservations = 8;  // per cycle, at most one per pool
  // Bounds on preemption work per cycle: jobs that try to preempt, and the
  // eligible running jobs of a pool considered as victims (the cheapest of
  // those are taken). Jobs beyond the first bound try again next cycle.
  int max_preemption_attempts = 64;
  int max_victim_candidates = 512;
  // A job that could not start is parked until capacity it could use is
  // released, quotas change or nodes come back, and retried at least this
  // often in any case (for time-driven changes: grace periods ending, grant
  // windows opening). 0 retries every pending job in every cycle.
  model::Duration retry_interval_s = 300;
  QueueOrderOptions queue_options;

  static SchedulerConfig FromPolicies(const model::Policies& p);
};

enum class JobState : std::uint8_t { kPending, kRunning };

// What the scheduler knows about one job, for callers.
struct JobView {
  const model::Job* spec = nullptr;
  JobState state = JobState::kPending;
  int tenant = -1;
  int priority = 0;
  model::Time last_start = -1;     // -1: never started
  model::Duration progress_s = 0;  // work kept (checkpointed) before the current run
  double attained_gpu_s = 0;       // accelerator-seconds received so far
  int preemptions = 0;
  const std::vector<NodeAssignment>* assignment = nullptr;  // running only
  WaitReason reason;                                        // pending only
};

struct CycleStats {
  std::size_t pending_before = 0;
  std::size_t considered = 0;
  std::size_t started = 0;
  std::size_t preempted = 0;
  std::size_t reserved = 0;
  std::size_t equivalence_hits = 0;  // jobs skipped because an identical one just failed
  // The same for multi-part jobs (services with replicas) identical to one
  // that failed at its first part; counted apart from equivalence_hits.
  std::size_t multi_part_hits = 0;
  // Jobs not attempted because one with the same tenant, first candidate set
  // and size was refused by admission in every pool of that set (counted in
  // `considered`, not in the hits above: the outcome is that of an attempt).
  std::size_t admission_hits = 0;
};

struct CycleResult {
  std::vector<Decision> decisions;
  CycleStats stats;
};

// The checks Scheduler::Submit makes that depend on the scenario only (ids,
// tenant, models, datasets the tenant may use, priority class, shape), with
// the same messages; a failure about one field of the job names it in
// Status::field() ("tenant", "accelerators"). Reads nothing but `scenario`: safe to call from any
// thread, also while a scheduler on that scenario runs a cycle. Submit also
// rejects an id it already holds.
Status ValidateJob(const model::Scenario& scenario, const model::Job& job);

class Scheduler {
 public:
  // The scenario must outlive the scheduler. Fails on unknown policy names.
  static Result<std::unique_ptr<Scheduler>> Create(const model::Scenario& scenario,
                                                   SchedulerConfig config);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Validates and queues a job (pending until a cycle starts it). Errors:
  // duplicate id, unknown tenant/dataset/model/priority class, a dataset the
  // tenant may not use, an impossible shape.
  Status Submit(model::Job job);
  // A job's handle: its slot in the scheduler, valid from its Submit until it
  // is finished, failed or cancelled (the slot is then reused for another
  // job). For drivers that look their jobs up often (the twin): JobAt is an
  // array access where Job(id) hashes the id.
  using Handle = std::uint32_t;
  // Submit, and on success the job's handle in `*handle`.
  Status Submit(model::Job job, Handle* handle);
  // Removes a pending or running job (its resources are freed at once).
  Status Cancel(std::string_view id, model::Time now);
  Status Finish(std::string_view id, model::Time now);
  // Finish by handle (see Handle): no id lookup.
  Status FinishAt(Handle handle, model::Time now);
  // The job failed on its own: it is removed, not retried.
  Status Fail(std::string_view id, model::Time now);
  // Restores a job that was running when its driver stopped (a daemon
  // restart): validated as by Submit, then running on exactly `assignment`
  // since `started_at`, charged to its quota, without a decision. Errors: those
  // of Submit, and FailedPrecondition when the assignment cannot be honoured
  // (an unknown node or accelerator, a node or site that is down, capacity
  // already taken, a pool the job's residency or model filters exclude); the
  // job is then not known to the scheduler and the caller may Submit it.
  Status Adopt(model::Job job, const std::vector<NodeAssignment>& assignment,
               model::Time started_at, model::Time now);

  // A node or site going down requeues the jobs on it (Requeue decisions in
  // the next cycle); draining stops new placements only.
  Status SetNodeHealth(std::string_view node, NodeHealth health, model::Time now);
  Status SetSiteState(std::string_view site, model::SiteState state, model::Time now);
  Status SetQuota(std::string_view tenant, const model::ClassAmounts& guarantee,
                  const model::ClassAmounts& borrow_limit, const model::ClassAmounts& lend_limit);
  Status SetGrants(std::string_view tenant, std::vector<model::Grant> grants);
  // What a tenant's grant has used so far, in units (a restart restores it).
  Status SetGrantUsed(std::string_view tenant, std::string_view grant, double units);

  CycleResult RunCycle(model::Time now);

  // Queries.
  Result<JobView> Job(std::string_view id) const;
  // The job of a handle that is valid (see Handle); anything else is a bug
  // of the caller (checked in debug builds).
  JobView JobAt(Handle handle) const;
  // JobAt(handle).reason without touching the job's record (kept apart).
  const WaitReason& ReasonAt(Handle handle) const;
  // The pending reason in words; empty for running jobs.
  Result<std::string> Explain(std::string_view id) const;
  std::size_t pending_count() const;
  // Pending jobs per tenant (index into the scenario's tenants). Linear in
  // the pending jobs: for metrics scrapes, not for every call.
  std::vector<std::size_t> PendingPerTenant() const;
  std::size_t running_count() const;
  const GridState& grid() const { return grid_; }
  const QuotaLedger& quota() const { return quota_; }
  const SchedulerConfig& config() const { return config_; }
  const model::Scenario& scenario() const { return scenario_; }
  // Ids of running jobs on a node, in start order.
  std::vector<std::string> JobsOnNode(NodeId n) const;
  // The same as handles (valid while those jobs are known).
  std::vector<Handle> HandlesOnNode(NodeId n) const;
  // Bytes of scheduler-owned memory per pending job (estimate, for benchmarks).
  std::size_t ApproxBytesPerPendingJob() const;

 private:
  struct Impl;
  Scheduler(const model::Scenario& scenario, SchedulerConfig config);
  // Cancel of the job at internal index `idx` (known to exist).
  void CancelJob(std::uint32_t idx, model::Time now);

  const model::Scenario& scenario_;
  SchedulerConfig config_;
  GridState grid_;
  QuotaLedger quota_;
  std::unique_ptr<Impl> impl_;  // the phases (sched/*.h internal headers) and the job table
};

}  // namespace sovgrid::sched
