#include "sched/scheduler.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "model/policy_names.h"
#include "sched/node_placement.h"

namespace sovgrid::sched {

using model::Duration;
using model::kMilliPerAccelerator;
using model::Milli;
using model::Time;

namespace {
constexpr Time kNever = std::numeric_limits<Time>::max();
constexpr std::uint32_t kNoJob = UINT32_MAX;
constexpr NodeId kNoNode = UINT32_MAX;
}  // namespace

std::string_view DecisionKindName(Decision::Kind k) {
  switch (k) {
    case Decision::Kind::kStart:
      return "start";
    case Decision::Kind::kPreempt:
      return "preempt";
    case Decision::Kind::kReserve:
      return "reserve";
    case Decision::Kind::kRequeue:
      return "requeue";
  }
  return "?";
}

SchedulerConfig SchedulerConfig::FromPolicies(const model::Policies& p) {
  SchedulerConfig c;
  c.queue_order = p.queue_order;
  c.scores = p.scores;
  c.backfill = p.backfill;
  c.preemption = p.preemption;
  c.preemption_grace_s = p.preemption_grace_s;
  return c;
}

// ---------------------------------------------------------------------------
// Internal state.

namespace {

// The pools a job part may ever use (static filters), shared by all jobs with
// the same tenant restriction, models, datasets, latency target and shape.
struct CandidateSet {
  std::vector<std::uint16_t> pools;
  WaitReason rejections;  // counts of pools removed by each static filter
};

// Resources one part of a job asks for in one pool.
struct PartShape {
  int nodes = 1;
  int per_node = 1;                    // whole accelerators per node (1 when fractional)
  Milli milli = kMilliPerAccelerator;  // per accelerator
  Milli total = 0;
  bool fractional() const { return milli < kMilliPerAccelerator; }
};

struct SchedJob {
  model::Job spec;
  bool live = false;
  JobState state = JobState::kPending;
  std::int32_t tenant = -1;
  std::int32_t priority = 0;
  std::uint64_t seq = 0;
  std::vector<std::uint32_t> part_sets;  // one candidate set per part
  Time last_start = -1;
  Duration progress_s = 0;
  double attained_gpu_s = 0;
  int preemptions = 0;
  std::vector<NodeAssignment> assignment;
  std::vector<std::pair<int, Milli>> charges;                       // (quota class, milli) per part
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pool_slots;  // (pool, index in pool_running)
  std::uint32_t pending_pos = 0;
  // Where a pending job waits: active (tried every cycle) or parked (see ParkSlot).
  enum class Park : std::uint8_t { kActive, kBySet, kByClass, kUntilRetry };

  Milli TotalMilli() const {
    return spec.accelerator_milli * spec.accelerators * static_cast<Milli>(part_sets.size());
  }
  Duration Remaining() const {
    return spec.runtime_estimate_s > 0 ? std::max<Duration>(1, spec.runtime_estimate_s - progress_s)
                                       : 0;
  }
};

struct Reservation {
  std::uint32_t job = 0;
  std::uint32_t pool = 0;
  Time start = kNever;
  std::vector<NodeId> nodes;
};

struct EquivalenceKey {
  std::int32_t tenant;
  std::uint32_t set;
  std::int32_t accelerators;
  std::int32_t milli;
  std::int32_t per_node;
  std::int32_t priority;
  Duration remaining;
  bool operator==(const EquivalenceKey&) const = default;
};
struct EquivalenceHash {
  std::size_t operator()(const EquivalenceKey& k) const {
    std::size_t h = std::hash<std::int64_t>()(k.tenant);
    auto mix = [&h](std::int64_t v) {
      h ^= std::hash<std::int64_t>()(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    };
    mix(k.set);
    mix(k.accelerators);
    mix(k.milli);
    mix(k.per_node);
    mix(k.priority);
    mix(k.remaining);
    return h;
  }
};

}  // namespace

struct Scheduler::Impl final : public TenantShares {
  Impl(const model::Scenario& s, const SchedulerConfig& c, GridState& g, QuotaLedger& q)
      : scenario(s), config(c), grid(g), quota(q) {}

  const model::Scenario& scenario;
  const SchedulerConfig& config;
  GridState& grid;
  QuotaLedger& quota;
  std::unique_ptr<QueueOrder> order;
  std::vector<std::unique_ptr<ScorePlugin>> scores;
  bool spread_nodes = false;

  // Shares of one accelerator are placed inside a pool by the sovgrid node rule
  // (sched/node_placement.h, the rule the fill experiment measures) against the
  // typical single-node parts submitted so far, refreshed at each cycle.
  std::unique_ptr<NodeScorer> share_scorer;
  std::map<std::pair<int, Milli>, std::size_t> part_shape_counts;  // (accelerators, milli) -> jobs
  bool part_shapes_changed = false;
  WorkloadMix share_mix;

  std::vector<SchedJob> jobs;
  // Per job, apart from the records so that a cycle over many pending jobs
  // touches a few compact bytes per job rather than its record: its queue
  // entry as of its last change (submission, stop) and where it waits.
  std::vector<QueueEntry> hot;
  struct ParkSlot {
    SchedJob::Park park = SchedJob::Park::kActive;
    std::uint32_t key = 0;  // the candidate set or quota class it is parked under
    std::uint32_t pos = 0;  // its index in the active list or the parked list
  };
  std::vector<ParkSlot> parking;
  // Why each pending job waits, apart from the jobs so that a cycle touching
  // 100,000 pending jobs stays in cache.
  std::vector<WaitReason> reasons;
  std::vector<std::uint32_t> free_slots;
  std::unordered_map<std::string, std::uint32_t> by_id;
  std::uint64_t next_seq = 0;

  std::vector<CandidateSet> sets;
  std::map<std::string, std::uint32_t> set_by_key;
  std::vector<int> tenant_pool_holder;  // nearest tenant up the tree naming pools, or -1

  // Jobs with a part in the pool, with what a victim search reads first, so
  // that ineligible jobs are skipped without touching their records.
  struct RunningRef {
    std::uint32_t job;
    std::int32_t priority;
    std::int32_t tenant;
    bool preemptible;
    Time last_start;
  };
  std::vector<std::vector<RunningRef>> pool_running;
  // Running jobs per node, with the whole accelerators each holds there.
  struct OnNode {
    std::uint32_t job;
    std::uint32_t whole;
    Time expected_end;  // start + remaining estimate; kNever when unknown
  };
  std::vector<std::vector<OnNode>> node_jobs;
  std::vector<double> best_throughput;  // per workload class

  // Per cycle.
  std::vector<Reservation> reservations;
  std::vector<std::int32_t> pool_reservation;  // index into reservations, or -1
  std::vector<std::uint32_t> pool_blocked_by;  // strict order without backfill
  std::unordered_map<EquivalenceKey, WaitReason, EquivalenceHash> failed;
  std::vector<Decision> carried;  // requeues from events between cycles
  // Pending jobs tried every cycle, and parked ones by what would wake them.
  std::vector<std::uint32_t> active;
  std::vector<std::vector<std::uint32_t>> parked_by_set;    // per candidate set
  std::vector<std::vector<std::uint32_t>> parked_by_class;  // per quota class
  std::vector<std::uint32_t> parked_until_retry;            // woken only by the retry interval
  std::vector<std::vector<std::uint32_t>> sets_of_pool;     // candidate sets containing each pool
  std::vector<char> pool_released, class_released;          // since the last cycle
  bool wake_all = false;
  Time last_full_wake = std::numeric_limits<Time>::min();
  // Preemptible running jobs per pool by priority, with their start times, and a
  // version per pool bumped whenever a job starts or stops there.
  std::vector<std::map<std::int32_t, std::multiset<Time>>>
      pool_priorities;  // priority -> start times
  std::vector<std::uint64_t> pool_version;
  struct PreemptKey {
    std::uint32_t pool;
    Milli total;
    int nodes;
    std::int32_t priority;
    bool within_guarantee;
    double order_rank;  // preemptive orders: what they compare (remaining time, attained service)
    bool operator<(const PreemptKey& o) const {
      return std::tie(pool, total, nodes, priority, within_guarantee, order_rank) <
             std::tie(o.pool, o.total, o.nodes, o.priority, o.within_guarantee, o.order_rank);
    }
  };
  std::map<PreemptKey, std::uint64_t> preempt_failed;  // -> pool version when it failed
  Time last_now = std::numeric_limits<Time>::min();

  // Charges grants for the time since the last event. Time never runs back.
  void AdvanceTo(Time now) {
    if (last_now != std::numeric_limits<Time>::min() && now > last_now) quota.Accrue(last_now, now);
    if (now > last_now) last_now = now;
  }

  // TenantShares.
  double DominantShare(int tenant) const override {
    double share = 0;
    for (int c = 0; c < quota.class_count(); ++c) {
      if (quota.Capacity(c) > 0) {
        share = std::max(share, static_cast<double>(quota.Usage(tenant, c)) /
                                    static_cast<double>(quota.Capacity(c)));
      }
    }
    return share;
  }
  double OwnDominantShare(int tenant) const override {
    double share = 0;
    for (int c = 0; c < quota.class_count(); ++c) {
      if (quota.Capacity(c) > 0) {
        share = std::max(share, static_cast<double>(quota.DirectUsage(tenant, c)) /
                                    static_cast<double>(quota.Capacity(c)));
      }
    }
    return share;
  }

  // -------------------------------------------------------------------------
  // Shapes and static filters.

