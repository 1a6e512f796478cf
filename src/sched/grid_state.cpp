#include "sched/grid_state.h"

#include <cassert>
#include <charconv>
#include <cstdio>

namespace sovgrid::sched {

using model::kMilliPerAccelerator;

std::string_view NodeHealthName(NodeHealth h) {
  switch (h) {
    case NodeHealth::kUp:
      return "up";
    case NodeHealth::kDraining:
      return "draining";
    case NodeHealth::kDown:
      return "down";
  }
  return "?";
}

GridState::GridState(const model::Scenario& scenario) : scenario_(&scenario) {
  pools_.resize(scenario.pools.size());
  for (std::size_t p = 0; p < scenario.pools.size(); ++p) {
    const model::Pool& spec = scenario.pools[p];
    PoolIndex& pool = pools_[p];
    pool.first_node = static_cast<NodeId>(nodes_.size());
    pool.node_count = static_cast<std::uint32_t>(spec.nodes);
    const int per_domain = spec.nodes_per_domain();
    const int per_rack = (spec.nodes + spec.racks - 1) / spec.racks;
    pool.group_size = static_cast<std::uint32_t>(per_domain > 1 ? per_domain : per_rack);
    pool.group_count = (pool.node_count + pool.group_size - 1) / pool.group_size;
    pool.capacity_milli = spec.accelerators() * kMilliPerAccelerator;
    pool.nodes_by_free.Reset(pool.node_count, spec.accelerators_per_node);
    pool.groups_by_free_nodes.Reset(pool.group_count, static_cast<int>(pool.group_size));
    for (std::uint32_t g = 0; g < pool.group_count; ++g) pool.groups_by_free_nodes.Insert(g, 0);
    for (int i = 0; i < spec.nodes; ++i) {
      NodeInfo n;
      n.pool = static_cast<std::uint32_t>(p);
      n.index_in_pool = static_cast<std::uint32_t>(i);
      n.group = static_cast<std::uint32_t>(i) / pool.group_size;
      n.rack = static_cast<std::uint32_t>(i / per_rack);
      n.first_accel = static_cast<AccelId>(free_milli_.size());
      n.accel_count = static_cast<std::uint16_t>(spec.accelerators_per_node);
      for (int a = 0; a < spec.accelerators_per_node; ++a) {
        free_milli_.push_back(kMilliPerAccelerator);
        accel_node_.push_back(static_cast<NodeId>(nodes_.size()));
      }
      nodes_.push_back(n);
      free_whole_.push_back(static_cast<std::uint16_t>(spec.accelerators_per_node));
    }
  }
  indexed_.assign(nodes_.size(), false);
  site_state_.resize(scenario.sites.size());
  for (std::size_t s = 0; s < scenario.sites.size(); ++s) site_state_[s] = scenario.sites[s].state;
  site_power_w_.assign(scenario.sites.size(), 0.0);
  for (NodeId n = 0; n < nodes_.size(); ++n) {
    if (IsIndexable(n)) Index(n);
  }
}

std::string GridState::NodeName(NodeId n) const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "/n%05u", nodes_[n].index_in_pool);
  return scenario_->pools[nodes_[n].pool].id + buf;
}

Result<NodeId> GridState::FindNode(std::string_view name) const {
  const auto slash = name.rfind("/n");
  if (slash == std::string_view::npos) return NotFound("unknown node '" + std::string(name) + "'");
  const int p = scenario_->FindPool(name.substr(0, slash));
  std::uint32_t idx = 0;
  const auto digits = name.substr(slash + 2);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), idx);
  if (p < 0 || ec != std::errc() || ptr != digits.data() + digits.size() ||
      idx >= pools_[p].node_count) {
    return NotFound("unknown node '" + std::string(name) + "'");
  }
  return pools_[p].first_node + idx;
}

Milli GridState::NodeFreeMilli(NodeId n) const {
  const NodeInfo& node = nodes_[n];
  Milli free = 0;
  for (AccelId a = node.first_accel; a < node.first_accel + node.accel_count; ++a)
    free += free_milli_[a];
  return free;
}

bool GridState::SiteUp(std::size_t site) const {
  return site_state_[site] == model::SiteState::kUp;
}

bool GridState::IsIndexable(NodeId n) const {
  const NodeInfo& node = nodes_[n];
  return node.health == NodeHealth::kUp && !node.hidden &&
         SiteUp(static_cast<std::size_t>(scenario_->pools[node.pool].site_index));
}

bool GridState::Available(NodeId n) const { return IsIndexable(n); }

