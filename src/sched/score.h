// Score plugins: rank the pools that can take a job. Each returns 0..100
// (higher is better) from a summary of what placing the job in the pool would
// look like; the scheduler sums the configured scores, the first weighted 3,
// the second 2, the rest 1, and takes the best pool (lowest index on a tie).
// The configured order also picks the node-level strategy: "spread" before
// "binpack" spreads jobs over nodes, anything else packs them.
#pragma once

#include <memory>
#include <string_view>

#include "common/status.h"
#include "model/scenario.h"

namespace sovgrid::sched {

// What placing one job part in one pool would look like.
struct PoolCandidate {
  int pool = 0;
  model::Milli request_milli = 0;           // accelerators asked, in thousandths
  int nodes = 1;                            // nodes the part spans
  bool fractional = false;                  // a share of one accelerator
  bool fits_one_group = false;              // a multi-node gang fits inside one interconnect group
  int groups_needed = 1;                    // fewest interconnect groups that can hold it
  model::Milli best_partial_leftover = -1;  // fractional: free share left on the best partly used
                                            // accelerator after placement; -1 = none fits
  bool exact_node_fit = false;     // a node whose free accelerators equal the request exists
  double used_fraction_after = 0;  // pool allocation after placement, 0..1
  double relative_throughput = 1;  // of the pool's model for the job's workload class
  double best_throughput = 1;      // best over the catalogue for that class
};

class ScorePlugin {
 public:
  virtual ~ScorePlugin() = default;
  virtual std::string_view name() const = 0;
  virtual double Score(const PoolCandidate& c) const = 0;
};

// The registry: one of model::kScoreNames.
Result<std::unique_ptr<ScorePlugin>> MakeScore(std::string_view name);

}  // namespace sovgrid::sched