  PartShape ShapeFor(const model::Job& job, const model::Pool& pool) const {
    PartShape s;
    s.milli = job.accelerator_milli;
    if (job.fractional()) {
      s.nodes = 1;
      s.per_node = 1;
    } else if (job.accelerators_per_node > 0) {
      s.per_node = job.accelerators_per_node;
      s.nodes = job.accelerators / job.accelerators_per_node;
    } else if (job.accelerators <= pool.accelerators_per_node) {
      s.per_node = job.accelerators;
    } else {
      s.nodes = (job.accelerators + pool.accelerators_per_node - 1) / pool.accelerators_per_node;
      s.per_node = (job.accelerators + s.nodes - 1) / s.nodes;
    }
    s.total = job.accelerator_milli * job.accelerators;
    return s;
  }

  // Regions of a service's replicas, in replica order; empty for other jobs.
  static std::vector<std::string> ReplicaRegions(const model::Job& job) {
    std::vector<std::string> regions;
    for (const auto& [region, _] : job.latency_slo_ms) regions.push_back(region);
    return regions;
  }

  Result<std::uint32_t> CandidateSetFor(const model::Job& job, int tenant,
                                        const std::string& region) {
    const int holder = tenant_pool_holder[tenant];
    std::string key = std::to_string(holder) + "|";
    for (const auto& m : job.accepted_models) key += m + ",";
    key += "|";
    for (const auto& d : job.datasets) key += d + ",";
    key += "|" + region + "|";
    if (!region.empty()) key += std::to_string(job.latency_slo_ms.at(region));
    key += "|" + std::to_string(job.accelerators) + "/" +
           std::to_string(job.accelerators_per_node) + "/" + std::to_string(job.fractional());
    if (auto it = set_by_key.find(key); it != set_by_key.end()) return it->second;

    CandidateSet set;
    for (std::size_t p = 0; p < scenario.pools.size(); ++p) {
      const model::Pool& pool = scenario.pools[p];
      const model::Site& site = scenario.sites[pool.site_index];
      if (!job.accepted_models.empty() &&
          std::find(job.accepted_models.begin(), job.accepted_models.end(), pool.accelerator) ==
              job.accepted_models.end()) {
        ++set.rejections.rejected_by_model;
        continue;
      }
      if (holder >= 0) {
        const auto& allowed = scenario.tenants[holder].pools;
        if (std::find(allowed.begin(), allowed.end(), pool.id) == allowed.end()) {
          ++set.rejections.rejected_by_tenant_pools;
          continue;
        }
      }
      bool resident = true;
      for (const auto& d : job.datasets) {
        const model::Dataset& ds = scenario.datasets[scenario.FindDataset(d)];
        if (!ds.jurisdictions.empty() && std::find(ds.jurisdictions.begin(), ds.jurisdictions.end(),
                                                   site.jurisdiction) == ds.jurisdictions.end()) {
          resident = false;
        }
        if (site.tier < ds.min_tier) resident = false;
        if (!ds.sites.empty() &&
            std::find(ds.sites.begin(), ds.sites.end(), site.id) == ds.sites.end()) {
          resident = false;
        }
      }
      if (!resident) {
        ++set.rejections.rejected_by_residency;
        continue;
      }
      if (!region.empty()) {
        auto it = site.latency_ms.find(region);
        if (it == site.latency_ms.end() || it->second > job.latency_slo_ms.at(region)) {
          ++set.rejections.rejected_by_latency;
          continue;
        }
      }
      const PartShape shape = ShapeFor(job, pool);
      if (shape.per_node > pool.accelerators_per_node || shape.nodes > pool.nodes) {
        ++set.rejections.rejected_by_model;  // the shape does not exist in this pool
        continue;
      }
      set.pools.push_back(static_cast<std::uint16_t>(p));
    }
    const auto id = static_cast<std::uint32_t>(sets.size());
    for (std::uint16_t p : set.pools) sets_of_pool[p].push_back(id);
    sets.push_back(std::move(set));
    parked_by_set.emplace_back();
    set_by_key.emplace(std::move(key), id);
    return id;
  }

  // -------------------------------------------------------------------------
  // Node selection inside one pool.

  bool FreeWholeNode(NodeId n) const {
    return grid.Available(n) && grid.FreeWhole(n) == grid.node(n).accel_count;
  }

