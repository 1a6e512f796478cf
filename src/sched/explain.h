// Explain: why a job waits, and why it started, in words a person can act on.
//
// Renders the compact WaitReason a cycle left for a pending job (and what the
// job needs, in the grid's words) only when asked; nothing here runs in a
// cycle's inner loop except StartReason, once per start. Pure functions of
// their arguments: read-only, no state of their own.
#pragma once

#include <cstdint>
#include <string>

#include "sched/cycle_context.h"
#include "sched/job_table.h"

namespace sovgrid::sched {

// The pending reason of job `idx`, e.g. "needs 8 H100; no pool that may run it
// has room now (2 pools outside its quota)".
std::string ExplainPending(const model::Scenario& scenario, const QuotaLedger& quota,
                           const JobTable& table, std::uint32_t idx);

// The reason of a start decision: the queue order and where it was placed.
std::string StartReason(const model::Scenario& scenario, const SchedulerConfig& config,
                        const SchedJob& j);

}  // namespace sovgrid::sched
