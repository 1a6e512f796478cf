// The scheduler's internal vocabulary, shared by its phases (job_table.h,
// admission.h, placement.h, preemption.h, backfill.h, explain.h): the job
// record, the shape of a request in a pool, candidate sets, reservations, one
// start attempt, and the CycleContext every phase reads.
//
// Internal to src/sched: nothing outside the scheduler includes this header.
// Contract: plain data. The CycleContext refers to state the Scheduler owns
// (scenario, configuration, grid, quota); it outlives every phase object that
// holds it. Not thread-safe: the scheduler's one owner drives all of it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "model/scenario.h"
#include "sched/decision.h"
#include "sched/grid_state.h"
#include "sched/quota.h"
#include "sched/scheduler.h"

namespace sovgrid::sched {

inline constexpr model::Time kNever = std::numeric_limits<model::Time>::max();
inline constexpr std::uint32_t kNoJob = UINT32_MAX;
inline constexpr NodeId kNoNode = UINT32_MAX;
inline constexpr std::uint32_t kNoSet = UINT32_MAX;

// The pools a job part may ever use (static filters), shared by all jobs with
// the same tenant restriction, models, datasets, latency target and shape.
struct CandidateSet {
  std::vector<std::uint16_t> pools;
  WaitReason rejections;  // counts of pools removed by each static filter
  // The first set with the same pools and rejections (sets differ by shape
  // too): dynamic admission treats such sets alike.
  std::uint32_t same_as = 0;
  // The QPU part of a quantum-GPU hybrid job: only QPU pools, and only those
  // at the site where the job's accelerators were placed.
  bool qpu_part = false;
  // The accelerator part of a hybrid job: the id of its QPU part's set (its
  // pools are at sites that have one of those QPU pools); kNoSet otherwise.
  std::uint32_t qpu_set = kNoSet;
};

// Resources one part of a job asks for in one pool.
struct PartShape {
  int nodes = 1;
  int per_node = 1;  // whole accelerators per node (1 when fractional)
  model::Milli milli = model::kMilliPerAccelerator;  // per accelerator
  model::Milli total = 0;
  bool fractional() const { return milli < model::kMilliPerAccelerator; }
};

// What one part of a job asks for, whatever the pool: all a shape needs.
// Built from the job's record or from its queue entry (which carries the
// same fields), so that an attempt need not touch the record.
struct PartRequest {
  int accelerators = 1;
  model::Milli milli = model::kMilliPerAccelerator;  // per accelerator
  int per_node = 0;                                  // 0: the scheduler chooses
  bool fractional() const { return milli < model::kMilliPerAccelerator; }
  static PartRequest Of(const model::Job& job) {
    return {job.accelerators, job.accelerator_milli, job.accelerators_per_node};
  }
};

// The shape of a request in a pool of nodes with `accelerators_per_node`
// each: how many nodes, and how much on each.
PartShape ShapeFor(const PartRequest& req, int accelerators_per_node);
// The shape of `job` in `pool`.
inline PartShape ShapeFor(const model::Job& job, const model::Pool& pool) {
  return ShapeFor(PartRequest::Of(job), pool.accelerators_per_node);
}

// One job as the scheduler keeps it, pending or running.
struct SchedJob {
  model::Job spec;
  bool live = false;
  JobState state = JobState::kPending;
  std::int32_t tenant = -1;
  std::int32_t priority = 0;
  std::uint64_t seq = 0;
  std::vector<std::uint32_t> part_sets;  // one candidate set per part
  model::Time last_start = -1;
  model::Duration progress_s = 0;
  double attained_gpu_s = 0;
  int preemptions = 0;
  std::vector<NodeAssignment> assignment;
  std::vector<std::pair<int, model::Milli>> charges;                // (pool, milli) per part
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pool_slots;  // (pool, index in pool_running)
  std::uint32_t pending_pos = 0;
  // Where a pending job waits: active (tried every cycle) or parked (see JobTable).
  enum class Park : std::uint8_t {
    kActive,
    kBySet,
    kByClass,
    kByGrantHolder,
    kUntilRetry,
    kUntilGlobalChange
  };

  model::Milli TotalMilli() const {
    return spec.accelerator_milli * spec.accelerators * static_cast<model::Milli>(part_sets.size());
  }
  model::Duration Remaining() const {
    return spec.runtime_estimate_s > 0
               ? std::max<model::Duration>(1, spec.runtime_estimate_s - progress_s)
               : 0;
  }
};

// An EASY reservation: `nodes` of `pool` held for `job` from `start`.
struct Reservation {
  std::uint32_t job = 0;
  std::uint32_t pool = 0;
  model::Time start = kNever;
  std::vector<NodeId> nodes;
};

// The outcome of one attempt to start a job now (Scheduler::Impl::TryStart).
struct Attempt {
  bool started = false;
  // Failed at the first part, before anything was allocated: the attempt
  // changed nothing, and an identical job would fail alike.
  bool failed_at_first_part = false;
  // Some pool passed admission, so capacity (and backfill) was looked at.
  // When none did, the outcome depends only on the tenant, the first part's
  // candidate set and its total (see Scheduler::Impl::Consider).
  bool admitted_any = false;
  WaitReason reason;
  std::vector<std::uint32_t> capacity_pools;  // passed every check but capacity
  std::vector<std::uint32_t>
      reclaim_pools;          // blocked by lenders' protection while within guarantee
  bool quota_failed = false;  // some pool failed on quota (its reason is kept)
  bool grant_failed = false;  // some pool failed on grants
};

// What every phase reads: the scenario, the configuration, the grid and the
// quota ledger (owned by the Scheduler), and the time of the cycle in progress.
struct CycleContext {
  const model::Scenario& scenario;
  const SchedulerConfig& config;
  GridState& grid;
  QuotaLedger& quota;
  // The time of the cycle in progress (or of the start Adopt replays): a job
  // registered as running starts at it.
  model::Time now = 0;
  // Per cycle, strict queues only (backfill off): the first job blocked by
  // capacity in each pool, which later jobs wait behind; kNoJob if none.
  std::vector<std::uint32_t> pool_blocked_by;
};

}  // namespace sovgrid::sched
