// Reading a job (model::Job) from a TOML table, for job files and scheduler
// cases: a loop over the one job schema (model/job_schema.h). Unknown keys,
// wrong types and values against the schema's rules become diagnostics.
#pragma once

#include "model/scenario.h"
#include "scenario/toml_reader.h"

namespace sovgrid::scenario {

// Reads every job field the schema gives TOML into `job`; absent fields keep
// the model's defaults. Reports unknown keys (calls r.Finish()) and, when every
// field passed, the rules between fields.
void ReadJob(TableReader& r, model::Job* job);

}  // namespace sovgrid::scenario
