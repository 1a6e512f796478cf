// Grids and random jobs for scheduler tests.
#pragma once

#include <random>
#include <string>

#include "model/scenario.h"

namespace sovgrid::sched::testing {

// A mid-size grid built in code: 3 sites of different tiers and
// jurisdictions, 6 pools (8-GPU boards, a 72-GPU NVLink domain pool, 4-GPU
// nodes, an edge pool), a 3-level tenant tree with guarantees, borrowing and
// lending limits and a grant, and datasets with residency rules.
model::Scenario MidSizeGrid();

// A random job valid for `scenario` (tenant, models and datasets the tenant
// may use). `id` must be unique.
model::Job RandomJob(const model::Scenario& scenario, std::mt19937_64& rng, const std::string& id,
                     model::Time now);

}  // namespace sovgrid::sched::testing
