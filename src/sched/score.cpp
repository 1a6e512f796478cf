#include "sched/score.h"

#include <algorithm>

#include "model/policy_names.h"

namespace sovgrid::sched {
namespace {

// Fill the fullest pool first, keeping whole pools free for big jobs.
class BinpackScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "binpack"; }
  double Score(const PoolCandidate& c) const override { return 100.0 * c.used_fraction_after; }
};

// Fill the emptiest pool first, spreading load and failure risk.
class SpreadScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "spread"; }
  double Score(const PoolCandidate& c) const override {
    return 100.0 * (1.0 - c.used_fraction_after);
  }
};

// A gang inside one interconnect domain (or rack) scores 100; otherwise fewer
// groups score higher. Single-node jobs prefer a node they fill exactly.
class TopologyScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "topology"; }
  double Score(const PoolCandidate& c) const override {
    if (c.nodes > 1) return c.fits_one_group ? 100.0 : 50.0 / std::max(1, c.groups_needed);
    return c.exact_node_fit ? 100.0 : 50.0;
  }
};

// For fractional requests, in the spirit of FGD (ATC'23): prefer the partly
// used accelerator that the request fills most exactly, so that whole
// accelerators stay whole. Whole requests prefer an exact node fit.
class FragmentationScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "fragmentation"; }
  double Score(const PoolCandidate& c) const override {
    if (c.fractional) {
      if (c.best_partial_leftover < 0) return 0.0;  // would break a whole accelerator
      return 100.0 - 90.0 * static_cast<double>(c.best_partial_leftover) / 1000.0;
    }
    return c.exact_node_fit ? 100.0 : 40.0;
  }
};

// Prefer the model with the best relative throughput for the job's class.
class ThroughputScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "throughput"; }
  double Score(const PoolCandidate& c) const override {
    return c.best_throughput > 0 ? 100.0 * c.relative_throughput / c.best_throughput : 0.0;
  }
};

}  // namespace

Result<std::unique_ptr<ScorePlugin>> MakeScore(std::string_view name) {
  if (name == "binpack") return std::unique_ptr<ScorePlugin>(new BinpackScore);
  if (name == "spread") return std::unique_ptr<ScorePlugin>(new SpreadScore);
  if (name == "topology") return std::unique_ptr<ScorePlugin>(new TopologyScore);
  if (name == "fragmentation") return std::unique_ptr<ScorePlugin>(new FragmentationScore);
  if (name == "throughput") return std::unique_ptr<ScorePlugin>(new ThroughputScore);
  return NotFound("unknown score '" + std::string(name) + "' (expected one of " +
                  model::KnownPolicyList(model::kScoreNames) + ")");
}

}  // namespace sovgrid::sched
