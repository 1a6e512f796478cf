// Reading a job (model::Job) from a TOML table, for scenario cases and
// workload files. Unknown keys and wrong types become diagnostics.
#pragma once

#include "model/scenario.h"
#include "scenario/toml_reader.h"

namespace sovgrid::scenario {

// Reads every job field the format knows into `job`; absent fields keep the
// model's defaults. Call r.Finish() afterwards to report unknown keys.
void ReadJob(TableReader& r, model::Job* job);

}  // namespace sovgrid::scenario
