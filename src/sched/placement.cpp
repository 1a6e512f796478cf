#include "sched/placement.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <functional>
#include <limits>

namespace sovgrid::sched {

using model::kMilliPerAccelerator;
using model::Milli;

Placement::Placement(CycleContext& ctx) : ctx_(ctx) {
  best_throughput_.assign(model::kWorkloadClassCount, 0.0);
  for (const auto& a : ctx_.scenario.accelerators) {
    for (int c = 0; c < model::kWorkloadClassCount; ++c) {
      if (!a.qpu()) best_throughput_[c] = std::max(best_throughput_[c], a.relative_throughput[c]);
    }
  }
}

Status Placement::Init(const std::vector<std::string>& scores) {
  bool seen_pack = false;
  for (const auto& name : scores) {
    auto score = MakeScore(name);
    if (!score.ok()) return score.status();
    if (name == "spread" && !seen_pack) spread_nodes_ = true;
    if (name == "binpack") seen_pack = true;
    scores_.push_back(std::move(score).value());
  }
  auto share_scorer = MakeNodeScorer("sovgrid");
  if (!share_scorer.ok()) return share_scorer.status();
  share_scorer_ = std::move(share_scorer).value();
  return Status::Ok();
}

void Placement::NoteSubmitted(const model::Job& job) {
  // What one node of this job holds.
  const int per_node = job.fractional() ? 1
                       : job.accelerators_per_node > 0
                           ? job.accelerators_per_node
                           : std::min(job.accelerators, kMaxAcceleratorsPerNode / 2);
  ++part_shape_counts_[{per_node, job.accelerator_milli}];
  part_shapes_changed_ = true;
}

void Placement::BeginCycle() {
  if (part_shapes_changed_) RefreshShareMix();
}

// The typical workload of share placement: the most common single-node part
// shapes submitted so far (WorkloadMix's 95 % coverage).
void Placement::RefreshShareMix() {
  share_mix_.types.clear();
  std::size_t total = 0;
  for (const auto& [shape, count] : part_shape_counts_) total += count;
  std::vector<std::pair<std::size_t, std::pair<int, Milli>>> by_count;
  for (const auto& [shape, count] : part_shape_counts_) by_count.emplace_back(count, shape);
  std::sort(by_count.begin(), by_count.end(), std::greater<>());  // most common first
  std::size_t kept = 0;
  for (const auto& [count, shape] : by_count) {
    if (static_cast<double>(kept) >= 0.95 * static_cast<double>(total)) break;
    PodRequest r;
    r.gpus = shape.first;
    r.gpu_milli = shape.second;
    share_mix_.types.push_back({r, static_cast<double>(count)});
    kept += count;
  }
  for (auto& t : share_mix_.types)
    t.popularity /= static_cast<double>(std::max<std::size_t>(kept, 1));
  part_shapes_changed_ = false;
}

bool Placement::FreeWholeNode(NodeId n) const {
  return ctx_.grid.Available(n) && ctx_.grid.FreeWhole(n) == ctx_.grid.node(n).accel_count;
}

void Placement::TakeWhole(NodeId n, int count, Milli milli,
                          std::vector<NodeAssignment>* out) const {
  const GridState& grid = ctx_.grid;
  NodeAssignment a;
  a.node = n;
  a.milli_per_accelerator = milli;
  const NodeInfo& info = grid.node(n);
  for (AccelId x = info.first_accel;
       x < info.first_accel + info.accel_count && static_cast<int>(a.accelerators.size()) < count;
       ++x) {
    if (grid.FreeMilli(x) == kMilliPerAccelerator) a.accelerators.push_back(x);
  }
  assert(static_cast<int>(a.accelerators.size()) == count);
  out->push_back(std::move(a));
}

void Placement::TakeOnNode(NodeId n, const PartShape& s, std::vector<NodeAssignment>* out) const {
  if (!s.fractional()) {
    TakeWhole(n, s.per_node, s.milli, out);
    return;
  }
  const GridState& grid = ctx_.grid;
  const NodeInfo& info = grid.node(n);
  AccelId best = info.first_accel;
  Milli best_free = std::numeric_limits<Milli>::max();
  for (AccelId x = info.first_accel; x < info.first_accel + info.accel_count; ++x) {
    const Milli f = grid.FreeMilli(x);
    if (f >= s.milli && f < best_free) {
      best_free = f;
      best = x;
    }
  }
  out->push_back({n, {best}, s.milli});
}

bool Placement::CanFitNow(std::size_t p, const PartShape& s) const {
  const PoolIndex& pool = ctx_.grid.pool(p);
  if (pool.available_free_milli < s.total) return false;
  if (s.fractional()) {
    return pool.partial.lower_bound({s.milli, 0}) != pool.partial.end() ||
           pool.nodes_by_free.FirstNonEmptyAtLeast(1) >= 0;
  }
  if (s.nodes == 1) return pool.nodes_by_free.FirstNonEmptyAtLeast(s.per_node) >= 0;
  return pool.nodes_by_free.CountAtLeast(s.per_node) >= static_cast<std::size_t>(s.nodes);
}

// A share of one accelerator in pool `p`: scores, with the sovgrid node rule,
// the nodes of the kShareCandidates tightest partly used accelerators that fit
// and the first node the index offers for each count of free whole
// accelerators, and takes the best (candidate order breaks ties: tightest
// first). Bounded, so a placement never scans the pool. False when no
// candidate can be scored (the caller falls back to the tightest accelerator).
bool Placement::SelectShare(std::size_t p, const PartShape& s,
                            std::vector<NodeAssignment>* out) const {
  constexpr int kShareCandidates = 8;
  const GridState& grid = ctx_.grid;
  const PoolIndex& pool = grid.pool(p);
  std::array<NodeId, kShareCandidates + kMaxAcceleratorsPerNode + 1> candidates{};
  int n = 0;
  auto add = [&](NodeId node) {
    if (grid.node(node).accel_count > kMaxAcceleratorsPerNode) return;
    if (std::find(candidates.begin(), candidates.begin() + n, node) == candidates.begin() + n)
      candidates[static_cast<std::size_t>(n++)] = node;
  };
  int seen = 0;
  for (auto it = pool.partial.lower_bound({s.milli, 0});
       it != pool.partial.end() && seen < kShareCandidates; ++it, ++seen) {
    add(grid.NodeOf(it->second));
  }
  for (int k = 1; k <= pool.nodes_by_free.max_key() && k <= kMaxAcceleratorsPerNode; ++k) {
    if (!pool.nodes_by_free.Bucket(k).empty())
      add(pool.first_node + pool.nodes_by_free.Bucket(k).back());
  }
  PodRequest pod;
  pod.gpus = 1;
  pod.gpu_milli = s.milli;
  const PlacementContext ctx{&share_mix_, nullptr};
  NodeId best_node = kNoNode;
  ScoredOption best;
  for (int i = 0; i < n; ++i) {
    const NodeId node = candidates[static_cast<std::size_t>(i)];
    const NodeInfo& info = grid.node(node);
    NodeState view;  // CPU and memory are not the scheduler's to track: unlimited
    view.model = 0;
    view.cpu_capacity = view.cpu_free = std::numeric_limits<std::int64_t>::max() / 4;
    view.memory_capacity = view.memory_free = view.cpu_free;
    view.gpu_count = info.accel_count;
    for (int g = 0; g < info.accel_count; ++g)
      view.gpu_free[static_cast<std::size_t>(g)] =
          grid.FreeMilli(info.first_accel + static_cast<AccelId>(g));
    if (!Fits(view, pod)) continue;
    const ScoredOption o = share_scorer_->Score(view, pod, ctx);
    if (best_node == kNoNode || best.score < o.score) {
      best = o;
      best_node = node;
    }
  }
  if (best_node == kNoNode) return false;
  out->push_back({best_node, {grid.node(best_node).first_accel + best.gpus.index[0]}, s.milli});
  return true;
}

bool Placement::SelectNodes(std::size_t p, const PartShape& s,
                            std::vector<NodeAssignment>* out) const {
  const GridState& grid = ctx_.grid;
  const PoolIndex& pool = grid.pool(p);
  const int apn = ctx_.scenario.pools[p].accelerators_per_node;
  auto pick_bucket = [&](int min_key) {
    return spread_nodes_ ? pool.nodes_by_free.LastNonEmptyAtLeast(min_key)
                         : pool.nodes_by_free.FirstNonEmptyAtLeast(min_key);
  };
  if (s.fractional()) {
    if (!spread_nodes_ && SelectShare(p, s, out)) return true;
    auto it = pool.partial.lower_bound({s.milli, 0});
    if (it != pool.partial.end()) {
      out->push_back({grid.NodeOf(it->second), {it->second}, s.milli});
      return true;
    }
    const int k = pick_bucket(1);
    if (k < 0) return false;
    TakeWhole(pool.first_node + pool.nodes_by_free.Bucket(k).back(), 1, s.milli, out);
    return true;
  }
  if (s.nodes == 1) {
    const int k = pick_bucket(s.per_node);
    if (k < 0) return false;
    TakeWhole(pool.first_node + pool.nodes_by_free.Bucket(k).back(), s.per_node, s.milli, out);
    return true;
  }
  // Split the request as evenly as possible over the nodes.
  const int base = static_cast<int>(s.total / s.milli) / s.nodes;
  int extra = static_cast<int>(s.total / s.milli) % s.nodes;
  auto count_for_next = [&] { return base + (extra-- > 0 ? 1 : 0); };
  if (s.per_node == apn) {
    // Whole nodes: one interconnect group if one has room (best fit), else
    // the groups with the most free nodes first, so the gang spans the fewest.
    std::vector<std::uint32_t> groups;
    const int g = pool.groups_by_free_nodes.FirstNonEmptyAtLeast(s.nodes);
    if (g >= 0) {
      groups.push_back(pool.groups_by_free_nodes.Bucket(g).back());
    } else {
      int have = 0;
      for (int k = pool.groups_by_free_nodes.max_key(); k >= 1 && have < s.nodes; --k) {
        for (std::uint32_t grp : pool.groups_by_free_nodes.Bucket(k)) {
          groups.push_back(grp);
          have += k;
          if (have >= s.nodes) break;
        }
      }
      if (have < s.nodes) return false;
      std::sort(groups.begin(), groups.end());  // deterministic node order
    }
    int taken = 0;
    for (std::uint32_t grp : groups) {
      const NodeId first = pool.first_node + grp * pool.group_size;
      const NodeId last =
          std::min<NodeId>(first + pool.group_size, pool.first_node + pool.node_count);
      for (NodeId n = first; n < last && taken < s.nodes; ++n) {
        if (!FreeWholeNode(n)) continue;
        TakeWhole(n, count_for_next(), s.milli, out);
        ++taken;
      }
    }
    return taken == s.nodes;
  }
  int taken = 0;
  for (int k = s.per_node; k <= apn && taken < s.nodes; ++k) {
    for (std::uint32_t idx : pool.nodes_by_free.Bucket(k)) {
      TakeWhole(pool.first_node + idx, count_for_next(), s.milli, out);
      if (++taken == s.nodes) break;
    }
  }
  return taken == s.nodes;
}

PoolCandidate Placement::Summarise(std::size_t p, const PartShape& s, const model::Job& job) const {
  const PoolIndex& pool = ctx_.grid.pool(p);
  const model::Pool& spec = ctx_.scenario.pools[p];
  PoolCandidate c;
  c.pool = static_cast<int>(p);
  c.request_milli = s.total;
  c.nodes = s.nodes;
  c.fractional = s.fractional();
  if (s.nodes > 1 && s.per_node == spec.accelerators_per_node) {
    c.fits_one_group = pool.groups_by_free_nodes.FirstNonEmptyAtLeast(s.nodes) >= 0;
    c.groups_needed = static_cast<int>((static_cast<std::uint32_t>(s.nodes) + pool.group_size - 1) /
                                       pool.group_size);
  }
  if (s.fractional()) {
    auto it = pool.partial.lower_bound({s.milli, 0});
    c.best_partial_leftover = it == pool.partial.end() ? -1 : it->first - s.milli;
  } else if (s.nodes == 1) {
    c.exact_node_fit = !pool.nodes_by_free.Bucket(s.per_node).empty();
  }
  c.used_fraction_after = pool.capacity_milli > 0 ? static_cast<double>(pool.used_milli + s.total) /
                                                        static_cast<double>(pool.capacity_milli)
                                                  : 1.0;
  const auto wc = static_cast<std::size_t>(model::WorkloadClassOf(job.kind));
  c.relative_throughput =
      ctx_.scenario.accelerators[spec.accelerator_index].relative_throughput[wc];
  c.best_throughput = best_throughput_[wc];
  return c;
}

double Placement::ScoreOf(const PoolCandidate& c) const {
  double total = 0;
  for (std::size_t i = 0; i < scores_.size(); ++i) {
    const double weight = i == 0 ? 3.0 : (i == 1 ? 2.0 : 1.0);
    total += weight * scores_[i]->Score(c);
  }
  return total;
}

}  // namespace sovgrid::sched