void GridState::Index(NodeId n) {
  assert(!indexed_[n]);
  const NodeInfo& node = nodes_[n];
  PoolIndex& pool = pools_[node.pool];
  const int whole = FreeWhole(n);
#ifndef NDEBUG
  int counted = 0;
  for (AccelId a = node.first_accel; a < node.first_accel + node.accel_count; ++a)
    counted += free_milli_[a] == kMilliPerAccelerator ? 1 : 0;
  assert(counted == whole && "free_whole_ out of step");
#endif
  pool.nodes_by_free.Insert(node.index_in_pool, whole);
  if (whole == node.accel_count) {
    pool.groups_by_free_nodes.Rekey(node.group, pool.groups_by_free_nodes.KeyOf(node.group) + 1);
  }
  for (AccelId a = node.first_accel; a < node.first_accel + node.accel_count; ++a) {
    const Milli f = free_milli_[a];
    pool.available_free_milli += f;
    if (f > 0 && f < kMilliPerAccelerator) pool.partial.emplace(f, a);
  }
  indexed_[n] = true;
}

void GridState::Unindex(NodeId n) {
  assert(indexed_[n]);
  const NodeInfo& node = nodes_[n];
  PoolIndex& pool = pools_[node.pool];
  if (pool.nodes_by_free.KeyOf(node.index_in_pool) == node.accel_count) {
    pool.groups_by_free_nodes.Rekey(node.group, pool.groups_by_free_nodes.KeyOf(node.group) - 1);
  }
  pool.nodes_by_free.Erase(node.index_in_pool);
  for (AccelId a = node.first_accel; a < node.first_accel + node.accel_count; ++a) {
    const Milli f = free_milli_[a];
    pool.available_free_milli -= f;
    if (f > 0 && f < kMilliPerAccelerator) pool.partial.erase({f, a});
  }
  indexed_[n] = false;
}

void GridState::Allocate(AccelId a, Milli milli) { AllocateOnNode(accel_node_[a], {a}, milli); }

void GridState::Release(AccelId a, Milli milli) { ReleaseOnNode(accel_node_[a], {a}, milli); }

void GridState::AllocateOnNode(NodeId n, const std::vector<AccelId>& accels, Milli milli) {
  ++changes_;
  const bool was = indexed_[n];
  if (was) Unindex(n);
  for (AccelId a : accels) {
    assert(accel_node_[a] == n && milli > 0 && free_milli_[a] >= milli &&
           "accelerator over-allocated");
    if (free_milli_[a] == kMilliPerAccelerator) --free_whole_[n];
    free_milli_[a] -= milli;
  }
  const NodeInfo& node = nodes_[n];
  const Milli total = milli * static_cast<Milli>(accels.size());
  pools_[node.pool].used_milli += total;
  const auto& pool_spec = scenario_->pools[node.pool];
  site_power_w_[pool_spec.site_index] +=
      scenario_->accelerators[pool_spec.accelerator_index].power_w * static_cast<double>(total) /
      1000.0;
  if (was) Index(n);
}

void GridState::ReleaseOnNode(NodeId n, const std::vector<AccelId>& accels, Milli milli) {
  ++changes_;
  const bool was = indexed_[n];
  if (was) Unindex(n);
  for (AccelId a : accels) {
    assert(accel_node_[a] == n && milli > 0 && free_milli_[a] + milli <= kMilliPerAccelerator &&
           "accelerator over-released");
    free_milli_[a] += milli;
    if (free_milli_[a] == kMilliPerAccelerator) ++free_whole_[n];
  }
  const NodeInfo& node = nodes_[n];
  const Milli total = milli * static_cast<Milli>(accels.size());
  pools_[node.pool].used_milli -= total;
  const auto& pool_spec = scenario_->pools[node.pool];
  site_power_w_[pool_spec.site_index] -=
      scenario_->accelerators[pool_spec.accelerator_index].power_w * static_cast<double>(total) /
      1000.0;
  if (was) Index(n);
}

void GridState::SetNodeHealth(NodeId n, NodeHealth h) {
  ++changes_;
  if (indexed_[n]) Unindex(n);
  nodes_[n].health = h;
  if (IsIndexable(n)) Index(n);
}

void GridState::SetSiteState(std::size_t site, model::SiteState s) {
  ++changes_;
  site_state_[site] = s;
  for (std::size_t p = 0; p < pools_.size(); ++p) {
    if (static_cast<std::size_t>(scenario_->pools[p].site_index) != site) continue;
    const PoolIndex& pool = pools_[p];
    for (NodeId n = pool.first_node; n < pool.first_node + pool.node_count; ++n) {
      if (indexed_[n]) Unindex(n);
      if (IsIndexable(n)) Index(n);
    }
  }
}

void GridState::Hide(NodeId n) {
  ++changes_;
  if (indexed_[n]) Unindex(n);
  nodes_[n].hidden = true;
}

void GridState::Unhide(NodeId n) {
  ++changes_;
  nodes_[n].hidden = false;
  if (IsIndexable(n)) Index(n);
}

}  // namespace sovgrid::sched
