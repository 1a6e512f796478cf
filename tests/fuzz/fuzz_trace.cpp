// One trace format (SOVGRID_TRACE_FORMAT, SOVGRID_TRACE_FILE: the name the
// reader sees, which for gavel and elasticflow names the VC): the file read
// against scenarios/small.toml, then, for a small workload, simulated (the
// engine must refuse a span beyond its horizon instead of allocating for it).
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.h"
#include "traces/trace_reader.h"
#include "twin/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = sovgrid::fuzz::WriteInput(SOVGRID_TRACE_FILE, data, size);
  sovgrid::traces::TraceOptions options;
  options.scenario = &sovgrid::fuzz::SmallScenario();
  options.epoch = sovgrid::fuzz::SmallScenario().epoch;
  options.strict = (size % 2) == 1;  // both modes, chosen by the input
  auto workload = sovgrid::traces::ReadTrace(SOVGRID_TRACE_FORMAT, path, options);
  if (!workload.ok() || workload->jobs.empty() || workload->jobs.size() > 16) return 0;
  for (const auto& j : workload->jobs) {
    if (j.runtime_s < 1 || j.job.accelerators < 1) std::abort();  // ReadTrace's contract
  }
  sovgrid::twin::TwinOptions twin;
  twin.label = "fuzz";
  twin.sample_interval_s = 86400;  // a day: keeps a 10-year job's run short
  (void)sovgrid::twin::Simulate(sovgrid::fuzz::SmallScenario(), *workload, twin);
  return 0;
}
