// The Slurm configuration reader moved to the Slurm backend
// (backends/slurm_config.h); this header keeps its old name in the cli
// namespace for callers not yet updated.
#pragma once

#include "backends/slurm_config.h"

namespace sovgrid::cli {

using backends::ReadSlurmConfig;

}  // namespace sovgrid::cli
