// The Slurm backend's configuration file (docs/backends.md, "slurm"): which
// Slurm cluster backs each site, and which Slurm nodes and partition each pool
// maps to.
#pragma once

#include <string>
#include <vector>

#include "backends/slurm_backend.h"
#include "model/scenario.h"
#include "scenario/diagnostic.h"

namespace sovgrid::backends {

// Reads `path`, checked against `scenario` (sites and pools exist, a pool's
// node list has exactly its node count, no site or pool twice). Every problem
// goes to `problems` as FILE:LINE:COLUMN: field: message; the result is then
// an InvalidArgument. `default_dir` is used when the file sets no `dir`.
Result<backends::SlurmBackendOptions> ReadSlurmConfig(const std::string& path,
                                                      const model::Scenario& scenario,
                                                      const std::string& default_dir,
                                                      std::vector<scenario::Diagnostic>* problems);

}  // namespace sovgrid::backends
