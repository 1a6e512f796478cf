// Preemption: the cheapest set of running jobs to stop so that a blocked job
// can start now.
//
// A job blocked by capacity (or, within its own guarantee, by lenders' kept
// guarantees) may displace, in one pool: jobs of lower priority, jobs of
// tenants borrowing the pool's quota class when it reclaims its guarantee,
// and, under a preemptive queue order (srtf, las), jobs the order ranks
// behind it. Only preemptible jobs past their grace period are victims. The
// planner takes victims by least work lost since their last checkpoint
// (ties: the latest submitted first) until the job fits and its quota admits
// it, and keeps the cheapest pool's set. Work is bounded: attempts per cycle,
// and victims considered per pool; a request that failed in a pool is not
// tried again there until a job starts or stops in it.
//
// Plan only decides: the caller stops the victims and starts the job. Owns
// the failed-request cache and scratch space. Reads the JobTable, the grid and
// the placement indexes; Plan charges and refunds quota only to ask it, and
// leaves it as it found it. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "sched/cycle_context.h"
#include "sched/job_table.h"
#include "sched/placement.h"
#include "sched/queue_order.h"

namespace sovgrid::sched {

class Preemption {
 public:
  Preemption(CycleContext& ctx, const JobTable& table, const Placement& placement);

  // Forgets the previous cycle's failures and attempts.
  void BeginCycle();
  // Whether the job of attempt `at` may try to preempt (preemption on, a
  // single part, attempts left, pools blocked by capacity or reclaim).
  bool MayTry(bool single_part, const Attempt& at) const;
  // The victims that let job `idx` (queue entry `e`) start now, cheapest
  // first, or none. Counts one attempt. Valid until the next call.
  const std::vector<std::uint32_t>& Plan(std::uint32_t idx, const QueueEntry& e, const Attempt& at,
                                         const QueueOrder& order);
  // Why victim `v` is stopped for job `idx`, in words (read before it stops).
  std::string VictimReason(std::uint32_t v, std::uint32_t idx, const QueueEntry& e,
                           const QueueOrder& order) const;

 private:
  // A request that failed in a pool, valid while the pool's version holds.
  struct FailedKey {
    std::uint32_t pool;
    model::Milli total;
    int nodes;
    std::int32_t priority;
    bool within_guarantee;
    double order_rank;  // preemptive orders: what they compare (remaining time, attained service)
    bool operator<(const FailedKey& o) const {
      return std::tie(pool, total, nodes, priority, within_guarantee, order_rank) <
             std::tie(o.pool, o.total, o.nodes, o.priority, o.within_guarantee, o.order_rank);
    }
  };

  CycleContext& ctx_;
  const JobTable& table_;
  const Placement& placement_;
  int attempts_ = 0;
  std::map<FailedKey, std::uint64_t> failed_;  // -> pool version when it failed
  std::vector<std::uint32_t> best_;
  // Reused by every Plan, so that a search allocates nothing once warm.
  std::vector<std::uint32_t> scratch_pools_, scratch_chosen_;
  std::vector<std::pair<double, std::uint32_t>> scratch_candidates_;
  // Accelerators freed by the victims so far (per accelerator of the grid),
  // and whole free accelerators per touched node (-1: not touched), with the
  // entries touched by the current pool's search so that clearing costs
  // O(touched). Hash maps here cost most of Plan (an unordered_map's clear()
  // sweeps all its buckets, and every insertion allocated).
  std::vector<model::Milli> scratch_freed_;
  std::vector<AccelId> scratch_freed_touched_;
  std::vector<int> scratch_node_whole_;
  std::vector<NodeId> scratch_node_touched_;
};

}  // namespace sovgrid::sched
