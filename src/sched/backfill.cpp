#include "sched/backfill.h"

#include <algorithm>
#include <cassert>

namespace sovgrid::sched {

using model::Duration;
using model::Milli;
using model::Time;

Backfill::Backfill(CycleContext& ctx, const JobTable& table)
    : ctx_(ctx),
      table_(table),
      pool_reservation_(ctx.scenario.pools.size(), -1),
      ready_index_(ctx.scenario.pools.size()),
      changed_nodes_(ctx.scenario.pools.size()),
      node_changed_(ctx.grid.node_count(), false) {}

void Backfill::BeginCycle() {
  reservations_.clear();
  reservation_starts_.clear();
  best_node_memo_.clear();
  std::fill(pool_reservation_.begin(), pool_reservation_.end(), -1);
  attempts_ = 0;
}

void Backfill::EndCycle() {
  for (const Reservation& r : reservations_) {
    for (NodeId n : r.nodes) ctx_.grid.Unhide(n);
  }
}

Duration Backfill::FitsBefore(Duration remaining, Time now) const {
  Duration fits_before = 0;
  if (remaining <= 0) return 0;
  const Time end = now + remaining;
  for (std::size_t r = 0; r < reservation_starts_.size(); ++r) {
    if (end <= reservation_starts_[r]) fits_before |= Duration{1} << r;
  }
  return fits_before;
}

NodeId Backfill::BackfillNode(std::uint32_t p, const PartShape& shape, Duration remaining,
                              Time now) const {
  if (pool_reservation_[p] < 0 || shape.nodes != 1) return kNoNode;
  const Reservation& r = reservations_[pool_reservation_[p]];
  if (remaining <= 0 || now + remaining > r.start) return kNoNode;
  return BestReservedNode(pool_reservation_[p], shape);
}

// The reserved node that fits a single-node request most tightly, or kNoNode.
NodeId Backfill::BestReservedNode(std::int32_t ri, const PartShape& s) const {
  if (memo_changes_ != ctx_.grid.changes()) {
    best_node_memo_.clear();
    memo_changes_ = ctx_.grid.changes();
  }
  const int per_node = s.fractional() ? 0 : s.per_node;
  const model::Milli milli = s.fractional() ? s.milli : 0;
  for (const BestNodeMemo& m : best_node_memo_) {
    if (m.reservation == ri && m.per_node == per_node && m.milli == milli) return m.node;
  }
  const Reservation& r = reservations_[static_cast<std::size_t>(ri)];
  const GridState& grid = ctx_.grid;
  NodeId best = kNoNode;
  Milli best_left = std::numeric_limits<Milli>::max();
  for (NodeId n : r.nodes) {
    const NodeInfo& info = grid.node(n);
    if (info.health != NodeHealth::kUp) continue;
    Milli left = -1;
    if (s.fractional()) {
      for (AccelId x = info.first_accel; x < info.first_accel + info.accel_count; ++x) {
        const Milli f = grid.FreeMilli(x);
        if (f >= s.milli && (left < 0 || f - s.milli < left)) left = f - s.milli;
      }
    } else if (grid.FreeWhole(n) >= s.per_node) {
      left = grid.FreeWhole(n) - s.per_node;
    }
    if (left >= 0 && left < best_left) {
      best_left = left;
      best = n;
    }
  }
  best_node_memo_.push_back({ri, per_node, milli, best});
  return best;
}

bool Backfill::MayReserve() {
  // Each attempt reads the candidate pools' ready indexes: at most as many
  // attempts as reservations allowed per cycle.
  return static_cast<int>(reservations_.size()) < ctx_.config.max_reservations &&
         attempts_++ < ctx_.config.max_reservations;
}

bool Backfill::Reserve(std::uint32_t idx, const SchedJob& j,
                       const std::vector<std::uint32_t>& pools, Decision* decision) {
  Reservation best;
  for (std::uint32_t p : pools) {
    if (pool_reservation_[p] >= 0) continue;
    const PartShape shape = ShapeFor(j.spec, ctx_.scenario.pools[p]);
    // The nodes that have room for the per-node shape earliest, from the
    // pool's ready index (current as of this attempt).
    auto& nodes = scratch_nodes_;
    const Time start = EarliestNodes(p, shape, ctx_.now, &nodes);
    assert(CheckEarliestNodes(p, shape, ctx_.now, start, nodes));
    if (start == kNever) continue;
    if (start < best.start) {
      best.start = start;
      best.pool = p;
      best.job = idx;
      best.nodes = nodes;
    }
  }
  if (best.start == kNever) return false;
  for (NodeId n : best.nodes) ctx_.grid.Hide(n);
  pool_reservation_[best.pool] = static_cast<std::int32_t>(reservations_.size());
  *decision = {Decision::Kind::kReserve,
               j.spec.id,
               {},
               best.nodes,
               best.start,
               "head of the queue for " + ctx_.scenario.pools[best.pool].id +
                   "; later jobs may use these nodes only if they end before it starts",
               idx};
  reservation_starts_.push_back(best.start);
  reservations_.push_back(std::move(best));
  return true;
}

// Debug builds: EarliestNodes agrees with a scan of every node of the pool.
bool Backfill::CheckEarliestNodes(std::uint32_t p, const PartShape& shape, Time now, Time start,
                                  const std::vector<NodeId>& nodes) {
  const PoolIndex& index = ctx_.grid.pool(p);
  std::vector<std::pair<Time, NodeId>> ready;
  std::vector<ReadyIndex> one(1);
  one[0].per_node = shape.per_node;
  std::vector<Time> t;
  for (NodeId n = index.first_node; n < index.first_node + index.node_count; ++n) {
    ReadyTimes(n, one, &t);
    if (t[0] != kNever) ready.emplace_back(std::max(t[0], now), n);
  }
  std::sort(ready.begin(), ready.end());
  const auto need = static_cast<std::size_t>(shape.nodes);
  if (ready.size() < need) return start == kNever;
  if (start != ready[need - 1].first || nodes.size() != need) return false;
  for (std::size_t k = 0; k < need; ++k) {
    if (nodes[k] != ready[k].second) return false;
  }
  return true;
}

// When `per_node` whole accelerators are free on node n (see ReadyIndex),
// for every index of the node's pool at once: one pass over its jobs.
void Backfill::ReadyTimes(NodeId n, const std::vector<ReadyIndex>& indexes,
                          std::vector<Time>* out) {
  const GridState& grid = ctx_.grid;
  out->assign(indexes.size(), kNever);
  const NodeInfo& info = grid.node(n);
  if (info.health != NodeHealth::kUp ||
      !grid.SiteUp(static_cast<std::size_t>(ctx_.scenario.pools[info.pool].site_index))) {
    return;
  }
  const int free_whole = grid.FreeWhole(n);
  bool sorted = false;
  auto& ends = scratch_ends_;
  for (std::size_t i = 0; i < indexes.size(); ++i) {
    const int k = indexes[i].per_node;
    if (free_whole >= k) {
      (*out)[i] = kReadyNow;
      continue;
    }
    if (!sorted) {
      ends.clear();
      for (const auto& o : table_.on_node(n))
        ends.emplace_back(o.expected_end, static_cast<int>(o.whole));
      std::sort(ends.begin(), ends.end());
      sorted = true;
    }
    int whole = free_whole;
    for (const auto& [end, count] : ends) {
      if (end == kNever) break;
      whole += count;
      if (whole >= k) {
        (*out)[i] = end;
        break;
      }
    }
  }
}

void Backfill::RefreshReady(NodeId n) {
  const std::uint32_t p = ctx_.grid.node(n).pool;
  // A pool without indexes builds them from the nodes as they are.
  if (ready_index_[p].empty() || node_changed_[n]) return;
  node_changed_[n] = true;
  changed_nodes_[p].push_back(n);
}

// A node's ready times depend only on what RefreshReady is told of (the jobs
// on it, its health, its site), so re-keying it late gives the keys an
// immediate re-key would have.
void Backfill::RekeyChanged(std::uint32_t p) {
  auto& indexes = ready_index_[p];
  for (NodeId n : changed_nodes_[p]) {
    node_changed_[n] = false;
    ReadyTimes(n, indexes, &scratch_times_);
    const std::uint32_t slot = ctx_.grid.node(n).index_in_pool;
    for (std::size_t i = 0; i < indexes.size(); ++i) {
      ReadyIndex& r = indexes[i];
      const Time t = scratch_times_[i];
      if (r.at[slot] == t) continue;
      if (r.at[slot] != kNever) r.order.erase({r.at[slot], n});
      if (t != kNever) r.order.emplace(t, n);
      r.at[slot] = t;
    }
  }
  changed_nodes_[p].clear();
}

void Backfill::RefreshPool(std::size_t p) {
  if (ready_index_[p].empty()) return;
  const PoolIndex& pool = ctx_.grid.pool(p);
  for (NodeId n = pool.first_node; n < pool.first_node + pool.node_count; ++n) RefreshReady(n);
}

Backfill::ReadyIndex& Backfill::ReadyIndexFor(std::uint32_t p, int per_node) {
  RekeyChanged(p);
  auto& indexes = ready_index_[p];
  for (auto& r : indexes) {
    if (r.per_node == per_node) return r;
  }
  const PoolIndex& pool = ctx_.grid.pool(p);
  indexes.emplace_back();
  ReadyIndex& r = indexes.back();
  r.per_node = per_node;
  r.at.assign(pool.node_count, kNever);
  std::vector<ReadyIndex> one(1);
  one[0].per_node = per_node;
  for (NodeId n = pool.first_node; n < pool.first_node + pool.node_count; ++n) {
    ReadyTimes(n, one, &scratch_times_);
    r.at[n - pool.first_node] = scratch_times_[0];
    if (scratch_times_[0] != kNever) r.order.emplace(scratch_times_[0], n);
  }
  return r;
}

// The first `nodes` nodes of pool p to have `per_node` whole accelerators
// free, ordered by (ready time, node) with ready times before `now` counted
// as `now`; fills `out` and returns when the last of them is ready, or
// kNever if fewer nodes ever will.
Time Backfill::EarliestNodes(std::uint32_t p, const PartShape& shape, Time now,
                             std::vector<NodeId>* out) {
  ReadyIndex& r = ReadyIndexFor(p, shape.per_node);
  auto& ready = scratch_ready_;
  ready.clear();
  const auto need = static_cast<std::size_t>(shape.nodes);
  // Every node ready by now ties at `now` (lowest node first), so all of
  // them are read; after those, the index order is the answer's order.
  for (auto it = r.order.begin(); it != r.order.end(); ++it) {
    if (ready.size() >= need && it->first > now) break;
    ready.emplace_back(std::max(it->first, now), it->second);
  }
  out->clear();
  if (ready.size() < need) return kNever;
  std::sort(ready.begin(), ready.end());
  for (std::size_t k = 0; k < need; ++k) out->push_back(ready[k].second);
  return ready[need - 1].first;
}

}  // namespace sovgrid::sched
