// ControlPlane: the live daemon's core, without HTTP. It owns the scheduler
// (the same code the twin drives), commits every accepted change to the Store
// before it returns, runs started jobs on an ExecutionBackend, and rebuilds
// itself from the Store on start.
//
// Contract:
//  * Submit is all or none: every job of a batch is validated against the
//    scenario (sched::ValidateJob, the scheduler's own checks) and its id
//    checked unique (against submissions in flight here, and by the store's
//    commit: no read before it), then the batch and its audit entry are
//    committed in one transaction, then it is acknowledged. A rejected batch
//    leaves no trace.
//    Concurrent submissions share one transaction (group commit: the first
//    waiter commits for all). Submit never takes the scheduler's lock, so it
//    does not wait for a cycle: committed jobs go to an inbox that the cycle
//    thread empties into the scheduler at the start of the next Tick (or
//    Cancel). No cycle starts a job before its submission is committed.
//  * Tick(now) runs one scheduling cycle and collects finished work from the
//    backend; every state change is committed before Tick returns (in
//    transactions of a few hundred changes, releases before starts, letting
//    submissions' commits through between them: a crash in between leaves a
//    consistent prefix that the restart adopts).
//  * Submit also asks the backend whether it can run each job (Accepts, which
//    must be safe without the lock): a job it never could is refused, not
//    acknowledged.
//  * On open, pending jobs of the store are queued again and running jobs keep
//    their allocation: the scheduler adopts it (Scheduler::Adopt) and the
//    backend takes over the running work (ExecutionBackend::Adopt), which then
//    ends as it would have. A running job that cannot be adopted (its node
//    went down, the backend lost it) is requeued, and its history says why.
//  * No in-memory state runs ahead of the store. A job's start is committed
//    (state running, no backend handle yet) before the backend runs it, and
//    its handle recorded after; a cancel or an administrative change is
//    committed, with its audit entry, before it takes effect (or is undone
//    when its commit fails). End states the backend reports are kept, in
//    order, until they are committed; while any is waiting, no cycle runs and
//    nothing starts.
//  * When a commit fails (disk full, I/O error, database gone) the store is
//    "failing": writes answer IoError, reads go on, store_health() says so,
//    and each Tick retries (or probes with a heartbeat) until a commit
//    succeeds; then everything resumes by itself.
//  * Jobs are keyed by JobKey(tenant, name) (job_json.h): Submit takes jobs
//    whose id is the tenant's name for them and returns their keys; every
//    other call takes keys.
//  * Thread-safe: one mutex serialises the scheduler, another the backend;
//    submissions only take the group-commit mutex. No call waits for a site:
//    Tick calls the backend (Poll, Health, Stop, StartAll, each with the
//    backend's own deadlines) without holding the scheduler's mutex, so a
//    silent site controller slows the ticks, not the API. Cancel commits and
//    takes the job out of the scheduler at once; the backend stops it then
//    if it is free, else the tick that holds it does when its call returns.
//    A site the backend finds unreachable is marked down, with why, in
//    Grid().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "accounting/accounting.h"
#include "backends/execution_backend.h"
#include "common/status.h"
#include "model/scenario.h"
#include "sched/scheduler.h"
#include "server/admin_settings.h"
#include "server/states.h"
#include "store/store.h"

