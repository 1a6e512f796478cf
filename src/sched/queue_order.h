// Queue order: the policy that decides which pending job a cycle tries next.
//
// A cycle calls Begin() with every pending job, then Next() until it returns
// false, and Started() after each job it started, so that dynamic orders
// (drf) can see the new usage. An order never filters jobs out and never
// returns a job twice in one cycle. Orders are deterministic: ties are broken
// by `seq` (submission sequence).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"

namespace sovgrid::sched {

inline constexpr std::uint32_t kMultiPartSet = 0x80000000u;

struct QueueEntry {
  std::uint32_t job = 0;  // the scheduler's internal job index
  std::uint64_t seq = 0;  // submission sequence, unique
  std::int32_t tenant = 0;
  std::int32_t priority = 0;
  model::Time submit = 0;
  model::Duration estimate_s = 0;   // 0 = unknown
  model::Duration remaining_s = 0;  // estimate minus work kept; 0 = unknown
  model::Time deadline = 0;         // 0 = none
  double attained_gpu_s = 0;        // accelerator-seconds received so far
  // The request, copied here so that a cycle can skip a job identical to one
  // that just failed without touching the job itself.
  // Candidate set; for multi-part jobs, the first part's set | kMultiPartSet.
  std::uint32_t part_set = 0;
  std::int32_t accelerators = 0;
  std::int32_t milli = 0;
  std::int32_t per_node = 0;
};

// Live fair-share state, read by dynamic orders.
class TenantShares {
 public:
  virtual ~TenantShares() = default;
  // max over quota classes of (usage of the tenant's subtree / grid capacity of the class).
  virtual double DominantShare(int tenant) const = 0;
  // The same for jobs submitted to the tenant itself (not its children).
  virtual double OwnDominantShare(int tenant) const = 0;
};

class QueueOrder {
 public:
  virtual ~QueueOrder() = default;
  virtual std::string_view name() const = 0;
  virtual void Begin(std::vector<QueueEntry> entries, const TenantShares& shares) = 0;
  virtual bool Next(QueueEntry* out) = 0;
  virtual void Started(const QueueEntry& /*entry*/) {}
  // Preemptive orders: whether `waiting` should displace `running` (both as
  // of now: remaining and attained service updated). Only consulted when
  // preemption is on; the default is never.
  virtual bool Preempts(const QueueEntry& /*waiting*/, const QueueEntry& /*running*/) const {
    return false;
  }
  virtual bool preemptive() const { return false; }
  // The vector the last Begin was given, emptied, for the caller to fill for
  // the next Begin: a cycle's entries are one large allocation, which a new
  // vector per cycle allocated and freed again (and glibc then consolidated
  // its free lists). The order returns nothing more until the next Begin.
  virtual std::vector<QueueEntry> TakeEntries() { return {}; }
};

struct QueueOrderOptions {
  // las: accelerator-seconds after which a job drops to the second queue.
  double las_threshold_gpu_s = 3600.0 * 8;
};

// The registry: one of model::kQueueOrderNames.
Result<std::unique_ptr<QueueOrder>> MakeQueueOrder(std::string_view name,
                                                   const model::Scenario& scenario,
                                                   const QueueOrderOptions& options = {});

}  // namespace sovgrid::sched
