// PlanCycle: what one scheduling cycle means outside the scheduler. The one
// rule by which both drivers apply Scheduler::RunCycle's decisions: the twin
// engine turns the plan into events in virtual time, the daemon
// (server::ControlPlane::Tick) into store writes and backend calls.
//
// Contract:
//  * Pure: reads only the CycleResult it is given (no scheduler, no clock, no
//    I/O). The plan points into that CycleResult's decisions and must not
//    outlive it.
//  * Per job, the cycle's start, preempt and requeue decisions are folded, in
//    the order the cycle returned them, into one net effect:
//      - a job whose first decision stops it (preempt or requeue) was running
//        before the cycle: its run is stopped, once, by that first decision
//        (`stops`);
//      - a job whose last decision is a start runs after the cycle, on that
//        start's assignment (`starts`); a job stopped and started again in one
//        cycle has both a stop and a start;
//      - a start that a later decision of the same cycle undoes (a start
//        preempted in the cycle that made it: possible with a preemption grace
//        of 0) never ran: there is no start for it, and the job's last
//        decision, the one that stopped it, is in `dropped`. A dropped start is
//        not a preemption: nothing ran, no work is lost; the job is pending
//        after the cycle (with the scheduler's reason) as if never started.
//  * Order: `stops` in the order of their decisions, then `starts` in the
//    order of their decisions. A driver applies every stop before any start,
//    so accelerators are released before they are handed to another job.
//  * Reserve decisions are no effect outside the scheduler; they are counted.
#pragma once

#include <cstddef>
#include <vector>

#include "sched/scheduler.h"

namespace sovgrid::sched {

struct CyclePlan {
  // kPreempt or kRequeue decisions: jobs that were running before the cycle
  // and no longer run on that placement.
  std::vector<const Decision*> stops;
  // kStart decisions: jobs that run after the cycle, with their assignment.
  std::vector<const Decision*> starts;
  // kPreempt or kRequeue decisions that undid a start of the same cycle.
  std::vector<const Decision*> dropped;
  std::size_t reservations = 0;

  // Stops that are preemptions (the rest are requeues after failures).
  std::size_t preemptions() const;
};

CyclePlan PlanCycle(const CycleResult& cycle);

}  // namespace sovgrid::sched