namespace sovgrid::server {

using backends::ExecutionBackend;

struct JobInfo {
  store::StoredJob record;
  std::vector<store::JobEvent> history;
  std::string pending_reason;  // in words, pending jobs only
};

struct GridSummary {
  struct Pool {
    std::string id, site, accelerator;
    Health site_state = Health::kUp;
    std::int64_t nodes = 0, accelerators = 0;
    double used = 0;  // accelerators in use (shares count pro rata)
  };
  std::vector<Pool> pools;
  struct Site {
    std::string id;
    Health state = Health::kUp;
    std::string reason;  // why not up: the backend's observation, or "set by an administrator"
  };
  std::vector<Site> sites;
  std::size_t pending = 0, running = 0;
};

// A tenant's usage against its quota (per quota class, in accelerators) and grants.
struct TenantUsage {
  struct Class {
    std::string name;
    double used = 0;       // the tenant's subtree
    double guarantee = 0;  // guaranteed to it
    double maximum = 0;    // what it may reach now (guarantee + what it may borrow)
  };
  struct GrantUse {
    model::Grant grant;
    double used_units = 0;
  };
  std::vector<Class> classes;
  std::vector<GrantUse> grants;
};

// A pool's nodes as the scheduler holds them now (GET /v1/pools/{id}/nodes).
struct PoolNodes {
  struct Job {
    std::string key;                          // "TENANT/NAME"
    std::vector<std::uint32_t> accelerators;  // indexes on the node
    double share = 1;                         // of each accelerator
  };
  struct Node {
    std::string name;            // "pool-id/n00012"
    Health state = Health::kUp;  // the node's own health (its site's is site_state)
    int accelerators = 0;
    double used = 0;        // accelerators allocated (shares pro rata)
    std::vector<Job> jobs;  // running on it, in start order
  };
  std::string pool, site;
  Health site_state = Health::kUp;
  std::size_t node_count = 0;
  std::vector<Node> nodes;  // the requested window, in node order
};

// Pending jobs counted per tenant and per wait reason (GET /v1/queue/summary).
struct QueueSummary {
  struct Group {
    int tenant = -1;  // index into the scenario's tenants
    sched::WaitCode code = sched::WaitCode::kNotTried;
    std::size_t jobs = 0;
    std::string example;  // the longest waiting of them (a job key)
    model::Time example_submitted = 0;
    std::string example_reason;  // its pending reason in words (Scheduler::Explain)
  };
  std::vector<Group> groups;  // one per (tenant, code) with pending jobs, by tenant then code
  std::size_t pending = 0;
  model::Time at = 0;  // when it was counted
};

// Whether the store takes commits; see the contract above.
struct StoreHealth {
  bool ok = true;
  std::string error;                 // the last failure, in words without file paths ("" when ok)
  std::uint64_t failed_commits = 0;  // since start
};

struct ControlPlaneCounters {
  std::uint64_t submitted = 0, started = 0, finished = 0, failed = 0, cancelled = 0, preempted = 0,
                cycles = 0;
  double last_cycle_ms = 0;
};

// An accounting report (GET /v1/accounting): usage in [from, until) grouped by
// one key, counting running jobs' open segments up to `now`.
struct AccountingQuery {
  model::Time from = 0, until = 0;
  accounting::Grouping group_by = accounting::GroupBy::kTenant;
  // Tenants whose usage counts (a token's subtree); empty = every tenant.
  std::vector<std::string> tenants;
};

struct ControlPlaneOptions {
  // Usage records (accounting) written with the state changes that end run
  // segments. Off: none are written, so reports and burn-downs see nothing
  // new; grants are still charged in memory while the daemon runs, and after
  // a restart start from what earlier records say (as Slurm without an
  // accounting storage). For sites that account elsewhere, and to measure
  // what recording costs (bench/api_load_stores).
  bool accounting = true;
};

class ControlPlane {
 public:
  // `scenario` and `store` must outlive the control plane.
  static Result<std::unique_ptr<ControlPlane>> Open(const model::Scenario& scenario,
                                                    store::Store* store,
                                                    std::unique_ptr<ExecutionBackend> backend,
                                                    model::Time now,
                                                    ControlPlaneOptions options = {});

  // Ids of the accepted jobs, in order. InvalidArgument / NotFound /
  // AlreadyExists from the validation name the job ("jobs[3] (id x): ...")
  // and their field() is "jobs[I]" or "jobs[I].FIELD" (I counts from 0 in
  // `jobs`, FIELD is the job's field the scheduler or the backend refused);
  // IoError when the commit failed. `audit`, if given, is appended to the
  // audit log in the same transaction as the jobs.
  Result<std::vector<std::string>> Submit(std::vector<model::Job> jobs, model::Time now,
                                          std::optional<store::AuditEntry> audit = std::nullopt);
  // FailedPrecondition for a job that already ended. `audit`, if given, is
  // committed with the cancellation.
  Status Cancel(const std::string& id, model::Time now,
                std::optional<store::AuditEntry> audit = std::nullopt);
  Result<JobInfo> Job(const std::string& id);
  // Captured output of a job (ExecutionBackend::Logs): NotFound for an unknown
  // job or a job that never ran; FailedPrecondition when the backend keeps none.
  Result<std::string> Logs(const std::string& id, std::string_view stream, std::size_t offset,
                           std::size_t limit);
  std::string_view backend_name() const { return backend_->name(); }
  Result<store::JobPage> List(const store::JobFilter& filter) { return store_->ListJobs(filter); }
  // One cycle at `now` plus the backend's ended jobs. Errors are store failures.
  Status Tick(model::Time now);

