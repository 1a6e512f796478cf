// The fill experiment's inputs (fill/fill.h): the first line of the input is a
// split point; before it, a node list (ReadFillCluster); after it, a pod list
// (ReadFillWorkload) read against that cluster, and when both read and are
// small, one run of each placement policy.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fill/fill.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sovgrid::fuzz::AsText(data, size);
  // Separator: a line "--" (seeds are "nodes\n--\npods").
  const auto split = text.find("\n--\n");
  const std::string_view nodes = split == std::string_view::npos ? text : text.substr(0, split);
  const std::string_view pods =
      split == std::string_view::npos ? std::string_view() : text.substr(split + 4);
  const std::string node_path =
      sovgrid::fuzz::WriteInput("openb_node_list_fuzz.csv",
                                reinterpret_cast<const std::uint8_t*>(nodes.data()), nodes.size());
  auto cluster = sovgrid::fill::ReadFillCluster(node_path);
  if (!cluster.ok()) return 0;
  const std::string pod_path =
      sovgrid::fuzz::WriteInput("openb_pod_list_default.csv",
                                reinterpret_cast<const std::uint8_t*>(pods.data()), pods.size());
  auto workload = sovgrid::fill::ReadFillWorkload(pod_path, *cluster);
  if (!workload.ok()) return 0;
  if (cluster->nodes.size() > 64 || workload->pods.size() > 64) return 0;
  sovgrid::fill::FillOptions options;
  options.target_load = 1.1;
  for (const std::string& policy : sovgrid::sched::NodeScorerNames()) {
    (void)sovgrid::fill::RunFill(*cluster, *workload, policy, 1, options);
  }
  return 0;
}
