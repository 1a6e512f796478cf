// JobTable: every job the scheduler knows, pending or running, and where each
// pending job waits.
//
// Owns the job records (by internal index, slots reused after a job leaves),
// the id map, the pending list and running count, the compact per-job data a
// cycle reads (queue entry, wait reason, parking slot), the active list and
// the parked lists (by candidate set, by quota class, until the retry
// interval), and the indexes of running jobs per pool and per node.
//
// Parking: a job that could not start waits, parked, until something that
// could help it happens (capacity released in a pool of its candidate set or
// in its quota class, nodes, sites, quotas or grants changing, or the retry
// interval passing); Wake() moves such jobs back to the active list at the
// start of a cycle. Only active jobs are offered to the queue order. A job
// refused only by grants (spent, or none valid yet) waits for its grant
// holder's grants to change or a grant window to open (WakeGrantHolder), not
// for the retry interval: nothing else can let it start. A job no pool can
// ever run (kNoCandidatePool: its candidate set is empty, which is static)
// waits for a global change only.
//
// A cycle takes the active list (TakeActive) after waking: from then on each
// of its jobs is in the cycle, in no list, until the cycle places it again —
// parked (ParkConsidered), kept active (KeepActive) or started
// (MarkRunning(..., /*in_cycle=*/true)). Waking and parking thus write no
// per-job slot for a list the job leaves at once (measured: the list churn of
// the periodic retry was ~7 % of a national run).
//
// Records only: the table never touches the grid, quota or reservations
// except through ReleaseAll, which frees a job's allocation and refunds its
// quota. Not thread-safe; the Scheduler's owner drives it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sched/cycle_context.h"
#include "sched/queue_order.h"

namespace sovgrid::sched {

class JobTable {
 public:
  // Jobs with a part in a pool, with what a victim search reads first, so
  // that ineligible jobs are skipped without touching their records.
  struct RunningRef {
    std::uint32_t job;
    std::int32_t priority;
    std::int32_t tenant;
    bool preemptible;
    model::Time last_start;
  };
  // A running job on one node, with the whole accelerators it holds there.
  struct OnNode {
    std::uint32_t job;
    std::uint32_t whole;
    model::Time expected_end;  // start + remaining estimate; kNever when unknown
  };

  JobTable(std::size_t pools, std::size_t quota_classes, std::size_t nodes, std::size_t tenants);

  // Records.
  SchedJob& job(std::uint32_t idx) { return jobs_[idx]; }
  const SchedJob& job(std::uint32_t idx) const { return jobs_[idx]; }
  std::size_t slots() const { return jobs_.size(); }
  // The index of a live job, or kNoJob.
  std::uint32_t Find(std::string_view id) const;
  // A fresh record for a validated job, pending and active. `part_sets` has
  // one candidate set per part (see EnsureCandidateSets).
  std::uint32_t Add(model::Job spec, int tenant, int priority,
                    std::vector<std::uint32_t> part_sets);
  // Forgets a job that is neither pending nor running any more (its slot is reused).
  void Remove(std::uint32_t idx);
  // Candidate sets 0..count-1 may be parked under (Admission creates them).
  void EnsureCandidateSets(std::size_t count);

  WaitReason& reason(std::uint32_t idx) { return pending_state_[idx].reason; }
  const WaitReason& reason(std::uint32_t idx) const { return pending_state_[idx].reason; }
  const QueueEntry& hot(std::uint32_t idx) const { return pending_state_[idx].hot; }
  // A hint that job idx's pending state (hot, reason, parking) is read and
  // written soon: fetches both of its cache lines.
  void PrefetchPending(std::uint32_t idx) const {
    const char* at = reinterpret_cast<const char*>(&pending_state_[idx]);
    __builtin_prefetch(at, 1);
    __builtin_prefetch(at + 64, 1);
  }

  const std::vector<std::uint32_t>& pending() const { return pending_; }
  std::size_t running_count() const { return running_count_; }

  // The queue entry of a pending job from its record.
  QueueEntry EntryOf(std::uint32_t idx) const;
  // A running job as a queue entry at `now`: its remaining time and attained
  // service include the current run.
  QueueEntry RunningEntry(std::uint32_t idx, model::Time now) const;
  // Work lost (accelerator-seconds) if the running job stopped at `now`.
  double LostWork(const SchedJob& j, model::Time now) const;

  // Pending and running.
  // A pending job, its parts registered (RegisterPart), becomes running at
  // `now`. `in_cycle`: the job was taken by the cycle (TakeActive).
  void MarkRunning(std::uint32_t idx, model::Time now, bool in_cycle = false);
  // A running job returns to the queue at `now` (its allocation already
  // released): work since its last checkpoint is lost.
  void MarkStopped(std::uint32_t idx, model::Time now);
  // A running job leaves without returning to the queue (its allocation
  // already released).
  void MarkGone() { --running_count_; }
  // Removes a pending job from the pending list and its waiting list.
  void RemovePending(std::uint32_t idx);

  // Records parts already allocated on the grid as the job's, starting at `now`.
  void RegisterPart(SchedJob& j, std::size_t pool, std::vector<NodeAssignment>&& parts,
                    model::Time now);
  // Frees the job's allocation on the grid and refunds its quota; appends
  // the nodes it held to `nodes` (their ready times change).
  void ReleaseAll(SchedJob& j, GridState& grid, QuotaLedger& quota, std::vector<NodeId>* nodes);