  void TakeWhole(NodeId n, int count, Milli milli, std::vector<NodeAssignment>* out) const {
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

  // The reserved node that fits a single-node request most tightly, or kNoNode.
  NodeId BestReservedNode(const Reservation& r, const PartShape& s) const {
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
    return best;
  }

  // Picks accelerators on one given node for a single-node request.
  void TakeOnNode(NodeId n, const PartShape& s, std::vector<NodeAssignment>* out) const {
    if (!s.fractional()) {
      TakeWhole(n, s.per_node, s.milli, out);
      return;
    }
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

  bool CanFitNow(std::size_t p, const PartShape& s) const {
    const PoolIndex& pool = grid.pool(p);
    if (pool.available_free_milli < s.total) return false;
    if (s.fractional()) {
      return pool.partial.lower_bound({s.milli, 0}) != pool.partial.end() ||
             pool.nodes_by_free.FirstNonEmptyAtLeast(1) >= 0;
    }
    if (s.nodes == 1) return pool.nodes_by_free.FirstNonEmptyAtLeast(s.per_node) >= 0;
    return pool.nodes_by_free.CountAtLeast(s.per_node) >= static_cast<std::size_t>(s.nodes);
  }

  // The typical workload of share placement: the most common single-node part
  // shapes submitted so far (WorkloadMix's 95 % coverage).
  void RefreshShareMix() {
    share_mix.types.clear();
    std::size_t total = 0;
    for (const auto& [shape, count] : part_shape_counts) total += count;
    std::vector<std::pair<std::size_t, std::pair<int, Milli>>> by_count;
    for (const auto& [shape, count] : part_shape_counts) by_count.emplace_back(count, shape);
    std::sort(by_count.begin(), by_count.end(), std::greater<>());  // most common first
    std::size_t kept = 0;
    for (const auto& [count, shape] : by_count) {
      if (static_cast<double>(kept) >= 0.95 * static_cast<double>(total)) break;
      PodRequest r;
      r.gpus = shape.first;
      r.gpu_milli = shape.second;
      share_mix.types.push_back({r, static_cast<double>(count)});
      kept += count;
    }
    for (auto& t : share_mix.types)
      t.popularity /= static_cast<double>(std::max<std::size_t>(kept, 1));
    part_shapes_changed = false;
  }

  // A share of one accelerator in pool `p`: scores, with the sovgrid node rule,
  // the nodes of the kShareCandidates tightest partly used accelerators that fit
  // and the first node the index offers for each count of free whole
  // accelerators, and takes the best (candidate order breaks ties: tightest
  // first). Bounded, so a placement never scans the pool. False when no
  // candidate can be scored (the caller falls back to the tightest accelerator).
  bool SelectShare(std::size_t p, const PartShape& s, std::vector<NodeAssignment>* out) const {
    constexpr int kShareCandidates = 8;
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
    const PlacementContext ctx{&share_mix, nullptr};
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
      const ScoredOption o = share_scorer->Score(view, pod, ctx);
      if (best_node == kNoNode || best.score < o.score) {
        best = o;
        best_node = node;
      }
    }
    if (best_node == kNoNode) return false;
    out->push_back({best_node, {grid.node(best_node).first_accel + best.gpus.index[0]}, s.milli});
    return true;
  }

  // Picks nodes and accelerators; does not allocate. Assumes CanFitNow.
  bool SelectNodes(std::size_t p, const PartShape& s, std::vector<NodeAssignment>* out) const {
    const PoolIndex& pool = grid.pool(p);
    const int apn = scenario.pools[p].accelerators_per_node;
    auto pick_bucket = [&](int min_key) {
      return spread_nodes ? pool.nodes_by_free.LastNonEmptyAtLeast(min_key)
                          : pool.nodes_by_free.FirstNonEmptyAtLeast(min_key);
    };
    if (s.fractional()) {
      if (!spread_nodes && SelectShare(p, s, out)) return true;
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

  PoolCandidate Summarise(std::size_t p, const PartShape& s, const model::Job& job) const {
    const PoolIndex& pool = grid.pool(p);
    const model::Pool& spec = scenario.pools[p];
    PoolCandidate c;
    c.pool = static_cast<int>(p);
    c.request_milli = s.total;
    c.nodes = s.nodes;
    c.fractional = s.fractional();
    if (s.nodes > 1 && s.per_node == spec.accelerators_per_node) {
      c.fits_one_group = pool.groups_by_free_nodes.FirstNonEmptyAtLeast(s.nodes) >= 0;
      c.groups_needed = static_cast<int>(
          (static_cast<std::uint32_t>(s.nodes) + pool.group_size - 1) / pool.group_size);
    }
    if (s.fractional()) {
      auto it = pool.partial.lower_bound({s.milli, 0});
      c.best_partial_leftover = it == pool.partial.end() ? -1 : it->first - s.milli;
    } else if (s.nodes == 1) {
      c.exact_node_fit = !pool.nodes_by_free.Bucket(s.per_node).empty();
    }
    c.used_fraction_after = pool.capacity_milli > 0
                                ? static_cast<double>(pool.used_milli + s.total) /
                                      static_cast<double>(pool.capacity_milli)
                                : 1.0;
    const auto wc = static_cast<std::size_t>(model::WorkloadClassOf(job.kind));
    c.relative_throughput = scenario.accelerators[spec.accelerator_index].relative_throughput[wc];
    c.best_throughput = best_throughput[wc];
    return c;
  }

  double ScoreOf(const PoolCandidate& c) const {
    double total = 0;
    for (std::size_t i = 0; i < scores.size(); ++i) {
      const double weight = i == 0 ? 3.0 : (i == 1 ? 2.0 : 1.0);
      total += weight * scores[i]->Score(c);
    }
    return total;
  }

  // -------------------------------------------------------------------------
  // Starting and stopping jobs.

  // Records a part already allocated on the grid as the job's.
  void RegisterPart(SchedJob& j, std::size_t pool, std::vector<NodeAssignment>&& parts) {
    const std::uint32_t idx = static_cast<std::uint32_t>(&j - jobs.data());
    for (auto& a : parts) {
      auto& on_node = node_jobs[a.node];
      const auto whole = a.milli_per_accelerator == kMilliPerAccelerator
                             ? static_cast<std::uint32_t>(a.accelerators.size())
                             : 0u;
      auto it = std::find_if(on_node.begin(), on_node.end(),
                             [&](const OnNode& o) { return o.job == idx; });
      if (it == on_node.end()) {
        // RegisterPart runs when the job starts now: its end by the estimate.
        const Duration rem = j.Remaining();
        on_node.push_back({idx, whole, rem > 0 ? now_hint + rem : kNever});
      } else {
        it->whole += whole;
      }
      RefreshReady(a.node);
      j.assignment.push_back(std::move(a));
    }
    bool listed = false;
    for (const auto& [p, _] : j.pool_slots) listed = listed || p == pool;
    if (!listed) {
      j.pool_slots.emplace_back(static_cast<std::uint32_t>(pool),
                                static_cast<std::uint32_t>(pool_running[pool].size()));
      // RegisterPart runs when the job starts now.
      pool_running[pool].push_back({idx, j.priority, j.tenant, j.spec.preemptible, now_hint});
    }
    ++pool_version[pool];
  }

  void ReleaseAll(SchedJob& j) {
    const std::uint32_t idx = static_cast<std::uint32_t>(&j - jobs.data());
    for (const auto& a : j.assignment) {
      grid.ReleaseOnNode(a.node, a.accelerators, a.milli_per_accelerator);
      auto& on_node = node_jobs[a.node];
      on_node.erase(std::remove_if(on_node.begin(), on_node.end(),
                                   [&](const OnNode& o) { return o.job == idx; }),
                    on_node.end());
      RefreshReady(a.node);
    }
    j.assignment.clear();
    for (const auto& [c, m] : j.charges) quota.Refund(j.tenant, c, m);
    for (const auto& [c, m] : j.charges) class_released[static_cast<std::size_t>(c)] = 1;
    j.charges.clear();
    for (const auto& [p, slot] : j.pool_slots) {
      ++pool_version[p];
      pool_released[p] = 1;
      if (j.spec.preemptible && j.state == JobState::kRunning) {
        auto it = pool_priorities[p].find(j.priority);
        it->second.erase(it->second.find(j.last_start));
        if (it->second.empty()) pool_priorities[p].erase(it);
      }
      auto& list = pool_running[p];
      const std::uint32_t moved = list.back().job;
      list[slot] = list.back();
      list.pop_back();
      if (moved != idx) {
        for (auto& [mp, mslot] : jobs[moved].pool_slots) {
          if (mp == p) mslot = slot;
        }
      }
    }
    j.pool_slots.clear();
  }

  // The queue entry of a pending job from its record (kept in `hot`).
  QueueEntry EntryOf(std::uint32_t idx) const {
    const SchedJob& j = jobs[idx];
    return {idx,
            j.seq,
            j.tenant,
            j.priority,
            j.spec.submit_time,
            j.spec.runtime_estimate_s,
            j.Remaining(),
            j.spec.deadline,
            j.attained_gpu_s,
            j.part_sets.size() == 1 ? j.part_sets[0] : UINT32_MAX,
            j.spec.accelerators,
            static_cast<std::int32_t>(j.spec.accelerator_milli),
            j.spec.accelerators_per_node};
  }

  // Removes `idx` from `list`, where it sits at parking[idx].pos.
  void EraseFromList(std::vector<std::uint32_t>& list, std::uint32_t idx) {
    const std::uint32_t pos = parking[idx].pos;
    const std::uint32_t moved = list.back();
    list[pos] = moved;
    parking[moved].pos = pos;
    list.pop_back();
  }
  std::vector<std::uint32_t>& ListOf(std::uint32_t idx) {
    const ParkSlot& slot = parking[idx];
    switch (slot.park) {
      case SchedJob::Park::kBySet:
        return parked_by_set[slot.key];
      case SchedJob::Park::kByClass:
        return parked_by_class[slot.key];
      case SchedJob::Park::kUntilRetry:
        return parked_until_retry;
      case SchedJob::Park::kActive:
        break;
    }
    return active;
  }
  void PutIn(std::vector<std::uint32_t>& list, SchedJob::Park park, std::uint32_t key,
             std::uint32_t idx) {
    parking[idx] = {park, key, static_cast<std::uint32_t>(list.size())};
    list.push_back(idx);
  }
  void Park(std::uint32_t idx, SchedJob::Park park, std::uint32_t key) {
    EraseFromList(ListOf(idx), idx);
    std::vector<std::uint32_t>& list = park == SchedJob::Park::kBySet     ? parked_by_set[key]
                                       : park == SchedJob::Park::kByClass ? parked_by_class[key]
                                                                          : parked_until_retry;
    PutIn(list, park, key, idx);
  }
  // Parks a job that just failed where a relevant release will wake it.
  void ParkFor(std::uint32_t idx, const WaitReason& r) {
    // Grants do not come back when capacity is released: only time (a window
    // opening) or SetGrants helps.
    if (r.code == WaitCode::kGrantSpent || r.code == WaitCode::kGrantInactive) {
      Park(idx, SchedJob::Park::kUntilRetry, 0);
      return;
    }
    const bool quota_bound =
        r.code == WaitCode::kBorrowLimit || r.code == WaitCode::kLenderProtected;
    if (quota_bound && r.quota_class >= 0) {
      Park(idx, SchedJob::Park::kByClass, static_cast<std::uint32_t>(r.quota_class));
    } else {
      const std::uint32_t set = hot[idx].part_set;
      Park(idx, SchedJob::Park::kBySet, set != UINT32_MAX ? set : jobs[idx].part_sets[0]);
    }
  }

  void WakeList(std::vector<std::uint32_t>& list) {
    for (std::uint32_t idx : list) PutIn(active, SchedJob::Park::kActive, 0, idx);
    list.clear();
  }

  void AddPending(std::vector<std::uint32_t>& pending, std::uint32_t idx) {
    jobs[idx].pending_pos = static_cast<std::uint32_t>(pending.size());
    jobs[idx].state = JobState::kPending;
    pending.push_back(idx);
    PutIn(active, SchedJob::Park::kActive, 0, idx);
  }
  void RemovePending(std::vector<std::uint32_t>& pending, std::uint32_t idx) {
    const std::uint32_t pos = jobs[idx].pending_pos;
    const std::uint32_t moved = pending.back();
    pending[pos] = moved;
    jobs[moved].pending_pos = pos;
    pending.pop_back();
    EraseFromList(ListOf(idx), idx);
    parking[idx].park = SchedJob::Park::kActive;
  }

  // A running job as a queue entry at `now`: its remaining time and attained
  // service include the current run.
  QueueEntry RunningEntry(std::uint32_t idx, Time now) const {
    const SchedJob& j = jobs[idx];
    const Duration ran = now - j.last_start;
    QueueEntry e{idx,
                 j.seq,
                 j.tenant,
                 j.priority,
                 j.spec.submit_time,
                 j.spec.runtime_estimate_s,
                 0,
                 j.spec.deadline,
                 j.attained_gpu_s + static_cast<double>(ran) * static_cast<double>(j.TotalMilli()) /
                                        kMilliPerAccelerator};
    e.remaining_s = j.spec.runtime_estimate_s > 0
                        ? std::max<Duration>(1, j.spec.runtime_estimate_s - j.progress_s - ran)
                        : 0;
    return e;
  }

  // Work lost (accelerator-seconds) if the running job stopped at `now`.
  double LostWork(const SchedJob& j, Time now) const {
    const Duration elapsed = now - j.last_start;
    const Duration ckpt = j.spec.checkpoint_interval_s;
    const Duration kept = ckpt > 0 ? (elapsed / ckpt) * ckpt : 0;
    const Duration lost = elapsed - kept + (ckpt > 0 ? 0 : j.progress_s);
    return static_cast<double>(lost) * static_cast<double>(j.TotalMilli()) / kMilliPerAccelerator;
  }

  // Stops a running job and puts it back in the queue.
  void Stop(std::vector<std::uint32_t>& pending, std::size_t& running, std::uint32_t idx,
            Time now) {
    SchedJob& j = jobs[idx];
    assert(j.state == JobState::kRunning);
    const Duration elapsed = now - j.last_start;
    const Duration ckpt = j.spec.checkpoint_interval_s;
    j.progress_s = ckpt > 0 ? j.progress_s + (elapsed / ckpt) * ckpt : 0;
    j.attained_gpu_s +=
        static_cast<double>(elapsed) * static_cast<double>(j.TotalMilli()) / kMilliPerAccelerator;
    ReleaseAll(j);
    --running;
    ++j.preemptions;
    reasons[idx] = WaitReason{};
    hot[idx] = EntryOf(idx);  // remaining time and attained service changed
    AddPending(pending, idx);
  }

  // -------------------------------------------------------------------------
  // One attempt to start a job now.

  struct Attempt {
    bool started = false;
    WaitReason reason;
    std::vector<std::uint32_t> capacity_pools;  // passed every check but capacity
    std::vector<std::uint32_t>
        reclaim_pools;  // blocked by lenders' protection while within guarantee
  };

  Time now_hint = 0;  // the time of the cycle in progress

  // Reservations (EASY backfill) need, per pool and per-node shape k, the nodes
  // in the order in which k whole accelerators will be free on them by the
  // running jobs' estimates. ReadyIndex keeps that order incrementally: a node's
  // entry is refreshed whenever jobs start or stop on it or its health changes,
  // so a reservation costs O(log n + nodes reserved) instead of a scan of the
  // pool. An index is built on the first reservation for its (pool, k).
  static constexpr Time kReadyNow = std::numeric_limits<Time>::min();
  struct ReadyIndex {
    int per_node = 1;
    // (ready time, node): kReadyNow when k whole accelerators are free now,
    // else the expected end of the job whose end frees the k-th one. Nodes
    // that are down, at a site that is down, or never free k are absent.
    std::set<std::pair<Time, NodeId>> order;
    std::vector<Time> at;  // per node of the pool (index in pool): its key, or kNever if absent
  };
  std::vector<std::vector<ReadyIndex>> ready_index;  // per pool, one per shape asked for
  std::vector<std::pair<Time, int>> scratch_ends;    // ends of the jobs on one node
  std::vector<std::pair<Time, NodeId>> scratch_ready;
  std::vector<NodeId> scratch_nodes;

  // Debug builds: EarliestNodes agrees with a scan of every node of the pool.
  bool CheckEarliestNodes(std::uint32_t p, const PartShape& shape, Time now, Time start,
                          const std::vector<NodeId>& nodes) {
    const PoolIndex& index = grid.pool(p);
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
  void ReadyTimes(NodeId n, const std::vector<ReadyIndex>& indexes, std::vector<Time>* out) {
    out->assign(indexes.size(), kNever);
    const NodeInfo& info = grid.node(n);
    if (info.health != NodeHealth::kUp ||
        !grid.SiteUp(static_cast<std::size_t>(scenario.pools[info.pool].site_index))) {
      return;
    }
    const int free_whole = grid.FreeWhole(n);
    bool sorted = false;
    auto& ends = scratch_ends;
    for (std::size_t i = 0; i < indexes.size(); ++i) {
      const int k = indexes[i].per_node;
      if (free_whole >= k) {
        (*out)[i] = kReadyNow;
        continue;
      }
      if (!sorted) {
        ends.clear();
        for (const auto& o : node_jobs[n])
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
  std::vector<Time> scratch_times;
  // Re-keys node n in the ready indexes of its pool (after any change on it).
  void RefreshReady(NodeId n) {
    auto& indexes = ready_index[grid.node(n).pool];
    if (indexes.empty()) return;
    ReadyTimes(n, indexes, &scratch_times);
    const std::uint32_t slot = grid.node(n).index_in_pool;
    for (std::size_t i = 0; i < indexes.size(); ++i) {
      ReadyIndex& r = indexes[i];
      const Time t = scratch_times[i];
      if (r.at[slot] == t) continue;
      if (r.at[slot] != kNever) r.order.erase({r.at[slot], n});
      if (t != kNever) r.order.emplace(t, n);
      r.at[slot] = t;
    }
  }
  ReadyIndex& ReadyIndexFor(std::uint32_t p, int per_node) {
    auto& indexes = ready_index[p];
    for (auto& r : indexes) {
      if (r.per_node == per_node) return r;
    }
    const PoolIndex& pool = grid.pool(p);
    indexes.emplace_back();
    ReadyIndex& r = indexes.back();
    r.per_node = per_node;
    r.at.assign(pool.node_count, kNever);
    std::vector<ReadyIndex> one(1);
    one[0].per_node = per_node;
    for (NodeId n = pool.first_node; n < pool.first_node + pool.node_count; ++n) {
      ReadyTimes(n, one, &scratch_times);
      r.at[n - pool.first_node] = scratch_times[0];
      if (scratch_times[0] != kNever) r.order.emplace(scratch_times[0], n);
    }
    return r;
  }
  // The first `nodes` nodes of pool p to have `per_node` whole accelerators
  // free, ordered by (ready time, node) with ready times before `now` counted
  // as `now`; fills `out` and returns when the last of them is ready, or
  // kNever if fewer nodes ever will.
  Time EarliestNodes(std::uint32_t p, const PartShape& shape, Time now, std::vector<NodeId>* out) {
    ReadyIndex& r = ReadyIndexFor(p, shape.per_node);
    auto& ready = scratch_ready;
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
  // Preemption: accelerators freed by the victims so far, and whole free accelerators per node.
  std::unordered_map<AccelId, Milli> scratch_freed;
  std::unordered_map<NodeId, int> scratch_node_whole;

  // Scratch space reused by every attempt, so that failing fast allocates nothing.
  Attempt attempt;
  std::vector<std::pair<int, Milli>> scratch_charged;
  std::vector<std::pair<std::size_t, std::vector<NodeAssignment>>> scratch_placed;
  std::vector<bool> verdict_known;
  std::vector<QuotaLedger::Verdict> class_quota, class_grant;

  // Fills `attempt`; returns a reference to it (valid until the next call).
  const Attempt& TryStart(std::uint32_t idx, Time now, bool use_reserved) {
    SchedJob& j = jobs[idx];
    Attempt& at = attempt;
    at.started = false;
    at.capacity_pools.clear();
    at.reclaim_pools.clear();
    at.reason = sets[j.part_sets[0]].rejections;
    at.reason.code = WaitCode::kNoCapacity;
    bool quota_failed = false;
    bool grant_failed = false;
    auto& charged = scratch_charged;
    auto& placed = scratch_placed;
    charged.clear();
    placed.clear();
    auto rollback = [&] {
      for (auto& [p, parts] : placed) {
        for (auto& a : parts) grid.ReleaseOnNode(a.node, a.accelerators, a.milli_per_accelerator);
      }
      for (auto& [c, m] : charged) quota.Refund(j.tenant, c, m);
    };

    for (std::uint32_t set_id : j.part_sets) {
      const CandidateSet& set = sets[set_id];
      if (set.pools.empty()) {
        rollback();
        at.reason = set.rejections;
        at.reason.code = WaitCode::kNoCandidatePool;
        return at;
      }
      int best_pool = -1;
      double best_score = -1;
      PartShape best_shape;
      NodeId reserved_node = kNoNode;  // backfill candidate on a reserved node
      std::uint32_t reserved_pool = 0;
      PartShape reserved_shape;
      verdict_known.assign(static_cast<std::size_t>(quota.class_count()), false);
      class_quota.resize(verdict_known.size());
      class_grant.resize(verdict_known.size());
      for (std::uint16_t p : set.pools) {
        const model::Pool& pool = scenario.pools[p];
        if (!grid.SiteUp(static_cast<std::size_t>(pool.site_index))) {
          ++at.reason.rejected_by_health;
          continue;
        }
        if (!config.backfill && pool_blocked_by[p] != kNoJob) {
          at.reason.code = WaitCode::kBlockedBehind;
          at.reason.other_job = pool_blocked_by[p];
          continue;
        }
        const int cls = quota.ClassOfPool(p);
        const PartShape shape = ShapeFor(j.spec, pool);
        // Quota and grants depend on the class only: ask once per class and part.
        if (!verdict_known[cls]) {
          class_quota[cls] = quota.CanAdmit(j.tenant, cls, shape.total);
          class_grant[cls] = quota.GrantAllows(j.tenant, cls, now);
          verdict_known[cls] = true;
        }
        const QuotaLedger::Verdict& q = class_quota[cls];
        if (!q.ok) {
          ++at.reason.rejected_by_quota;
          if (!quota_failed) {
            at.reason.tenant = q.tenant;
            at.reason.quota_class = cls;
            at.reason.code = q.code;
          }
          quota_failed = true;
          if (q.code == WaitCode::kLenderProtected &&
              quota.WithinGuarantee(j.tenant, cls, shape.total)) {
            at.reclaim_pools.push_back(p);
          }
          continue;
        }
        const QuotaLedger::Verdict& g = class_grant[cls];
        if (!g.ok) {
          if (!grant_failed && !quota_failed) {
            at.reason.tenant = g.tenant;
            at.reason.quota_class = cls;
            at.reason.code = g.code;
          }
          grant_failed = true;
          continue;
        }
        const model::Site& site = scenario.sites[pool.site_index];
        if (site.power_budget_kw > 0) {
          const double watts = scenario.accelerators[pool.accelerator_index].power_w *
                               static_cast<double>(shape.total) / kMilliPerAccelerator;
          if (grid.SitePowerW(static_cast<std::size_t>(pool.site_index)) + watts >
              site.power_budget_kw * 1000.0) {
            ++at.reason.rejected_by_power;
            continue;
          }
        }
        if (!CanFitNow(p, shape)) {
          // Backfill: a single-node request that ends before the pool's
          // reservation starts may use a reserved node (best fit).
          if (use_reserved && pool_reservation[p] >= 0 && shape.nodes == 1 && best_pool < 0) {
            const Reservation& r = reservations[pool_reservation[p]];
            const Duration rem = j.Remaining();
            if (rem > 0 && now + rem <= r.start) {
              const NodeId n = BestReservedNode(r, shape);
              if (n != kNoNode && (reserved_node == kNoNode || p < reserved_pool)) {
                reserved_node = n;
                reserved_pool = p;
                reserved_shape = shape;
              }
            }
          }
          at.capacity_pools.push_back(p);
          continue;
        }
        const double score = ScoreOf(Summarise(p, shape, j.spec));
        if (score > best_score) {
          best_score = score;
          best_pool = p;
          best_shape = shape;
        }
      }
      std::vector<NodeAssignment> parts;
      if (best_pool < 0 && reserved_node != kNoNode) {
        TakeOnNode(reserved_node, reserved_shape, &parts);
        best_pool = static_cast<int>(reserved_pool);
        best_shape = reserved_shape;
      } else if (best_pool < 0 ||
                 !SelectNodes(static_cast<std::size_t>(best_pool), best_shape, &parts)) {
        rollback();
        if (at.reason.code == WaitCode::kNoCapacity && !at.capacity_pools.empty()) {
          at.reason.tenant = -1;
        }
        return at;
      }
      for (const auto& a : parts)
        grid.AllocateOnNode(a.node, a.accelerators, a.milli_per_accelerator);
      const int cls = quota.ClassOfPool(best_pool);
      quota.Charge(j.tenant, cls, best_shape.total);
      charged.emplace_back(cls, best_shape.total);
      placed.emplace_back(static_cast<std::size_t>(best_pool), std::move(parts));
    }
    // Every part placed: make it the job's allocation.
    for (auto& [p, parts] : placed) RegisterPart(j, p, std::move(parts));
    j.charges = charged;
    at.started = true;
    return at;
  }

  std::string StartReason(const SchedJob& j) const {
    std::string pools;
    for (const auto& [p, _] : j.pool_slots)
      pools += (pools.empty() ? "" : ", ") + scenario.pools[p].id;
    return "queue order " + config.queue_order + " picked it; placed on " +
           std::to_string(j.assignment.size()) + " node(s) in " + pools;
  }
};

// ---------------------------------------------------------------------------

Scheduler::Scheduler(const model::Scenario& scenario, SchedulerConfig config)
    : scenario_(scenario), config_(std::move(config)), grid_(scenario), quota_(scenario) {}

Scheduler::~Scheduler() = default;

Result<std::unique_ptr<Scheduler>> Scheduler::Create(const model::Scenario& scenario,
                                                     SchedulerConfig config) {
  std::unique_ptr<Scheduler> s(new Scheduler(scenario, std::move(config)));
  s->impl_ = std::make_unique<Impl>(s->scenario_, s->config_, s->grid_, s->quota_);
  Impl& impl = *s->impl_;
  auto order = MakeQueueOrder(s->config_.queue_order, scenario, s->config_.queue_options);
  if (!order.ok()) return order.status();
  impl.order = std::move(order).value();
  bool seen_pack = false;
  for (const auto& name : s->config_.scores) {
    auto score = MakeScore(name);
    if (!score.ok()) return score.status();
    if (name == "spread" && !seen_pack) impl.spread_nodes = true;
    if (name == "binpack") seen_pack = true;
    impl.scores.push_back(std::move(score).value());
  }
  if (s->config_.preemption_grace_s < 0) return InvalidArgument("preemption_grace_s must be >= 0");
  auto share_scorer = MakeNodeScorer("sovgrid");
  if (!share_scorer.ok()) return share_scorer.status();
  impl.share_scorer = std::move(share_scorer).value();
  impl.tenant_pool_holder.assign(scenario.tenants.size(), -1);
  for (std::size_t t = 0; t < scenario.tenants.size(); ++t) {
    for (int at = static_cast<int>(t); at >= 0; at = scenario.tenants[at].parent_index) {
      if (!scenario.tenants[at].pools.empty()) {
        impl.tenant_pool_holder[t] = at;
        break;
      }
    }
  }
  impl.pool_running.resize(scenario.pools.size());
  impl.ready_index.resize(scenario.pools.size());
  impl.sets_of_pool.resize(scenario.pools.size());
  impl.pool_released.assign(scenario.pools.size(), 0);
  impl.class_released.assign(static_cast<std::size_t>(s->quota_.class_count()), 0);
  impl.parked_by_class.resize(static_cast<std::size_t>(s->quota_.class_count()));
  impl.pool_priorities.resize(scenario.pools.size());
  impl.pool_version.assign(scenario.pools.size(), 0);
  impl.node_jobs.resize(s->grid_.node_count());
  impl.pool_reservation.assign(scenario.pools.size(), -1);
  impl.pool_blocked_by.assign(scenario.pools.size(), kNoJob);
  impl.best_throughput.assign(model::kWorkloadClassCount, 0.0);
  for (const auto& a : scenario.accelerators) {
    for (int c = 0; c < model::kWorkloadClassCount; ++c) {
      impl.best_throughput[c] = std::max(impl.best_throughput[c], a.relative_throughput[c]);
    }
  }
  return s;
}

Status ValidateJob(const model::Scenario& scenario, const model::Job& job) {
  if (job.id.empty()) return InvalidArgument("job.id: expected a non-empty id");
  const int tenant = scenario.FindTenant(job.tenant);
  if (tenant < 0) return NotFound("job.tenant: unknown tenant '" + job.tenant + "'");
  if (job.accelerators < 1) return InvalidArgument("job.accelerators: expected at least 1");
  if (job.accelerator_milli < 1 || job.accelerator_milli > kMilliPerAccelerator) {
    return InvalidArgument("job.accelerator_milli: expected 1..1000");
  }
  if (job.fractional() && job.accelerators != 1) {
    return InvalidArgument(
        "job.accelerators: a fraction of an accelerator must be asked for one accelerator");
  }
  if (job.accelerators_per_node < 0 ||
      (job.accelerators_per_node > 0 && job.accelerators % job.accelerators_per_node != 0)) {
    return InvalidArgument("job.accelerators_per_node: expected a divisor of accelerators");
  }
  for (const auto& m : job.accepted_models) {
    if (scenario.FindAccelerator(m) < 0)
      return NotFound("job.accepted_models: unknown model '" + m + "'");
  }
  for (const auto& d : job.datasets) {
    const int ds = scenario.FindDataset(d);
    if (ds < 0) return NotFound("job.datasets: unknown dataset '" + d + "'");
    const auto& allowed = scenario.datasets[ds].tenants;
    const bool ok =
        allowed.empty() || std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
          return scenario.InSubtree(tenant, scenario.FindTenant(a));
        });
    if (!ok) {
      return FailedPrecondition("job.datasets: tenant '" + job.tenant + "' may not use dataset '" +
                                d + "'");
    }
  }
  if (!scenario.PriorityValue(job.priority_class))
    return NotFound("job.priority_class: unknown priority class '" + job.priority_class + "'");
  if (job.replicas < 1 || (job.replicas > 1 && job.kind != model::JobKind::kService)) {
    return InvalidArgument("job.replicas: expected 1, or more for a service");
  }
  if (job.checkpoint_interval_s < 0 || job.runtime_estimate_s < 0) {
    return InvalidArgument("job: checkpoint_interval_s and runtime_estimate_s must be >= 0");
  }
  return Status::Ok();
}

Status Scheduler::Submit(model::Job job) {
  Impl& impl = *impl_;
  if (job.id.empty()) return InvalidArgument("job.id: expected a non-empty id");
  if (impl.by_id.count(job.id) != 0) return AlreadyExists("job '" + job.id + "' already exists");
  if (Status s = ValidateJob(scenario_, job); !s.ok()) return s;
  const int tenant = scenario_.FindTenant(job.tenant);
  const auto priority = scenario_.PriorityValue(job.priority_class);

  std::vector<std::uint32_t> part_sets;
  const std::vector<std::string> regions = Impl::ReplicaRegions(job);
  const int parts = job.kind == model::JobKind::kService ? job.replicas : 1;
  for (int i = 0; i < parts; ++i) {
    const std::string region =
        regions.empty() ? "" : regions[static_cast<std::size_t>(i) % regions.size()];
    auto set = impl.CandidateSetFor(job, tenant, region);
    if (!set.ok()) return set.status();
    part_sets.push_back(*set);
  }

  std::uint32_t idx;
  if (!impl.free_slots.empty()) {
    idx = impl.free_slots.back();
    impl.free_slots.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(impl.jobs.size());
    impl.jobs.emplace_back();
    impl.reasons.emplace_back();
    impl.hot.emplace_back();
    impl.parking.emplace_back();
  }
  SchedJob& j = impl.jobs[idx];
  j = SchedJob{};
  j.live = true;
  j.tenant = tenant;
  j.priority = *priority;
  j.seq = impl.next_seq++;
  j.part_sets = std::move(part_sets);
  j.spec = std::move(job);
  impl.reasons[idx] = WaitReason{};
  impl.hot[idx] = impl.EntryOf(idx);
  impl.by_id.emplace(j.spec.id, idx);
  impl.AddPending(pending_, idx);
  // What one node of this job holds, for the typical workload of share placement.
  const int per_node = j.spec.fractional() ? 1
                       : j.spec.accelerators_per_node > 0
                           ? j.spec.accelerators_per_node
                           : std::min(j.spec.accelerators, kMaxAcceleratorsPerNode / 2);
  ++impl.part_shape_counts[{per_node, j.spec.accelerator_milli}];
  impl.part_shapes_changed = true;
  return Status::Ok();
}

namespace {
Status UnknownJob(std::string_view id) { return NotFound("unknown job '" + std::string(id) + "'"); }
}  // namespace

Status Scheduler::Cancel(std::string_view id, model::Time now) {
  Impl& impl = *impl_;
  auto it = impl.by_id.find(std::string(id));
  if (it == impl.by_id.end()) return UnknownJob(id);
  const std::uint32_t idx = it->second;
  SchedJob& j = impl.jobs[idx];
  impl.AdvanceTo(now);
  if (j.state == JobState::kRunning) {
    impl.ReleaseAll(j);
    --running_count_;
  } else {
    impl.RemovePending(pending_, idx);
  }
  j.live = false;
  j.spec = model::Job{};
  j.part_sets.clear();
  impl.by_id.erase(it);
  impl.free_slots.push_back(idx);
  return Status::Ok();
}

Status Scheduler::Finish(std::string_view id, model::Time now) {
  auto it = impl_->by_id.find(std::string(id));
  if (it == impl_->by_id.end()) return UnknownJob(id);
  if (impl_->jobs[it->second].state != JobState::kRunning) {
    return FailedPrecondition("job '" + std::string(id) + "' is not running");
  }
  return Cancel(id, now);
}

Status Scheduler::Fail(std::string_view id, model::Time now) { return Finish(id, now); }

Status Scheduler::Adopt(model::Job job, const std::vector<NodeAssignment>& assignment,
                        model::Time started_at, model::Time now) {
  const std::string id = job.id;
  if (assignment.empty()) return FailedPrecondition("job '" + id + "': empty assignment");
  if (Status s = Submit(std::move(job)); !s.ok()) return s;
  Impl& impl = *impl_;
  const std::uint32_t idx = impl.by_id.at(id);
  SchedJob& j = impl.jobs[idx];
  auto refuse = [&](const std::string& why) {
    (void)Cancel(id, now);
    return FailedPrecondition("job '" + id + "' cannot keep its allocation: " + why);
  };
  // Check everything before changing anything: the parts, grouped by pool.
  std::map<std::size_t, std::vector<NodeAssignment>> by_pool;
  std::map<AccelId, Milli> asked;  // per accelerator, over all parts
  for (const auto& a : assignment) {
    if (a.node >= grid_.node_count()) return refuse("unknown node");
    const NodeInfo& n = grid_.node(a.node);
    const std::size_t site =
        static_cast<std::size_t>(scenario_.FindSite(scenario_.pools[n.pool].site));
    if (n.health == NodeHealth::kDown) return refuse("node " + grid_.NodeName(a.node) + " is down");
    if (!grid_.SiteUp(site)) return refuse("site " + scenario_.sites[site].id + " is down");
    if (a.accelerators.empty() || a.milli_per_accelerator < 1 ||
        a.milli_per_accelerator > kMilliPerAccelerator)
      return refuse("bad accelerator list on " + grid_.NodeName(a.node));
    for (AccelId x : a.accelerators) {
      if (x < n.first_accel || x >= n.first_accel + n.accel_count)
        return refuse("accelerator outside node " + grid_.NodeName(a.node));
      asked[x] += a.milli_per_accelerator;
    }
    by_pool[n.pool].push_back(a);
  }
  for (const auto& [x, milli] : asked) {
    if (grid_.FreeMilli(x) < milli)
      return refuse("accelerators on " + grid_.NodeName(grid_.NodeOf(x)) + " are taken");
  }
  for (const auto& entry : by_pool) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const auto p = entry.first;
    const bool allowed = std::any_of(j.part_sets.begin(), j.part_sets.end(), [&](std::uint32_t s) {
      const auto& pools = impl.sets[s].pools;
      return std::find(pools.begin(), pools.end(), p) != pools.end();
    });
    if (!allowed) return refuse("pool " + scenario_.pools[p].id + " is not a candidate for it");
  }
  // Apply, as a start at `started_at` would have.
  impl.AdvanceTo(now);
  impl.now_hint = started_at;
  for (auto& [p, parts] : by_pool) {
    Milli total = 0;
    for (const auto& a : parts) {
      grid_.AllocateOnNode(a.node, a.accelerators, a.milli_per_accelerator);
      total += a.milli_per_accelerator * static_cast<Milli>(a.accelerators.size());
    }
    const int cls = quota_.ClassOfPool(static_cast<int>(p));
    quota_.Charge(j.tenant, cls, total);
    j.charges.emplace_back(cls, total);
    impl.RegisterPart(j, p, std::move(parts));
  }
  impl.RemovePending(pending_, idx);
  j.state = JobState::kRunning;
  j.last_start = started_at;
  if (j.spec.preemptible) {
    for (const auto& [p, _] : j.pool_slots) impl.pool_priorities[p][j.priority].insert(started_at);
  }
  ++running_count_;
  impl.failed.clear();  // the grid changed under cached failures
  // Queue orders read tenants' shares afresh at the start of every cycle.
  return Status::Ok();
}

Status Scheduler::SetNodeHealth(std::string_view node, NodeHealth health, model::Time now) {
  auto n = grid_.FindNode(node);
  if (!n.ok()) return n.status();
  impl_->AdvanceTo(now);
  impl_->wake_all = true;
  grid_.SetNodeHealth(*n, health);
  if (health == NodeHealth::kDown) {
    std::vector<std::uint32_t> victims;
    for (const auto& o : impl_->node_jobs[*n]) victims.push_back(o.job);
    std::sort(victims.begin(), victims.end(),
              [&](auto a, auto b) { return impl_->jobs[a].seq < impl_->jobs[b].seq; });
    for (std::uint32_t v : victims) {
      impl_->Stop(pending_, running_count_, v, now);
      impl_->reasons[v].code = WaitCode::kRequeued;
      impl_->carried.push_back({Decision::Kind::kRequeue,
                                impl_->jobs[v].spec.id,
                                {},
                                {},
                                0,
                                "node " + std::string(node) + " went down; requeued"});
    }
  }
  impl_->RefreshReady(*n);
  return Status::Ok();
}

Status Scheduler::SetSiteState(std::string_view site, model::SiteState state, model::Time now) {
  const int s = scenario_.FindSite(site);
  if (s < 0) return NotFound("unknown site '" + std::string(site) + "'");
  impl_->AdvanceTo(now);
  impl_->wake_all = true;
  grid_.SetSiteState(static_cast<std::size_t>(s), state);
  if (state == model::SiteState::kDown) {
    std::vector<std::uint32_t> victims;
    for (std::size_t p = 0; p < scenario_.pools.size(); ++p) {
      if (scenario_.pools[p].site_index != s) continue;
      for (const auto& ref : impl_->pool_running[p]) victims.push_back(ref.job);
    }
    std::sort(victims.begin(), victims.end(),
              [&](auto a, auto b) { return impl_->jobs[a].seq < impl_->jobs[b].seq; });
    victims.erase(std::unique(victims.begin(), victims.end()), victims.end());
    for (std::uint32_t v : victims) {
      impl_->Stop(pending_, running_count_, v, now);
      impl_->reasons[v].code = WaitCode::kRequeued;
      impl_->carried.push_back({Decision::Kind::kRequeue,
                                impl_->jobs[v].spec.id,
                                {},
                                {},
                                0,
                                "site " + std::string(site) + " went down; requeued"});
    }
  }
  for (std::size_t p = 0; p < scenario_.pools.size(); ++p) {
    if (scenario_.pools[p].site_index != s || impl_->ready_index[p].empty()) continue;
    const PoolIndex& pool = grid_.pool(p);
    for (NodeId n = pool.first_node; n < pool.first_node + pool.node_count; ++n)
      impl_->RefreshReady(n);
  }
  return Status::Ok();
}

Status Scheduler::SetQuota(std::string_view tenant, const model::ClassAmounts& guarantee,
                           const model::ClassAmounts& borrow_limit,
                           const model::ClassAmounts& lend_limit) {
  const int t = scenario_.FindTenant(tenant);
  if (t < 0) return NotFound("unknown tenant '" + std::string(tenant) + "'");
  impl_->wake_all = true;
  return quota_.SetLimits(t, guarantee, borrow_limit, lend_limit);
}

Status Scheduler::SetGrants(std::string_view tenant, std::vector<model::Grant> grants) {
  const int t = scenario_.FindTenant(tenant);
  if (t < 0) return NotFound("unknown tenant '" + std::string(tenant) + "'");
  impl_->wake_all = true;
  return quota_.SetGrants(t, std::move(grants));
}

CycleResult Scheduler::RunCycle(model::Time now) {
  Impl& impl = *impl_;
  CycleResult result;
  impl.AdvanceTo(now);
  impl.now_hint = now;
  result.decisions = std::move(impl.carried);
  impl.carried.clear();
  result.stats.pending_before = pending_.size();
  if (impl.part_shapes_changed) impl.RefreshShareMix();
  impl.failed.clear();
  impl.preempt_failed.clear();
  impl.reservations.clear();
  std::fill(impl.pool_reservation.begin(), impl.pool_reservation.end(), -1);
  std::fill(impl.pool_blocked_by.begin(), impl.pool_blocked_by.end(), kNoJob);

  // Wake parked jobs whose capacity or quota class saw a release, or all of
  // them when nodes, sites or quotas changed or the retry interval is up.
  if (impl.wake_all || config_.retry_interval_s <= 0 ||
      impl.last_full_wake == std::numeric_limits<Time>::min() ||
      now - impl.last_full_wake >= config_.retry_interval_s) {
    for (auto& list : impl.parked_by_set) impl.WakeList(list);
    for (auto& list : impl.parked_by_class) impl.WakeList(list);
    impl.WakeList(impl.parked_until_retry);
    impl.last_full_wake = now;
    impl.wake_all = false;
  } else {
    for (std::size_t p = 0; p < impl.pool_released.size(); ++p) {
      if (!impl.pool_released[p]) continue;
      for (std::uint32_t set : impl.sets_of_pool[p]) impl.WakeList(impl.parked_by_set[set]);
    }
    for (std::size_t c = 0; c < impl.class_released.size(); ++c) {
      if (impl.class_released[c]) impl.WakeList(impl.parked_by_class[c]);
    }
  }
  std::fill(impl.pool_released.begin(), impl.pool_released.end(), 0);
  std::fill(impl.class_released.begin(), impl.class_released.end(), 0);

  std::vector<QueueEntry> entries;
  entries.reserve(impl.active.size());
  for (std::uint32_t idx : impl.active) {
    assert(impl.hot[idx].job == idx && impl.hot[idx].remaining_s == impl.jobs[idx].Remaining());
    entries.push_back(impl.hot[idx]);
  }
  impl.order->Begin(std::move(entries), impl);

  int reservation_attempts = 0;
  int preemption_attempts = 0;
  QueueEntry e;
  while (impl.order->Next(&e)) {
    ++result.stats.considered;
    const std::uint32_t idx = e.job;
    const bool any_reservation = !impl.reservations.empty();
    // Which reservations this job could backfill into: all that matters of its runtime.
    Duration fits_before = 0;
    for (std::size_t r = 0; r < impl.reservations.size(); ++r) {
      if (e.remaining_s > 0 && now + e.remaining_s <= impl.reservations[r].start)
        fits_before |= Duration{1} << r;
    }
    // The key is read from the entry so that a cache hit never touches the job.
    const EquivalenceKey key{e.tenant,   e.part_set, e.accelerators, e.milli,
                             e.per_node, e.priority, fits_before};
    const bool cacheable = e.part_set != UINT32_MAX;
    if (cacheable) {
      if (auto it = impl.failed.find(key); it != impl.failed.end()) {
        impl.reasons[idx] = it->second;
        ++result.stats.equivalence_hits;
        impl.ParkFor(idx, it->second);
        continue;
      }
    }
    SchedJob& j = impl.jobs[idx];
    const Impl::Attempt* at_ptr = &impl.TryStart(idx, now, any_reservation);
    const Impl::Attempt& at = *at_ptr;

    if (!at.started && config_.preemption && j.part_sets.size() == 1 &&
        preemption_attempts < config_.max_preemption_attempts &&
        (!at.capacity_pools.empty() || !at.reclaim_pools.empty())) {
      // Preemption: the cheapest set of victims (least work lost since their
      // last checkpoint) in one pool that makes this job runnable now.
      struct Plan {
        double cost = std::numeric_limits<double>::infinity();
        std::vector<std::uint32_t> victims;
      } best;
      ++preemption_attempts;
      std::vector<std::uint32_t> pools = at.capacity_pools;
      pools.insert(pools.end(), at.reclaim_pools.begin(), at.reclaim_pools.end());
      std::sort(pools.begin(), pools.end());
      pools.erase(std::unique(pools.begin(), pools.end()), pools.end());
      for (std::uint32_t p : pools) {
        const model::Pool& pool = scenario_.pools[p];
        const int cls = quota_.ClassOfPool(static_cast<int>(p));
        const PartShape shape = impl.ShapeFor(j.spec, pool);
        const bool within_guarantee = quota_.WithinGuarantee(j.tenant, cls, shape.total);
        // Cheap exits before looking at victims one by one: nothing of lower
        // priority runs here and no reclaim applies, or an identical request
        // already failed since the pool last changed.
        bool lower_eligible = false;
        bool any_eligible = false;
        for (const auto& [prio, starts] : impl.pool_priorities[p]) {
          if (*starts.begin() > now - config_.preemption_grace_s) continue;
          any_eligible = true;
          lower_eligible = lower_eligible || prio < j.priority;
        }
        const bool by_order = impl.order->preemptive();
        if (!lower_eligible && !((within_guarantee || by_order) && any_eligible)) continue;
        const Impl::PreemptKey pkey{
            p,
            shape.total,
            shape.nodes,
            j.priority,
            within_guarantee,
            by_order ? static_cast<double>(e.remaining_s) + e.attained_gpu_s * 1e-9 : 0.0};
        if (auto it = impl.preempt_failed.find(pkey);
            it != impl.preempt_failed.end() && it->second == impl.pool_version[p]) {
          continue;
        }
        std::vector<std::pair<double, std::uint32_t>> candidates;
        std::size_t scanned = 0;
        for (const Impl::RunningRef& ref : impl.pool_running[p]) {
          // Bounded work per pool: the cheapest victims among the first eligible ones.
          if (candidates.size() >= static_cast<std::size_t>(config_.max_victim_candidates) ||
              ++scanned > 8 * static_cast<std::size_t>(config_.max_victim_candidates)) {
            break;
          }
          if (!ref.preemptible || now - ref.last_start < config_.preemption_grace_s) continue;
          // A job with a part in this pool is charged in its class `cls`.
          const bool reclaimable = within_guarantee && !scenario_.InSubtree(ref.tenant, j.tenant) &&
                                   !scenario_.InSubtree(j.tenant, ref.tenant) &&
                                   quota_.Borrowing(ref.tenant, cls);
          // Preemptive queue orders (srtf, las) displace jobs of equal or lower
          // priority that their order ranks behind the waiting job.
          const bool displaced = ref.priority <= j.priority && impl.order->preemptive() &&
                                 impl.order->Preempts(e, impl.RunningEntry(ref.job, now));
          if (ref.priority >= j.priority && !reclaimable && !displaced) continue;
          candidates.emplace_back(impl.LostWork(impl.jobs[ref.job], now), ref.job);
        }
        std::sort(candidates.begin(), candidates.end(), [&](const auto& a, const auto& b) {
          if (a.first != b.first) return a.first < b.first;
          return impl.jobs[a.second].seq > impl.jobs[b.second].seq;
        });
        // Simulate freeing victims one by one until the job fits in this pool
        // and its quota admits it. What fits is tracked incrementally: the
        // accelerators freed so far, and per touched node its whole free
        // accelerators after the frees, so each victim costs O(its accelerators).
        auto& freed = impl.scratch_freed;
        auto& node_whole = impl.scratch_node_whole;
        freed.clear();
        node_whole.clear();
        std::vector<std::uint32_t> chosen;
        double cost = 0;
        const PoolIndex& index = grid_.pool(p);
        // Nodes (available, not reserved) with room: those already indexed so,
        // plus touched nodes that reach the per-node shape only through the frees.
        bool fits_now = shape.fractional() && impl.CanFitNow(p, shape);
        std::size_t fit_count =
            shape.fractional() ? 0 : index.nodes_by_free.CountAtLeast(shape.per_node);
        auto free_victim = [&](const SchedJob& vj) {
          for (const auto& a : vj.assignment) {
            if (grid_.node(a.node).pool != p) continue;
            const bool available = grid_.Available(a.node);
            for (AccelId x : a.accelerators) {
              Milli& f = freed[x];
              const Milli was = grid_.FreeMilli(x) + f;
              f += a.milli_per_accelerator;
              const Milli after = grid_.FreeMilli(x) + f;
              if (!available) continue;
              if (shape.fractional()) {
                fits_now = fits_now || after >= shape.milli;
                continue;
              }
              if (was == kMilliPerAccelerator || after != kMilliPerAccelerator) continue;
              auto [it, fresh] = node_whole.try_emplace(a.node, 0);
              if (fresh) it->second = grid_.FreeWhole(a.node);
              ++it->second;
              // Counted once: when the node first reaches the shape through frees.
              if (it->second == shape.per_node) ++fit_count;
            }
          }
        };
        auto fits = [&]() {
          return shape.fractional() ? fits_now : fit_count >= static_cast<std::size_t>(shape.nodes);
        };
        auto quota_ok = [&]() {
          for (std::uint32_t v : chosen) {
            for (const auto& [vc, m] : impl.jobs[v].charges)
              quota_.Refund(impl.jobs[v].tenant, vc, m);
          }
          const bool ok = quota_.CanAdmit(j.tenant, cls, shape.total).ok;
          for (std::uint32_t v : chosen) {
            for (const auto& [vc, m] : impl.jobs[v].charges)
              quota_.Charge(impl.jobs[v].tenant, vc, m);
          }
          return ok;
        };
        bool found = false;
        for (const auto& [loss, v] : candidates) {
          if (cost + loss >= best.cost) break;
          chosen.push_back(v);
          cost += loss;
          free_victim(impl.jobs[v]);
          if (fits() && quota_ok()) {
            found = true;
            break;
          }
        }
        if (found && cost < best.cost) {
          best.cost = cost;
          best.victims = chosen;
        }
        if (!found && candidates.size() <= chosen.size())
          impl.preempt_failed[pkey] = impl.pool_version[p];
      }
      if (!best.victims.empty()) {
        const std::string by = j.spec.id;
        for (std::uint32_t v : best.victims) {
          SchedJob& vj = impl.jobs[v];
          const std::string why =
              vj.priority < j.priority
                  ? "preempted by " + by + " (priority " + std::to_string(j.priority) + " over " +
                        std::to_string(vj.priority) + ")"
              : impl.order->preemptive() && impl.order->Preempts(e, impl.RunningEntry(v, now))
                  ? "preempted by " + by + ": queue order " + config_.queue_order +
                        " ranks it first"
                  : "preempted so that " + scenario_.TenantPath(j.tenant) +
                        " gets back its guarantee (job " + by + ")";
          impl.Stop(pending_, running_count_, v, now);
          impl.reasons[v].code = WaitCode::kPreempted;
          impl.reasons[v].other_job = idx;
          result.decisions.push_back({Decision::Kind::kPreempt, vj.spec.id, {}, {}, 0, why});
          ++result.stats.preempted;
        }
        impl.failed.clear();  // freed capacity invalidates cached failures
        impl.TryStart(idx, now, !impl.reservations.empty());
        assert(at.started && "preemption freed capacity the job could not use");
      }
    }

    if (at.started) {
      impl.RemovePending(pending_, idx);
      j.state = JobState::kRunning;
      j.last_start = now;
      if (j.spec.preemptible) {
        for (const auto& [p, _] : j.pool_slots) impl.pool_priorities[p][j.priority].insert(now);
      }
      ++running_count_;
      ++result.stats.started;
      result.decisions.push_back(
          {Decision::Kind::kStart, j.spec.id, j.assignment, {}, 0, impl.StartReason(j)});
      impl.order->Started(e);
      continue;
    }

    // Blocked. With backfill the first blocked job per pool gets a reservation
    // (EASY): nodes that free up earliest by running jobs' estimates are held,
    // and later jobs use them only if they end before the reservation starts.
    impl.reasons[idx] = at.reason;
    const bool capacity_blocked =
        !at.capacity_pools.empty() && j.part_sets.size() == 1 && !j.spec.fractional();
    // Each attempt scans the candidate pools' nodes: at most as many attempts
    // as reservations allowed per cycle.
    if (capacity_blocked && config_.backfill &&
        static_cast<int>(impl.reservations.size()) < config_.max_reservations &&
        reservation_attempts++ < config_.max_reservations) {
      Reservation bestr;
      for (std::uint32_t p : at.capacity_pools) {
        if (impl.pool_reservation[p] >= 0) continue;
        const model::Pool& pool = scenario_.pools[p];
        const PartShape shape = impl.ShapeFor(j.spec, pool);
        // The nodes that have room for the per-node shape earliest, from the
        // pool's ready index (current as of this attempt).
        auto& nodes = impl.scratch_nodes;
        const Time start = impl.EarliestNodes(p, shape, now, &nodes);
        assert(impl.CheckEarliestNodes(p, shape, now, start, nodes));
        if (start == kNever) continue;
        if (start < bestr.start) {
          bestr.start = start;
          bestr.pool = p;
          bestr.job = idx;
          bestr.nodes = nodes;
        }
      }
      if (bestr.start != kNever) {
        for (NodeId n : bestr.nodes) grid_.Hide(n);
        impl.pool_reservation[bestr.pool] = static_cast<std::int32_t>(impl.reservations.size());
        result.decisions.push_back(
            {Decision::Kind::kReserve,
             j.spec.id,
             {},
             bestr.nodes,
             bestr.start,
             "head of the queue for " + scenario_.pools[bestr.pool].id +
                 "; later jobs may use these nodes only if they end before it starts"});
        impl.reservations.push_back(std::move(bestr));
        ++result.stats.reserved;
        impl.failed.clear();
        continue;
      }
    }
    if (capacity_blocked && !config_.backfill) {
      for (std::uint32_t p : at.capacity_pools) {
        if (impl.pool_blocked_by[p] == kNoJob) impl.pool_blocked_by[p] = idx;
      }
      impl.failed.clear();
    }
    if (cacheable) impl.failed.emplace(key, at.reason);
    // Blockers of a strict queue stay active: they hold later jobs back.
    if (!(capacity_blocked && !config_.backfill)) impl.ParkFor(idx, at.reason);
  }

  for (const Reservation& r : impl.reservations) {
    for (NodeId n : r.nodes) grid_.Unhide(n);
  }
  return result;
}

Result<JobView> Scheduler::Job(std::string_view id) const {
  auto it = impl_->by_id.find(std::string(id));
  if (it == impl_->by_id.end()) return UnknownJob(id);
  const SchedJob& j = impl_->jobs[it->second];
  JobView v;
  v.spec = &j.spec;
  v.state = j.state;
  v.tenant = j.tenant;
  v.priority = j.priority;
  v.last_start = j.last_start;
  v.progress_s = j.progress_s;
  v.attained_gpu_s = j.attained_gpu_s;
  v.preemptions = j.preemptions;
  v.assignment = j.state == JobState::kRunning ? &j.assignment : nullptr;
  v.reason = impl_->reasons[it->second];
  return v;
}

namespace {
std::string Plural(int n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}
}  // namespace

Result<std::string> Scheduler::Explain(std::string_view id) const {
  auto it = impl_->by_id.find(std::string(id));
  if (it == impl_->by_id.end()) return UnknownJob(id);
  const SchedJob& j = impl_->jobs[it->second];
  if (j.state == JobState::kRunning) return std::string();
  const model::Job& spec = j.spec;
  const WaitReason& r = impl_->reasons[it->second];

  // What the job needs, in the grid's words.
  std::string need = "needs ";
  if (spec.fractional()) {
    need += std::to_string(spec.accelerator_milli / 10) + "% of one ";
  } else {
    need += std::to_string(spec.accelerators) + " ";
  }
  if (spec.accepted_models.empty()) {
    need += spec.fractional() || spec.accelerators == 1 ? "accelerator" : "accelerators";
  } else {
    std::string models;
    for (const auto& m : spec.accepted_models) models += (models.empty() ? "" : " or ") + m;
    need += models;
  }
  if (spec.kind == model::JobKind::kService && j.part_sets.size() > 1) {
    need += " per replica, " + std::to_string(j.part_sets.size()) + " replicas";
  }
  if (spec.accelerators_per_node > 0) {
    need += " (" + std::to_string(spec.accelerators / spec.accelerators_per_node) + " nodes x " +
            std::to_string(spec.accelerators_per_node) + ")";
  }
  if (!spec.fractional() && spec.accelerators > 8 && spec.gang)
    need += " as one gang, in one interconnect domain if it fits";
  int min_tier = 1;
  std::string juris;
  for (const auto& d : spec.datasets) {
    const auto& ds = scenario_.datasets[scenario_.FindDataset(d)];
    min_tier = std::max(min_tier, ds.min_tier);
    for (const auto& x : ds.jurisdictions) juris = x;
  }
  if (min_tier > 1) need += " at a tier-" + std::to_string(min_tier) + " site";
  if (!juris.empty()) need += " in " + juris;
  if (!spec.datasets.empty()) {
    std::string ds;
    for (const auto& d : spec.datasets) ds += (ds.empty() ? "" : ", ") + d;
    need += " (residency of " + ds + ")";
  }

  auto job_name = [&](std::uint32_t other) {
    return other < impl_->jobs.size() && impl_->jobs[other].live
               ? impl_->jobs[other].spec.id
               : std::string("(a job that has left)");
  };
  auto tenant_path = [&](int t) { return t >= 0 ? scenario_.TenantPath(t) : std::string("?"); };
  auto cls = [&](int c) { return c >= 0 ? quota_.class_name(c) : std::string("?"); };
  auto accel = [](model::Milli m) { return std::to_string(m / kMilliPerAccelerator); };
  std::string why;
  switch (r.code) {
    case WaitCode::kNotTried:
      return need + "; submitted, not yet considered by a scheduling cycle";
    case WaitCode::kNoCandidatePool: {
      std::string parts;
      auto add = [&](int n, const std::string& what) {
        if (n > 0) parts += (parts.empty() ? "" : ", ") + Plural(n, "pool") + " " + what;
      };
      add(r.rejected_by_model, "lack the accepted model or shape");
      add(r.rejected_by_residency, "are at sites its datasets may not go to");
      add(r.rejected_by_tenant_pools, "are outside its tenant's dedicated pools");
      add(r.rejected_by_latency, "miss its latency objective");
      return need + "; no pool of the grid can ever run it: " + parts;
    }
    case WaitCode::kBorrowLimit:
      why = "tenant " + tenant_path(r.tenant) + " is at its borrowing limit for " +
            cls(r.quota_class) + " (uses " + accel(quota_.Usage(r.tenant, r.quota_class)) +
            " of at most " + accel(quota_.Maximum(r.tenant, r.quota_class)) + ")";
      break;
    case WaitCode::kLenderProtected:
      why = "the free " + cls(r.quota_class) + " capacity is guaranteed to tenants other than " +
            tenant_path(r.tenant) + " and they lend no more of it";
      break;
    case WaitCode::kGrantSpent:
      why = "every grant of " + tenant_path(r.tenant) + " valid now for " + cls(r.quota_class) +
            " is spent";
      break;
    case WaitCode::kGrantInactive:
      why = "no grant of " + tenant_path(r.tenant) + " for " + cls(r.quota_class) + " is valid now";
      break;
    case WaitCode::kPreempted:
      why =
          "preempted to make room for job " + job_name(r.other_job) + "; waits for the next cycle";
      break;
    case WaitCode::kRequeued:
      why = "its node or site failed; requeued, waits for the next cycle";
      break;
    case WaitCode::kBlockedBehind:
      why = "waits behind job " + job_name(r.other_job) + " (strict queue order, backfill off)";
      break;
    case WaitCode::kReservedFor:
    case WaitCode::kNoCapacity: {
      why = "no pool that may run it has room now";
      std::string extra;
      auto add = [&](int n, const std::string& what) {
        if (n > 0) extra += (extra.empty() ? "" : ", ") + Plural(n, "pool") + " " + what;
      };
      add(r.rejected_by_health, "at sites that are down or draining");
      add(r.rejected_by_power, "at sites at their power budget");
      add(r.rejected_by_quota, "outside its quota");
      add(r.rejected_by_residency, "excluded by data residency");
      if (!extra.empty()) why += " (" + extra + ")";
      break;
    }
  }
  return need + "; " + why;
}

std::vector<std::string> Scheduler::JobsOnNode(NodeId n) const {
  std::vector<std::string> out;
  for (const auto& o : impl_->node_jobs[n]) out.push_back(impl_->jobs[o.job].spec.id);
  return out;
}

std::size_t Scheduler::ApproxBytesPerPendingJob() const {
  std::size_t bytes = 0;
  std::size_t n = 0;
  for (std::uint32_t idx : pending_) {
    const SchedJob& j = impl_->jobs[idx];
    bytes += sizeof(SchedJob) + j.spec.id.capacity() + j.spec.tenant.capacity() +
             j.spec.command.capacity() + j.spec.priority_class.capacity() +
             j.part_sets.capacity() * sizeof(std::uint32_t) +
             sizeof(std::uint32_t) /* pending list */ + 64 /* id map node */;
    for (const auto& d : j.spec.datasets) bytes += sizeof(std::string) + d.capacity();
    for (const auto& m : j.spec.accepted_models) bytes += sizeof(std::string) + m.capacity();
    ++n;
  }
  return n == 0 ? 0 : bytes / n;
}

}  // namespace sovgrid::sched
