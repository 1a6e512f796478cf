// Placement: where in one pool a part goes, and how pools are ranked.
//
// CanFitNow answers from the pool's indexes whether the shape fits now;
// Summarise and ScoreOf rank the pools that passed admission with the
// configured ScorePlugins (the first weighted 3, the second 2, the rest 1);
// SelectNodes picks nodes and accelerators in the chosen pool (a gang: one
// interconnect group if one has room, else the groups with the most free
// nodes; a share of one accelerator: the sovgrid node rule of
// node_placement.h against the typical workload submitted so far). Nothing
// here allocates: the caller allocates what SelectNodes or TakeOnNode picked.
//
// Owns the score plugins, the share scorer and the workload mix it uses. Reads
// the grid through the CycleContext. Not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "common/status.h"
#include "sched/cycle_context.h"
#include "sched/node_placement.h"
#include "sched/score.h"

namespace sovgrid::sched {

class Placement {
 public:
  explicit Placement(CycleContext& ctx);
  // The configured scores by name; fails on an unknown one.
  Status Init(const std::vector<std::string>& scores);

  // The workload of share placement: each submitted job's per-node part.
  void NoteSubmitted(const model::Job& job);
  // At the start of a cycle: the typical parts, if jobs arrived since the last.
  void BeginCycle();

  // Whether the shape fits in pool p now (available nodes only).
  bool CanFitNow(std::size_t p, const PartShape& s) const;
  // The pool as a ScorePlugin sees it, and its weighted score.
  PoolCandidate Summarise(std::size_t p, const PartShape& s, const model::Job& job) const;
  double ScoreOf(const PoolCandidate& c) const;
  // Picks nodes and accelerators in pool p; does not allocate. Assumes CanFitNow.
  bool SelectNodes(std::size_t p, const PartShape& s, std::vector<NodeAssignment>* out) const;
  // Picks accelerators on node n for a single-node request (a backfilled reserved node).
  void TakeOnNode(NodeId n, const PartShape& s, std::vector<NodeAssignment>* out) const;

 private:
  bool FreeWholeNode(NodeId n) const;
  void TakeWhole(NodeId n, int count, model::Milli milli, std::vector<NodeAssignment>* out) const;
  void RefreshShareMix();
  bool SelectShare(std::size_t p, const PartShape& s, std::vector<NodeAssignment>* out) const;

  CycleContext& ctx_;
  std::vector<std::unique_ptr<ScorePlugin>> scores_;
  bool spread_nodes_ = false;            // "spread" before any "binpack": nodes emptiest first
  std::vector<double> best_throughput_;  // per workload class, over the catalogue
  // Shares of one accelerator are placed inside a pool by the sovgrid node rule
  // (sched/node_placement.h, the rule the fill experiment measures) against the
  // typical single-node parts submitted so far, refreshed at each cycle.
  std::unique_ptr<NodeScorer> share_scorer_;
  std::map<std::pair<int, model::Milli>, std::size_t>
      part_shape_counts_;  // (accelerators, milli) -> jobs
  bool part_shapes_changed_ = false;
  WorkloadMix share_mix_;
};

}  // namespace sovgrid::sched
