#include "sched/preemption.h"

#include <algorithm>
#include <limits>

namespace sovgrid::sched {

using model::kMilliPerAccelerator;
using model::Milli;
using model::Time;

Preemption::Preemption(CycleContext& ctx, const JobTable& table, const Placement& placement)
    : ctx_(ctx), table_(table), placement_(placement) {}

void Preemption::BeginCycle() {
  failed_.clear();
  attempts_ = 0;
}

bool Preemption::MayTry(bool single_part, const Attempt& at) const {
  return ctx_.config.preemption && single_part && attempts_ < ctx_.config.max_preemption_attempts &&
         (!at.capacity_pools.empty() || !at.reclaim_pools.empty());
}

const std::vector<std::uint32_t>& Preemption::Plan(std::uint32_t idx, const QueueEntry& e,
                                                   const Attempt& at, const QueueOrder& order) {
  const model::Scenario& scenario = ctx_.scenario;
  const SchedulerConfig& config = ctx_.config;
  const GridState& grid = ctx_.grid;
  QuotaLedger& quota = ctx_.quota;
  const Time now = ctx_.now;
  const SchedJob& j = table_.job(idx);
  double best_cost = std::numeric_limits<double>::infinity();
  best_.clear();
  ++attempts_;
  std::vector<std::uint32_t>& pools = scratch_pools_;
  pools.assign(at.capacity_pools.begin(), at.capacity_pools.end());
  pools.insert(pools.end(), at.reclaim_pools.begin(), at.reclaim_pools.end());
  std::sort(pools.begin(), pools.end());
  pools.erase(std::unique(pools.begin(), pools.end()), pools.end());
  for (std::uint32_t p : pools) {
    const model::Pool& pool = scenario.pools[p];
    const int cls = quota.ClassOfPool(static_cast<int>(p));
    const PartShape shape = ShapeFor(j.spec, pool);
    const bool within_guarantee = quota.WithinGuarantee(j.tenant, cls, shape.total);
    // Cheap exits before looking at victims one by one: nothing of lower
    // priority runs here and no reclaim applies, or an identical request
    // already failed since the pool last changed.
    bool lower_eligible = false;
    bool any_eligible = false;
    for (const auto& [prio, starts] : table_.pool_priorities(p)) {
      if (*starts.begin() > now - config.preemption_grace_s) continue;
      any_eligible = true;
      lower_eligible = lower_eligible || prio < j.priority;
    }
    const bool by_order = order.preemptive();
    if (!lower_eligible && !((within_guarantee || by_order) && any_eligible)) continue;
    const FailedKey pkey{
        p,
        shape.total,
        shape.nodes,
        j.priority,
        within_guarantee,
        by_order ? static_cast<double>(e.remaining_s) + e.attained_gpu_s * 1e-9 : 0.0};
    if (auto it = failed_.find(pkey); it != failed_.end() && it->second == table_.pool_version(p)) {
      continue;
    }
    auto& candidates = scratch_candidates_;
    candidates.clear();
    std::size_t scanned = 0;
    for (const JobTable::RunningRef& ref : table_.running_in_pool(p)) {
      // Bounded work per pool: the cheapest victims among the first eligible ones.
      if (candidates.size() >= static_cast<std::size_t>(config.max_victim_candidates) ||
          ++scanned > 8 * static_cast<std::size_t>(config.max_victim_candidates)) {
        break;
      }
      if (!ref.preemptible || now - ref.last_start < config.preemption_grace_s) continue;
      // A job with a part in this pool is charged in its class `cls`.
      const bool reclaimable = within_guarantee && !scenario.InSubtree(ref.tenant, j.tenant) &&
                               !scenario.InSubtree(j.tenant, ref.tenant) &&
                               quota.Borrowing(ref.tenant, cls);
      // Preemptive queue orders (srtf, las) displace jobs of equal or lower
      // priority that their order ranks behind the waiting job.
      const bool displaced = ref.priority <= j.priority && order.preemptive() &&
                             order.Preempts(e, table_.RunningEntry(ref.job, now));
      if (ref.priority >= j.priority && !reclaimable && !displaced) continue;
      candidates.emplace_back(table_.LostWork(table_.job(ref.job), now), ref.job);
    }
    std::sort(candidates.begin(), candidates.end(), [&](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      return table_.job(a.second).seq > table_.job(b.second).seq;
    });
    // Simulate freeing victims one by one until the job fits in this pool
    // and its quota admits it. What fits is tracked incrementally: the
    // accelerators freed so far, and per touched node its whole free
    // accelerators after the frees, so each victim costs O(its accelerators).
    auto& freed = scratch_freed_;
    auto& node_whole = scratch_node_whole_;
    for (AccelId x : scratch_freed_touched_) freed[x] = 0;
    for (NodeId n : scratch_node_touched_) node_whole[n] = -1;
    scratch_freed_touched_.clear();
    scratch_node_touched_.clear();
    if (node_whole.size() != grid.node_count()) {  // first use: sized to the grid
      const std::size_t nodes = grid.node_count();
      const NodeInfo& last = grid.node(static_cast<NodeId>(nodes - 1));  // p has nodes
      freed.assign(static_cast<std::size_t>(last.first_accel) + last.accel_count, 0);
      node_whole.assign(nodes, -1);
    }
    std::vector<std::uint32_t>& chosen = scratch_chosen_;
    chosen.clear();
    double cost = 0;
    const PoolIndex& index = grid.pool(p);
    // Nodes (available, not reserved) with room: those already indexed so,
    // plus touched nodes that reach the per-node shape only through the frees.
    bool fits_now = shape.fractional() && placement_.CanFitNow(p, shape);
    std::size_t fit_count =
        shape.fractional() ? 0 : index.nodes_by_free.CountAtLeast(shape.per_node);
    auto free_victim = [&](const SchedJob& vj) {
      for (const auto& a : vj.assignment) {
        if (grid.node(a.node).pool != p) continue;
        const bool available = grid.Available(a.node);
        for (AccelId x : a.accelerators) {
          Milli& f = freed[x];
          if (f == 0) scratch_freed_touched_.push_back(x);
          const Milli was = grid.FreeMilli(x) + f;
          f += a.milli_per_accelerator;
          const Milli after = grid.FreeMilli(x) + f;
          if (!available) continue;
          if (shape.fractional()) {
            fits_now = fits_now || after >= shape.milli;
            continue;
          }
          if (was == kMilliPerAccelerator || after != kMilliPerAccelerator) continue;
          int& whole = node_whole[a.node];
          if (whole < 0) {
            whole = grid.FreeWhole(a.node);
            scratch_node_touched_.push_back(a.node);
          }
          ++whole;
          // Counted once: when the node first reaches the shape through frees.
          if (whole == shape.per_node) ++fit_count;
        }
      }
    };
    auto fits = [&]() {
      return shape.fractional() ? fits_now : fit_count >= static_cast<std::size_t>(shape.nodes);
    };
    auto quota_ok = [&]() {
      for (std::uint32_t v : chosen) {
        for (const auto& [vp, m] : table_.job(v).charges)
          quota.RefundOnPool(table_.job(v).tenant, vp, m);
      }
      const bool ok = quota.CanAdmit(j.tenant, cls, shape.total).ok;
      for (std::uint32_t v : chosen) {
        for (const auto& [vp, m] : table_.job(v).charges)
          quota.ChargeOnPool(table_.job(v).tenant, vp, m);
      }
      return ok;
    };
    bool found = false;
    for (const auto& [loss, v] : candidates) {
      if (cost + loss >= best_cost) break;
      chosen.push_back(v);
      cost += loss;
      free_victim(table_.job(v));
      if (fits() && quota_ok()) {
        found = true;
        break;
      }
    }
    if (found && cost < best_cost) {
      best_cost = cost;
      best_ = chosen;
    }
    if (!found && candidates.size() <= chosen.size()) failed_[pkey] = table_.pool_version(p);
  }
  return best_;
}

std::string Preemption::VictimReason(std::uint32_t v, std::uint32_t idx, const QueueEntry& e,
                                     const QueueOrder& order) const {
  const SchedJob& j = table_.job(idx);
  const SchedJob& vj = table_.job(v);
  const std::string& by = j.spec.id;
  if (vj.priority < j.priority) {
    return "preempted by " + by + " (priority " + std::to_string(j.priority) + " over " +
           std::to_string(vj.priority) + ")";
  }
  if (order.preemptive() && order.Preempts(e, table_.RunningEntry(v, ctx_.now))) {
    return "preempted by " + by + ": queue order " + ctx_.config.queue_order + " ranks it first";
  }
  return "preempted so that " + ctx_.scenario.TenantPath(j.tenant) +
         " gets back its guarantee (job " + by + ")";
}

}  // namespace sovgrid::sched
