#include "sched/cycle_plan.h"

#include <string_view>
#include <unordered_map>

namespace sovgrid::sched {

std::size_t CyclePlan::preemptions() const {
  std::size_t n = 0;
  for (const Decision* d : stops) n += d->kind == Decision::Kind::kPreempt ? 1 : 0;
  return n;
}

CyclePlan PlanCycle(const CycleResult& cycle) {
  struct Fold {
    const Decision* first = nullptr;  // the job's first start/preempt/requeue
    const Decision* last = nullptr;   // and its last
    bool started = false;             // some start in the cycle
  };
  // Keyed by views into the decisions' ids: valid while `cycle` lives.
  std::unordered_map<std::string_view, Fold> by_job;
  CyclePlan plan;
  for (const Decision& d : cycle.decisions) {
    if (d.kind == Decision::Kind::kReserve) {
      ++plan.reservations;
      continue;
    }
    Fold& f = by_job[d.job];
    if (f.first == nullptr) f.first = &d;
    f.last = &d;
    f.started = f.started || d.kind == Decision::Kind::kStart;
  }
  // Emitted in decision order: a job's stop at its first decision, its start
  // (or the stop that undid its start) at its last.
  for (const Decision& d : cycle.decisions) {
    if (d.kind == Decision::Kind::kReserve) continue;
    const Fold& f = by_job.find(d.job)->second;
    const bool was_running = f.first->kind != Decision::Kind::kStart;
    const bool runs_after = f.last->kind == Decision::Kind::kStart;
    if (&d == f.first && was_running) plan.stops.push_back(&d);
    if (&d != f.last) continue;
    if (runs_after) {
      plan.starts.push_back(&d);
    } else if (f.started) {
      plan.dropped.push_back(&d);
    }
  }
  return plan;
}

}  // namespace sovgrid::sched
