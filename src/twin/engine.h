// The twin's engine: a deterministic discrete-event simulation in virtual time
// that drives the production scheduler (sched::Scheduler) — the same code the
// daemon runs, nothing re-implemented.
//
// Contract: Simulate() is a pure function of (scenario, workload, options):
// the same inputs, including the seed, give the same results apart from the
// wall-clock and CPU figures. Events at the same instant are applied in a fixed
// order (failures and repairs, completions, arrivals), ties by sequence; the
// scheduler then runs one cycle, and samples are taken after it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"
#include "sched/cycle_plan.h"
#include "sched/scheduler.h"
#include "traces/workload.h"
#include "twin/metrics.h"

namespace sovgrid::twin {

// The workload comes from the trace readers or the synthetic generator (src/traces).
using traces::TwinJob;
using traces::Workload;

// A site that is down over [from, until).
struct SiteOutage {
  std::string site;
  model::Time from = 0;
  model::Time until = 0;
};

// Every node of a pool down over [from, until) (a what-if's down period).
struct PoolOutage {
  std::string pool;
  model::Time from = 0;
  model::Time until = 0;
};

struct FailureOptions {
  std::vector<SiteOutage> outages;
  std::vector<PoolOutage> pool_outages;
  // Node failures: mean time between failures per node in hours, for pools
  // that give none in the scenario (Pool::mtbf_hours); 0 = no failures.
  double default_node_mtbf_hours = 0;
  model::Duration node_repair_s = model::Duration{4} * 3600;
};

struct TwinOptions {
  std::string label;  // the policy name in reports
  sched::SchedulerConfig config;
  std::uint64_t seed = 42;
  model::Duration sample_interval_s = 3600;
  // A cycle runs at most this often in virtual time (0: at every instant with events).
  model::Duration cycle_interval_s = 0;
  model::Time end = 0;  // stop here (0: when every job is done)
  // The longest workload span (last arrival - first arrival) Simulate accepts;
  // a longer one is refused with InvalidArgument before anything is allocated
  // for it (hourly samples, events). 400 days covers every public trace
  // (Philly: 83 days, Alibaba 2023: 2 months) with room for a year of synthetic
  // load. simulate --horizon-days sets it.
  model::Duration horizon_s = model::Duration{400} * 86400;
  FailureOptions failures;
  // A job's runtime_s is work on the catalogue's reference accelerator; where
  // it runs it takes runtime_s / relative_throughput of the slowest model it
  // holds for its workload class. A service's runtime_s is wall time wherever
  // it runs (it serves for that long): never scaled. false: every accelerator runs at the
  // reference's pace (the daemon's twin execution backend does so; the parity
  // test holds the twin against it).
  bool throughput_scaling = true;
  // Base-station GPUs put radio load first: pools with a radio_load curve lose
  // that fraction of their nodes to the radio at each hour boundary (see
  // docs/twin.md, "Edge"). false: the radio takes nothing (the daemon's twin
  // backend has no radio).
  bool radio_load = true;
  // The explanations' bookkeeping (docs/twin.md, "Outputs"): stranded capacity
  // per pool and reason, unfinished_by_reason (whole run and per tenant), the
  // tenants' job figures (jobs, jobs_finished, queue waits, JCT), the edge
  // services' figures and utilization_window. false skips it: those figures
  // are left empty or zero (edge_latency_attainment, edge_served_share and
  // utilization_window NaN, written as null), and nothing else changes — the
  // same decisions and every other figure (tests/twin/engine_test.cpp,
  // ExplanationsOffChangeNoDecision; bench/twin_explain.cpp measures the cost).
  bool explain = true;
  // Called now and then with the fraction of jobs done (0..1).
  std::function<void(double)> progress;
  // Called after each cycle, once its plan (sched::PlanCycle) is applied, with
  // the scheduler as the cycle left it: for tests that hold the twin's
  // decisions against the daemon's (tests/server/twin_parity_test.cpp).
  std::function<void(model::Time, const sched::CyclePlan&, const sched::Scheduler&)> on_cycle;
};

Result<PolicyResult> Simulate(const model::Scenario& scenario, const Workload& workload,
                              const TwinOptions& options);

// Peak resident set of this process so far, in MiB.
double PeakRssMb();

}  // namespace sovgrid::twin