  GridSummary Grid();
  // Nodes [offset, offset + limit) of pool `pool` with their health, use and
  // running jobs; NotFound for an unknown pool.
  Result<PoolNodes> NodesOfPool(const std::string& pool, std::size_t offset, std::size_t limit);
  // Every pending job counted by tenant and wait reason, as last counted by
  // RefreshPendingSummary (`at` says when): counted here first when that is
  // more than 2 s ago (no control loop, or nobody asked lately).
  QueueSummary PendingSummary(model::Time now);
  // Counts anew when the last count is 1 s old or more and PendingSummary was
  // called in the last 60 s (the daemon's control loop calls it after each
  // tick). Linear in the jobs the scheduler holds, counted in slices of 4,096
  // that each hold the scheduler's lock alone: API calls never wait for the
  // whole count. Jobs that change state between slices may be counted in
  // their old state or their new one.
  void RefreshPendingSummary(model::Time now, bool asked = false);
  Result<TenantUsage> Usage(const std::string& tenant);
  // Accounting (control_plane_accounting.cpp). The report sums the store's
  // daily sums for whole UTC days, its records for the partial days at either
  // end, and the running jobs' open segments up to `now`. InvalidArgument for
  // an empty or reversed period or one longer than 3,660 days.
  Result<std::vector<accounting::ReportRow>> AccountingReport(const AccountingQuery& query,
                                                              model::Time now);
  // Burn-down of the grants held by `tenants` (all when empty) at `now`, the
  // rate taken over the last 7 days.
  Result<std::vector<accounting::GrantBurnDown>> GrantBurnDowns(
      const std::vector<std::string>& tenants, model::Time now);
  // Accelerators in use and pending jobs per top-level tenant (the metrics' series).
  struct TopLevelUsage {
    std::string tenant;
    double accelerators = 0;
    std::int64_t pending = 0;
    double charged_units = 0;  // run segments ended since this daemon started
  };
  std::vector<TopLevelUsage> TopLevelUsages();

  // Administration. Each change is applied to the scheduler (which validates
  // it), then kept in the store with `audit` (one transaction) and replayed
  // on the next open; if the commit fails the change is undone. NotFound for
  // unknown names; InvalidArgument for a bad state or amount.
  using Audit = std::optional<store::AuditEntry>;
  // `requeue` (with kDraining only; InvalidArgument otherwise) also moves the
  // jobs running there: at the next tick each is stopped in the backend and
  // queued again (its history says why; accounting counts the work since its
  // last checkpoint as lost), so it restarts elsewhere from its command (a job
  // that checkpoints resumes from its own checkpoint), as with Slurm's
  // `scontrol requeue` or a Kubernetes drain's evictions. Without it draining
  // only stops new placements. The requeues are not kept across a restart
  // before that tick (the drain is).
  Status SetNodeState(const std::string& node, Health state, model::Time now,
                      Audit audit = std::nullopt, bool requeue = false);
  Status SetSiteState(const std::string& site, Health state, model::Time now,
                      Audit audit = std::nullopt, bool requeue = false);
  Status SetQuota(const std::string& tenant, const model::ClassAmounts& guarantee,
                  const model::ClassAmounts& borrow_limit, const model::ClassAmounts& lend_limit,
                  Audit audit = std::nullopt);
  Status SetGrants(const std::string& tenant, const std::vector<model::Grant>& grants,
                   Audit audit = std::nullopt);
  ControlPlaneCounters counters();
  StoreHealth store_health();
  const model::Scenario& scenario() const { return scenario_; }