  // Parking and waking.
  const std::vector<std::uint32_t>& active() const { return active_; }
  // The active jobs, handed to the cycle: the list is left empty, and every
  // job in it must be placed again before the cycle ends (see above). The
  // reference is valid until the next call.
  const std::vector<std::uint32_t>& TakeActive();
  // A job of the cycle that just failed for reason `r`, parked where a
  // relevant release will wake it. `part_set` is its queue entry's (passed
  // in so that parking does not read the entry again: one cache miss per
  // parked job). `waited_for_room`: some pool passed admission and lacked
  // capacity (a release may help even when `r` names a grant).
  void ParkConsidered(std::uint32_t idx, const WaitReason& r, std::uint32_t part_set,
                      bool waited_for_room);
  // A job of the cycle that stays active (it holds a reservation, or blocks
  // a strict queue).
  void KeepActive(std::uint32_t idx);
  // Something changed that may help any job (sites, quotas, grants).
  void WakeAllNextCycle() { wake_all_ = true; }
  // Room came to `pool` other than by a release (a node back up): the jobs
  // parked on its candidate sets wake at the next cycle, as after a release.
  void MarkPoolGained(std::size_t pool) { pool_released_[pool] = 1; }
  // The grants of `holder` (a QuotaLedger::GrantHolder) changed or a window
  // of one opened: its jobs refused only by grants become active. Not during
  // a cycle.
  void WakeGrantHolder(int holder);
  // The cycle's first phase: wakes parked jobs whose candidate pools or quota
  // class saw a release since the last cycle, or all of them when something
  // global changed or `retry_interval` has passed since they last were
  // (those parked by grant holder only for a global change).
  void Wake(model::Time now, model::Duration retry_interval,
            const std::vector<std::vector<std::uint32_t>>& sets_of_pool);

  // Running jobs per pool and per node, for preemption and reservations.
  const std::vector<RunningRef>& running_in_pool(std::size_t p) const { return pool_running_[p]; }
  const std::vector<OnNode>& on_node(NodeId n) const { return node_jobs_[n]; }
  // Preemptible running jobs of a pool: priority -> their start times.
  const std::map<std::int32_t, std::multiset<model::Time>>& pool_priorities(std::size_t p) const {
    return pool_priorities_[p];
  }
  // Bumped whenever a job starts or stops in the pool.
  std::uint64_t pool_version(std::size_t p) const { return pool_version_[p]; }

 private:
  struct ParkSlot {
    SchedJob::Park park = SchedJob::Park::kActive;
    std::uint32_t key = 0;  // the candidate set or quota class it is parked under
    std::uint32_t pos = 0;  // its index in the active list or the parked list
  };

  void AddPending(std::uint32_t idx);
  void EraseFromList(std::vector<std::uint32_t>& list, std::uint32_t idx);
  std::vector<std::uint32_t>& ListOf(std::uint32_t idx);
  void PutIn(std::vector<std::uint32_t>& list, SchedJob::Park park, std::uint32_t key,
             std::uint32_t idx);
  void WakeList(std::vector<std::uint32_t>& list);
  bool InCycle(std::uint32_t idx) const;

  // Per job, apart from the records so that a cycle over many pending jobs
  // touches a few compact bytes per job rather than its record: its queue
  // entry as of its last change (submission, stop), where it waits, and why.
  // Together in two cache lines: a cycle reads the entry (the queue sort) and
  // then writes the reason and parking of nearly every job it reads (a cache
  // hit parks the job again), so those writes find the lines already fetched
  // (as three arrays, each consideration missed on three lines).
  struct alignas(64) Pending {
    QueueEntry hot;
    ParkSlot parking;
    WaitReason reason;
  };
  static_assert(sizeof(Pending) == 128, "a job's pending state is two cache lines");

  std::vector<SchedJob> jobs_;
  std::vector<Pending> pending_state_;
  std::vector<std::uint32_t> free_slots_;
  // Transparent: looked up by string_view without building a string.
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, std::uint32_t, IdHash, std::equal_to<>> by_id_;
  std::uint64_t next_seq_ = 0;
  std::vector<std::uint32_t> pending_;  // internal job indexes
  std::size_t running_count_ = 0;

  // Pending jobs tried every cycle, and parked ones by what would wake them.
  std::vector<std::uint32_t> active_;
  std::vector<std::uint32_t> taken_;  // the active list a cycle took (TakeActive)
#ifndef NDEBUG
  std::vector<char> in_cycle_;  // per job: taken and not placed again (checks only)
#endif
  std::vector<std::vector<std::uint32_t>> parked_by_set_;           // per candidate set
  std::vector<std::vector<std::uint32_t>> parked_by_class_;         // per quota class
  std::vector<std::vector<std::uint32_t>> parked_by_grant_holder_;  // per tenant (holder)
  std::vector<std::uint32_t> parked_until_retry_;          // woken only by the retry interval
  std::vector<std::uint32_t> parked_until_global_change_;  // no pool can ever run them
  std::vector<char> pool_released_, class_released_;       // since the last cycle
  bool wake_all_ = false;
  model::Time last_full_wake_ = std::numeric_limits<model::Time>::min();

  std::vector<std::vector<RunningRef>> pool_running_;
  std::vector<std::vector<OnNode>> node_jobs_;
  std::vector<std::map<std::int32_t, std::multiset<model::Time>>> pool_priorities_;
  std::vector<std::uint64_t> pool_version_;
};

}  // namespace sovgrid::sched
