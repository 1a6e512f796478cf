// The Slurm backend's configuration file, checked against scenarios/small.toml.
#include <cstdint>
#include <vector>

#include "backends/slurm_config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = sovgrid::fuzz::WriteInput("slurm.toml", data, size);
  std::vector<sovgrid::scenario::Diagnostic> problems;
  (void)sovgrid::backends::ReadSlurmConfig(path, sovgrid::fuzz::SmallScenario(),
                                           sovgrid::fuzz::ScratchDir() + "/slurm", &problems);
  return 0;
}