 private:
  ControlPlane(const model::Scenario& scenario, store::Store* store,
               std::unique_ptr<ExecutionBackend> backend, std::unique_ptr<sched::Scheduler> s);
  std::string AssignmentJson(const std::vector<sched::NodeAssignment>& a) const;
  // The inverse, for a restart; InvalidArgument when it names what the grid lacks.
  Result<std::vector<sched::NodeAssignment>> AssignmentFromJson(const std::string& text) const;
  std::vector<backends::PlacedPart> Placement(const std::vector<sched::NodeAssignment>& a) const;
  // Tick's parts under mu_: applies the backend's ends and health changes,
  // commits them and runs the cycle (an empty one while the store fails:
  // flush_failed_); then commits the cycle's stops and starts and hands what
  // the backend must do to `out`.
  struct TickStarts {
    std::vector<std::string> stops;                 // to stop, before any start
    std::vector<const sched::Decision*> decisions;  // committed starts
    std::vector<model::Job> jobs;                   // what is left to run of each
    std::vector<std::vector<backends::PlacedPart>> placements;
    Status flushed;  // the starts' commit
  };
  sched::CycleResult ObserveAndSchedule(const std::vector<backends::Ended>& ended,
                                        const std::vector<backends::HealthChange>& health,
                                        model::Time now);
  Status CommitCycle(const sched::CycleResult& cycle, model::Time now, TickStarts* out);
  // Cancel's part under mu_: committed, out of the scheduler, queued in pending_stops_.
  Status CancelInScheduler(const std::string& id, model::Time now,
                           std::optional<store::AuditEntry> audit);
  // Stops the cancelled jobs of pending_stops_ if the backend is free now
  // (else the tick that holds it does); StopPendingLocked: backend_mu_ held.
  void StopCancelled();
  void StopPendingLocked();
  // Rebuilds the scheduler and the backend from the store's active jobs (on open).
  Status Restore(model::Time now);
  // Puts a running job back in the queue as if new (the backend lost it, or could not start it
  // for now). mu_ held.
  Status Requeue(const model::Job& spec, model::Time now);
  // Records `state` for `target` in `from` (admin_health_ or backend_health_)
  // and gives the scheduler the worse of both views. mu_ held.
  Status ApplyHealth(const HealthTarget& target, std::map<HealthTarget, Health>* from, Health state,
                     model::Time now);
  // Accounting of run segments (mu_ held). OpenSegment notes a committed
  // start (or an adopted run); CloseSegment ends it at `end` and returns its
  // usage records, to be committed with the state change that ends it.
  // `lost` is whether the work since the last checkpoint is lost.
  void OpenSegment(const std::string& job, model::Time start,
                   const std::vector<sched::NodeAssignment>& assignment);
  std::vector<model::UsageRecord> CloseSegment(const std::string& job, model::Time end,
                                               const char* end_reason, bool lost, bool final);
  // The store's units per grant, and the open segments' up to `now`, into the
  // scheduler's grant ledger (on open).
  Status RestoreGrantUsage(model::Time now);
  struct Segment;
  // A segment's records, charged to the grants the scheduler holds now.
  std::vector<model::UsageRecord> SplitWithLedgerGrants(const accounting::RunSegment& seg) const;
  // A running job's open segment counted up to `now` (end reason "running").
  std::vector<model::UsageRecord> OpenSegmentUsage(const std::string& job, const Segment& seg,
                                                   model::Time now) const;
  // Applies one setting to the scheduler (mu_ held).
  Status ApplySetting(const AdminSetting& setting, model::Time now);
  // Applies a setting, commits its row with `audit`, and undoes it when the
  // commit fails (mu_ held by the caller).
  Status ChangeSetting(AdminSetting setting, model::Time now, Audit audit);
  // The setting of the same node, site or tenant when nothing was ever put
  // (the scenario's).
  AdminSetting DefaultSetting(const AdminSetting& like) const;
  // Commits unflushed_ and unflushed_refs_ (mu_ held): in transactions of a
  // few hundred, letting submissions' group commits through in between.
  // What could not be committed stays, in order, for the next try.
  Status Flush(model::Time now);
  // Records the outcome of a commit in the store's health.
  Status NoteCommit(const Status& s);
  // Commits every queued submission up to `ticket` (commit_mu_ held via
  // `lock`) and moves the committed jobs to the inbox; the error of the
  // submission that held `ticket`, if its commit failed.
  Status CommitUpTo(std::uint64_t ticket, std::unique_lock<std::mutex>& lock);
  // Submits the inbox's jobs to the scheduler (mu_ held); a job it refuses
  // becomes a "failed" update.
  void AdoptCommitted(model::Time now, std::vector<store::JobUpdate>* updates);

