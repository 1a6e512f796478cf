// GridState: every node and accelerator of a scenario with what is free, plus
// the incremental indexes placements search (per pool: nodes by free whole
// accelerators, interconnect groups by fully free nodes, partly used
// accelerators by free share). Every mutation updates the indexes of the one
// node it touches, so a placement costs O(log n) or O(accelerators per node),
// never a scan of the grid.
//
// Owned by the Scheduler; not thread-safe.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"
#include "sched/bucket_index.h"

namespace sovgrid::sched {

using model::Milli;
using NodeId = std::uint32_t;
using AccelId = std::uint32_t;  // global accelerator index

enum class NodeHealth : std::uint8_t { kUp, kDraining, kDown };
std::string_view NodeHealthName(NodeHealth h);

struct NodeInfo {
  std::uint32_t pool = 0;
  std::uint32_t index_in_pool = 0;
  std::uint32_t group =
      0;  // interconnect group inside the pool (domain, or rack for 1-node domains)
  std::uint32_t rack = 0;  // inside the pool
  AccelId first_accel = 0;
  std::uint16_t accel_count = 0;
  NodeHealth health = NodeHealth::kUp;
  bool hidden = false;  // held for a reservation during a cycle
};

// Per-pool indexes over *available* nodes (up, not draining, site up, not hidden).
struct PoolIndex {
  NodeId first_node = 0;
  std::uint32_t node_count = 0;
  std::uint32_t group_size = 1;  // nodes per interconnect group
  std::uint32_t group_count = 0;
  BucketIndex nodes_by_free;         // node - first_node, keyed by free whole accelerators
  BucketIndex groups_by_free_nodes;  // group, keyed by its fully free available nodes
  std::set<std::pair<Milli, AccelId>> partial;  // (free milli, accel) with 0 < free < 1000
  Milli available_free_milli = 0;               // free on available nodes
  Milli used_milli = 0;                         // allocated anywhere in the pool
  Milli capacity_milli = 0;
};

class GridState {
 public:
  explicit GridState(const model::Scenario& scenario);

  const model::Scenario& scenario() const { return *scenario_; }
  std::size_t node_count() const { return nodes_.size(); }
  const NodeInfo& node(NodeId n) const { return nodes_[n]; }
  const PoolIndex& pool(std::size_t p) const { return pools_[p]; }
  std::size_t pool_count() const { return pools_.size(); }
  // "pool-id/n00012"
  std::string NodeName(NodeId n) const;
  Result<NodeId> FindNode(std::string_view name) const;

  Milli FreeMilli(AccelId a) const { return free_milli_[a]; }
  // Whole accelerators free on node n (kept per node: O(1)).
  int FreeWhole(NodeId n) const { return free_whole_[n]; }
  Milli NodeFreeMilli(NodeId n) const;
  bool Available(NodeId n) const;
  bool SiteUp(std::size_t site) const;
  // Watts drawn by allocated accelerators at a site (board power pro rata).
  double SitePowerW(std::size_t site) const { return site_power_w_[site]; }
  model::SiteState site_state(std::size_t site) const { return site_state_[site]; }

  void Allocate(AccelId a, Milli milli);
  void Release(AccelId a, Milli milli);
  // The same for several accelerators of one node, re-indexing the node once.
  void AllocateOnNode(NodeId n, const std::vector<AccelId>& accels, Milli milli);
  void ReleaseOnNode(NodeId n, const std::vector<AccelId>& accels, Milli milli);
  NodeId NodeOf(AccelId a) const { return accel_node_[a]; }
  // Bumped by every change of what is free or available (allocations,
  // releases, health, sites, hiding): answers derived from the grid stay
  // valid while it holds.
  std::uint64_t changes() const { return changes_; }

  void SetNodeHealth(NodeId n, NodeHealth h);
  void SetSiteState(std::size_t site, model::SiteState s);
  // Hides a node from the indexes (a reservation holds it) until Unhide.
  void Hide(NodeId n);
  void Unhide(NodeId n);

 private:
  void Index(NodeId n);
  void Unindex(NodeId n);
  bool IsIndexable(NodeId n) const;

  const model::Scenario* scenario_;
  std::vector<NodeInfo> nodes_;
  std::vector<PoolIndex> pools_;
  std::vector<Milli> free_milli_;   // per accelerator
  std::vector<NodeId> accel_node_;  // per accelerator
  // Per node: its accelerators with free_milli_ == kMilliPerAccelerator, kept
  // by every allocation and release (placement, reservations and the
  // preemption planner ask it per node; counting was ~4 % of a national run).
  std::vector<std::uint16_t> free_whole_;
  std::uint64_t changes_ = 1;
  std::vector<bool> indexed_;  // per node
  std::vector<model::SiteState> site_state_;
  std::vector<double> site_power_w_;
};

}  // namespace sovgrid::sched
