// A synthetic national workload for any scenario, calibrated to published
// trace statistics (see docs/twin.md, "Synthetic workload").
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "model/scenario.h"
#include "twin/workload.h"

namespace sovgrid::twin {

struct SyntheticOptions {
  std::size_t jobs = 10'000;
  double days = 7;
  std::uint64_t seed = 42;
  // Foundation-model gangs of 2,048-8,192 accelerators; -1 = one per two days.
  int foundation_gangs = -1;
};

// Jobs arrive over [scenario.epoch, epoch + days) with a daily pattern, from
// the scenario's leaf tenants in proportion to their guarantees.
Result<Workload> GenerateSynthetic(const model::Scenario& scenario,
                                   const SyntheticOptions& options);

}  // namespace sovgrid::twin