  const model::Scenario& scenario_;
  store::Store* store_;
  std::unique_ptr<ExecutionBackend> backend_;
  // Locks. mu_ guards the scheduler, the counters and the fields below it;
  // backend_mu_ the backend (not thread-safe), whose calls may wait on a site
  // for seconds and so are never made under mu_; tick_mu_ keeps ticks apart.
  // Order: tick_mu_, then backend_mu_, then mu_, then commit_mu_; nobody
  // holding mu_ waits for backend_mu_.
  std::mutex tick_mu_;
  std::mutex backend_mu_;
  std::mutex mu_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  ControlPlaneCounters counters_;
  // Node and site states as set by administrators and as the backend observed
  // them; the scheduler has the worse of the two.
  std::map<HealthTarget, Health> admin_health_, backend_health_;
  // Why the backend marked a node or site not up, while it is.
  std::map<HealthTarget, std::string> backend_health_reason_;
  std::vector<std::string> pending_stops_;  // cancelled, not yet stopped in the backend
  // Running jobs an administrator asked to move off drained capacity, with
  // why: requeued and stopped by the next CommitCycle.
  std::vector<std::pair<std::string, std::string>> evictions_;
  // Notes the running jobs on `nodes` in evictions_ (mu_ held).
  void EvictFrom(const std::vector<sched::NodeId>& nodes, const std::string& why);
  // Ids of the jobs the scheduler holds (pending or running), for
  // PendingSummary: the scheduler has no listing of its own.
  std::unordered_set<std::string> scheduled_;
  QueueSummary queue_summary_;     // the last count (mu_)
  model::Time summary_asked_ = 0;  // the last PendingSummary call (mu_)
  std::mutex summary_mu_;          // one count at a time; taken before mu_
  // Running jobs' current run segments (committed starts), by job id.
  struct Segment {
    model::Time start = 0;
    std::vector<accounting::RunSegment::Part> parts;
  };
  ControlPlaneOptions options_;
  std::unordered_map<std::string, Segment> segments_;  // empty when !options_.accounting
  // Running jobs by the order their runs started (committed starts, adopted
  // runs in restore order). Completions observed in one poll are applied in
  // this order, the twin engine's order for simultaneous completions, so that
  // the nodes they free are indexed alike and both drivers place the next
  // jobs on the same nodes (server_twin_parity_test). Erased when the run ends.
  std::unordered_map<std::string, std::uint64_t> start_order_;
  std::uint64_t next_start_order_ = 0;
  std::vector<double> charged_units_;  // per tenant index: segments ended since start
  Status flush_failed_;                // the last tick's flush before its cycle
  // Settings as last committed, by their store key, to undo a change whose commit failed.
  std::map<std::string, AdminSetting> settings_;
  // State changes already applied to the scheduler and the backend but not yet
  // committed (the store was failing), oldest first; and handles of started
  // jobs not yet recorded.
  std::vector<store::JobUpdate> unflushed_;
  std::vector<std::pair<std::string, std::string>> unflushed_refs_;
  std::mutex health_mu_;  // store_health_
  StoreHealth store_health_;

  // Group commit of submissions and the inbox. Lock order: mu_ before commit_mu_.
  struct Queued {  // one submission
    std::uint64_t ticket = 0;
    std::vector<store::StoredJob> records;
    std::vector<model::Job> jobs;
    std::vector<store::AuditEntry> audit;
  };
  std::mutex commit_mu_;
  std::condition_variable committed_cv_;
  std::vector<Queued> commit_queue_;
  std::unordered_set<std::string> in_flight_;  // ids of submissions not yet committed
  std::vector<model::Job> inbox_;              // committed, not yet in the scheduler
  std::uint64_t enqueued_ = 0;                 // tickets handed out (one per submission)
  std::uint64_t committed_ = 0;                // tickets whose commit finished (ok or not)
  bool committing_ = false;                    // a leader is writing a group
  std::unordered_map<std::uint64_t, Status> failed_commits_;  // until its submitter reads it
  std::atomic<std::uint64_t> submitted_{0};                   // jobs acknowledged
};

}  // namespace sovgrid::server
