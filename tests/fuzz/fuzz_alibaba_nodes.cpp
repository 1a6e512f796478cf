// The alibaba2023 node list (openb_node_list_*.csv) as a grid: ScenarioFromAlibabaNodes.
#include <cstdint>

#include "fuzz_util.h"
#include "traces/trace_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = sovgrid::fuzz::WriteInput("openb_node_list_fuzz.csv", data, size);
  (void)sovgrid::traces::ScenarioFromAlibabaNodes(path);
  return 0;
}
