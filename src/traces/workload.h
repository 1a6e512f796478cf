// A workload for the twin: jobs with their true runtimes, from a trace file
// or a generator.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/scenario.h"

namespace sovgrid::traces {

struct TwinJob {
  model::Job job;                 // job.submit_time is absolute (seconds since the Unix epoch)
  model::Duration runtime_s = 1;  // how long it really runs once started (>= 1)
};

struct Workload {
  std::string description;     // e.g. "philly trace philly.csv (82,247 jobs)"
  std::vector<TwinJob> jobs;   // sorted by submit time, ids unique
  std::size_t lines_read = 0;  // data lines seen (trace readers)
  std::size_t lines_skipped = 0;
  // The first warnings, each "file:line: what is wrong"; at most a few dozen are kept.
  std::vector<std::string> warnings;
};

}  // namespace sovgrid::traces
