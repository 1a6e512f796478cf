// A synthetic national workload for any scenario, calibrated to published
// trace statistics (see docs/twin.md, "Synthetic workload").
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "model/scenario.h"
#include "traces/workload.h"

namespace sovgrid::traces {

struct SyntheticOptions {
  std::size_t jobs = 10'000;
  double days = 7;
  std::uint64_t seed = 42;
  // Foundation-model gangs of 2,048-8,192 accelerators; -1 = one per two days.
  int foundation_gangs = -1;
  // The most work the jobs may offer, as a fraction of the grid's
  // accelerator-time over `days`. When the drawn jobs would offer more, the
  // runtimes (and estimates) of training and batch jobs are scaled down by one
  // common factor, so that `jobs` sets the count while the load stays that of
  // a busy grid rather than a queue that grows without bound. Services and
  // foundation-model gangs keep their durations. 0 = no cap.
  double max_load = 0.85;
};

// Jobs arrive over [scenario.epoch, epoch + days) with a daily pattern, from
// the scenario's leaf tenants in proportion to their guarantees. The same
// options give the same jobs; the load cap only rescales durations, after all
// random draws. When some model of the catalogue runs a stack other than
// "cuda", 20% of services ask for one of those stacks and 5% of training and
// batch jobs for "rocm" (if listed); the rest, and every foundation-model gang,
// ask for "cuda". When the scenario has edge sites, 8% of the jobs are
// services in three profiles (docs/twin.md, "Service profiles"): a quarter
// AI-RAN edge services (1 ms, base stations only), then a fifth of the rest
// digital-twin sessions from the leaves whose id or name says "twin" (whole
// RTX-class accelerators of a data centre, 1-8 h), and inference deployments
// (1-4 replicas, 4-48 h); each profile's own draws come from a random stream of
// its own, so that the other jobs are the same. When the scenario has QPUs, a small stream of
// quantum-GPU hybrid jobs (1 QPU + 8 accelerators) from research tenants follows, 6 per QPU and
// day. runtime_s is work on the catalogue's reference accelerator.
Result<Workload> GenerateSynthetic(const model::Scenario& scenario,
                                   const SyntheticOptions& options);

// Accelerator-seconds a job asks for if it runs `runtime_s` (all replicas).
double JobWork(const model::Job& job, model::Duration runtime_s);

}  // namespace sovgrid::traces
