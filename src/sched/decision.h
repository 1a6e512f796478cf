// What a scheduling cycle returns, and why jobs wait.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/scenario.h"
#include "sched/grid_state.h"

namespace sovgrid::sched {

// One node's share of a job's allocation.
struct NodeAssignment {
  NodeId node = 0;
  std::vector<AccelId> accelerators;  // global accelerator ids on `node`
  Milli milli_per_accelerator = model::kMilliPerAccelerator;
};

struct Decision {
  enum class Kind : std::uint8_t {
    kStart,    // run `job` on `assignment`
    kPreempt,  // stop `job` now and requeue it (work since its last checkpoint is lost)
    kReserve,  // hold `reserved_nodes` for `job` from `reserved_from` (EASY backfill)
    kRequeue,  // `job` was running on capacity that failed; it is pending again
  };
  Kind kind = Kind::kStart;
  std::string job;
  std::vector<NodeAssignment> assignment;  // kStart
  std::vector<NodeId> reserved_nodes;      // kReserve
  model::Time reserved_from = 0;           // kReserve
  std::string reason;                      // why, in words a person can act on
  // The job's Scheduler::Handle when the decision was made, so that the
  // scheduler's owner need not look `job` up by id. Valid while the job is
  // live: a handle is reused once its job left, so owners applying carried
  // decisions (requeues) later compare `job` with the id they hold for it.
  std::uint32_t handle = 0;
};

std::string_view DecisionKindName(Decision::Kind k);

// Why a job is pending, kept compact (one per pending job) and rendered into
// words only when asked.
enum class WaitCode : std::uint8_t {
  kNotTried,         // submitted after the last cycle
  kNoCapacity,       // no pool that passes the filters has room now
  kNoCandidatePool,  // no pool passes the filters at all
  kBorrowLimit,      // tenant `tenant` is at its borrowing limit in `quota_class`
  kLenderProtected,  // the rest of the class is guaranteed to lenders who lend no more
  kGrantSpent,       // every grant of `tenant` that applies is used up
  kGrantInactive,    // no grant of `tenant` is valid now
  // every grant of `tenant` that applies is spent and it may run on within its
  // guarantee only (on_grant_spent = "guarantee"), which this job would exceed
  kGrantSpentBeyondGuarantee,
  kBlockedBehind,  // strict order without backfill: waits behind `other_job`
  kReservedFor,    // only reserved capacity fits; it would delay `other_job`
  kPreempted,      // stopped in this cycle to make room for `other_job`
  kRequeued,       // its node or site failed; waits for the next cycle
  // a quantum-GPU hybrid job: its accelerators would fit at some site, but no
  // such site has its QPUs free (or admitted) as well
  kNoQpu,
};

// A pending reason's stable name in snake case ("no_capacity", "grant_inactive"...),
// for machine-readable outputs; Scheduler::Explain gives the words for people.
std::string_view WaitCodeName(WaitCode code);
// Why a job with this code has not started, as a short clause for reports
// ("its grant was spent").
std::string_view WaitCodeSummary(WaitCode code);
// The code of a WaitCodeName, or nullopt for any other text.
std::optional<WaitCode> WaitCodeFromName(std::string_view name);

struct WaitReason {
  WaitCode code = WaitCode::kNotTried;
  std::int32_t tenant = -1;       // kBorrowLimit, kLenderProtected, kGrant*
  std::int32_t quota_class = -1;  // index into the scheduler's class list
  std::uint32_t other_job = 0;    // kBlockedBehind, kReservedFor (internal index)
  // For kNoCandidatePool and kNoCapacity: how many pools each filter removed.
  std::uint16_t rejected_by_model = 0, rejected_by_residency = 0, rejected_by_health = 0,
                rejected_by_power = 0, rejected_by_latency = 0, rejected_by_quota = 0,
                rejected_by_tenant_pools = 0, rejected_by_stack = 0,
                rejected_by_no_qpu = 0;  // hybrid jobs: pools at sites without a QPU it may use
};

}  // namespace sovgrid::sched
