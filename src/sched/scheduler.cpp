// The Scheduler: its public calls, and a cycle as its phases in order. Each
// phase lives in a file of its own and shares the CycleContext:
//
//   phase                          file
//   jobs, queues, parking, waking  job_table.{h,cpp}
//   admission (static, dynamic)    admission.{h,cpp}
//   placement and scoring          placement.{h,cpp}
//   preemption planner             preemption.{h,cpp}
//   EASY reservations, backfill    backfill.{h,cpp}
//   pending reasons                explain.{h,cpp}
//
// Impl ties them: it owns one of each, runs an attempt (TryStart) and applies
// what the phases decide (starts, stops) to all of them at once.
#include "sched/scheduler.h"

#include <algorithm>
#include <cassert>
#include <climits>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "model/job_schema.h"
#include "sched/admission.h"
#include "sched/backfill.h"
#include "sched/cycle_context.h"
#include "sched/explain.h"
#include "sched/job_table.h"
#include "sched/placement.h"
#include "sched/preemption.h"

namespace sovgrid::sched {

using model::Duration;
using model::kMilliPerAccelerator;
using model::Milli;
using model::Time;

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

namespace {

// Jobs identical to one that failed in this cycle (same tenant, candidate set,
// shape, priority and the reservations they could backfill into) fail alike.
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
// Per cycle: failures by equivalence key. Open addressing with a generation
// per slot, so that clearing (every cycle, and after every preemption or
// reservation) costs nothing; the reasons sit apart from the slots, so that a
// slot is 40 bytes. Most lookups miss the table: the first touch of a slot was
// half of Consider's time (perf), so the table is kept small — sized for the
// generations in use, shrunk when many generations in a row left an earlier,
// larger one's table spread over many cache lines — and not touched at all
// while empty.
class FailureCache {
 public:
  // What a failed attempt found: why, and whether some pool admitted the job
  // and lacked room (JobTable::ParkConsidered's `waited_for_room`).
  struct Failure {
    WaitReason reason;
    bool waited_for_room = false;
  };
  const Failure* Find(const EquivalenceKey& k) const {
    if (size_ == 0) return nullptr;
    for (std::size_t i = Hash(k) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.gen != gen_) return nullptr;
      if (s.key == k) return &reasons_[s.reason];
    }
  }
  // Keeps an existing entry (as std::unordered_map::emplace).
  void Insert(const EquivalenceKey& k, const WaitReason& r, bool waited_for_room) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    for (std::size_t i = Hash(k) & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.gen != gen_) {
        s = {gen_, static_cast<std::uint32_t>(reasons_.size()), k};
        reasons_.push_back({r, waited_for_room});
        ++size_;
        return;
      }
      if (s.key == k) return;
    }
  }
  void Clear() {
    // Shrunk only after many small generations in a row: clears come in
    // bursts (preemptions, reservations) with large generations between.
    oversized_clears_ =
        slots_.size() > kMinSlots && size_ * 16 < slots_.size() ? oversized_clears_ + 1 : 0;
    if (oversized_clears_ > kShrinkAfter) {
      oversized_clears_ = 0;
      // Shrink: a quarter full at most once the cleared generation's entries come back.
      std::size_t n = kMinSlots;
      while (n < size_ * 4) n *= 2;
      slots_.assign(n, Slot{});
      mask_ = n - 1;
      gen_ = 1;
    } else if (++gen_ == 0) {  // wrapped: no slot may look current
      for (Slot& s : slots_) s.gen = 0;
      gen_ = 1;
    }
    size_ = 0;
    reasons_.clear();
  }

 private:
  static constexpr std::size_t kMinSlots = 256;
  static constexpr int kShrinkAfter = 64;
  struct Slot {
    std::uint32_t gen = 0;
    std::uint32_t reason = 0;  // index into reasons_
    EquivalenceKey key{};
  };
  // Four independent multiplies of packed field pairs (a serial mix per
  // field was ~5 % of a national run): only slot placement depends on it.
  static std::size_t Hash(const EquivalenceKey& k) {
    auto pack = [](std::int64_t hi, std::int64_t lo) {
      return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(hi)) << 32) |
             static_cast<std::uint32_t>(lo);
    };
    const std::uint64_t h = pack(k.tenant, k.set) * 0x9e3779b97f4a7c15ULL ^
                            pack(k.accelerators, k.milli) * 0xc2b2ae3d27d4eb4fULL ^
                            pack(k.per_node, k.priority) * 0x165667b19e3779f9ULL ^
                            static_cast<std::uint64_t>(k.remaining) * 0xff51afd7ed558ccdULL;
    return static_cast<std::size_t>(h ^ (h >> 29) ^ (h >> 47));
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? kMinSlots : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    const std::uint32_t gen = gen_;
    gen_ = 1;
    for (const Slot& s : old) {
      if (s.gen != gen) continue;
      // Re-slot with the same reason index (reasons_ is kept).
      for (std::size_t i = Hash(s.key) & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].gen != gen_) {
          slots_[i] = {gen_, s.reason, s.key};
          break;
        }
      }
    }
  }

  std::vector<Slot> slots_;
  std::vector<Failure> reasons_;  // of the current generation, by insertion
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::uint32_t gen_ = 1;
  int oversized_clears_ = 0;
};

Status UnknownJob(std::string_view id) { return NotFound("unknown job '" + std::string(id) + "'"); }

}  // namespace

struct Scheduler::Impl final : public TenantShares {
  Impl(const model::Scenario& s, const SchedulerConfig& c, GridState& g, QuotaLedger& q)
      : ctx{s, c, g, q, 0, {}},
        table(s.pools.size(), static_cast<std::size_t>(q.class_count()), g.node_count(),
              s.tenants.size()),
        admission(ctx),
        placement(ctx),
        backfill(ctx, table),
        preemption(ctx, table, placement) {
    ctx.pool_blocked_by.assign(s.pools.size(), kNoJob);
    for (const model::Pool& pool : s.pools) pool_node_size.push_back(pool.accelerators_per_node);
  }

  CycleContext ctx;
  JobTable table;
  Admission admission;
  Placement placement;
  Backfill backfill;
  Preemption preemption;
  std::unique_ptr<QueueOrder> order;

  // Per cycle: failures of requests identical to later ones. Valid because
  // within a cycle capacity only shrinks, except through preemption and
  // reservations, which clear it.
  FailureCache failed;
  // Per cycle, coarser: attempts refused by admission in every pool of their
  // first part's candidate set, by (tenant, that set's pools and static
  // rejections (CandidateSet::same_as), the part's total). Such
  // an attempt never looked at capacity, reservations or the job's shape
  // beyond its total; admission's verdicts (site, strict queue, quota, grant,
  // power) only tighten within a cycle until the failures are forgotten, so a
  // job with the same three fails alike. Keys leave the shape fields at 0.
  FailureCache refused_by_admission;
  // After anything that frees capacity or adds a reservation.
  void ForgetFailures() {
    failed.Clear();
    refused_by_admission.Clear();
  }
  // Grant windows' openings (valid_from, grant holder), sorted: jobs refused
  // only by grants sleep until one of their holder's opens (JobTable).
  // Rebuilt after SetGrants.
  std::vector<std::pair<Time, int>> grant_openings;
  bool grant_openings_stale = true;
  Time grants_checked_until = std::numeric_limits<Time>::min();
  // Wakes the jobs of every grant holder with a window opening in
  // (grants_checked_until, now].
  void WakeOpenedGrants(Time now) {
    if (grant_openings_stale) {
      grant_openings.clear();
      for (std::size_t t = 0; t < ctx.scenario.tenants.size(); ++t) {
        for (const model::Grant& g : ctx.quota.Grants(static_cast<int>(t)))
          grant_openings.emplace_back(g.valid_from, static_cast<int>(t));
      }
      std::sort(grant_openings.begin(), grant_openings.end());
      grant_openings_stale = false;
    }
    auto it = std::upper_bound(grant_openings.begin(), grant_openings.end(),
                               std::make_pair(grants_checked_until, INT_MAX));
    for (; it != grant_openings.end() && it->first <= now; ++it) table.WakeGrantHolder(it->second);
    grants_checked_until = std::max(grants_checked_until, now);
  }
  std::vector<Decision> carried;  // requeues from events between cycles
  Time last_now = std::numeric_limits<Time>::min();

  // Per pool: accelerators per node (what a part's shape depends on).
  std::vector<int> pool_node_size;

  // Whether `qpus_wanted` QPUs of the hybrid job's QPU set are admitted and
  // free at `site` now; remembered per site for the part being placed
  // (qpu_site_room). A QPU pool's admission refusal (quota, grant) is
  // recorded in `at` like any other.
  bool QpusFitAt(int tenant, int site, const CandidateSet& qpu_set, Attempt* at) {
    for (const auto& [s, fits] : qpu_site_room) {
      if (s == site) return fits;
    }
    bool fits = false;
    for (std::uint16_t q : qpu_set.pools) {
      if (ctx.scenario.pools[q].site_index != site) continue;
      const PartShape s =
          ShapeFor(PartRequest{qpus_wanted, kMilliPerAccelerator, 0}, pool_node_size[q]);
      if (admission.Admits(tenant, q, s, at) && placement.CanFitNow(q, s)) {
        fits = true;
        break;
      }
    }
    qpu_site_room.emplace_back(site, fits);
    return fits;
  }
  int qpus_wanted = 0;
  std::vector<std::pair<int, bool>> qpu_site_room;

  // Scratch space reused by every attempt, so that failing fast allocates nothing.
  Attempt attempt;
  std::vector<std::pair<int, Milli>> scratch_charged;
  std::vector<std::pair<std::size_t, std::vector<NodeAssignment>>> scratch_placed;
  std::vector<NodeId> scratch_nodes;

  // Charges grants for the time since the last event. Time never runs back.
  void AdvanceTo(Time now) {
    if (last_now != std::numeric_limits<Time>::min() && now > last_now)
      ctx.quota.Accrue(last_now, now);
    if (now > last_now) last_now = now;
  }

  // TenantShares.
  double DominantShare(int tenant) const override {
    const QuotaLedger& quota = ctx.quota;
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
    const QuotaLedger& quota = ctx.quota;
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
  // Applying decisions: every phase's state changes together.

  // Records parts already allocated on the grid as the job's, from ctx.now.
  void Register(SchedJob& j, std::size_t pool, std::vector<NodeAssignment>&& parts) {
    scratch_nodes.clear();
    for (const auto& a : parts) scratch_nodes.push_back(a.node);
    table.RegisterPart(j, pool, std::move(parts), ctx.now);
    for (NodeId n : scratch_nodes) backfill.RefreshReady(n);
  }

  // Frees a job's allocation and quota.
  void Release(SchedJob& j) {
    scratch_nodes.clear();
    table.ReleaseAll(j, ctx.grid, ctx.quota, &scratch_nodes);
    for (NodeId n : scratch_nodes) backfill.RefreshReady(n);
  }

  // Stops a running job and puts it back in the queue.
  void Stop(std::uint32_t idx, Time now) {
    Release(table.job(idx));
    table.MarkStopped(idx, now);
  }

  // Stops every job in `victims` (by submission order) because `what` failed.
  void Requeue(std::vector<std::uint32_t> victims, const std::string& what, Time now) {
    std::sort(victims.begin(), victims.end(),
              [&](auto a, auto b) { return table.job(a).seq < table.job(b).seq; });
    victims.erase(std::unique(victims.begin(), victims.end()), victims.end());
    for (std::uint32_t v : victims) {
      Stop(v, now);
      table.reason(v).code = WaitCode::kRequeued;
      carried.push_back({Decision::Kind::kRequeue,
                         table.job(v).spec.id,
                         {},
                         {},
                         0,
                         what + " went down; requeued",
                         v});
    }
  }

  // -------------------------------------------------------------------------
  // One attempt to start a job now: per part, admission filters each pool of
  // its candidate set, placement scores those with room (backfill offers a
  // reserved node to a job that ends in time), the best pool's nodes are
  // allocated; all parts or none. Fills `attempt` and returns it (valid until
  // the next call).
  //
  // Reads the job's queue entry `e`, not its record, until a pool has room:
  // most attempts fail, and the record is a cache miss (multi-part jobs read
  // their candidate sets from it).
  const Attempt& TryStart(const QueueEntry& e, bool use_reserved) {
    const Time now = ctx.now;
    GridState& grid = ctx.grid;
    QuotaLedger& quota = ctx.quota;
    const std::uint32_t idx = e.job;
    const int tenant = e.tenant;
    const PartRequest req{e.accelerators, e.milli, e.per_node};
    // The first part's candidate set is in the entry; a multi-part job's
    // other parts are read from its record once the first has been placed.
    const std::uint32_t first_set = e.part_set & ~kMultiPartSet;
    const bool multi_part = (e.part_set & kMultiPartSet) != 0;
    const std::vector<std::uint32_t>* more_sets = nullptr;
    std::size_t part_count = 1;
    Attempt& at = attempt;
    at.started = false;
    at.failed_at_first_part = false;
    at.admitted_any = false;
    at.capacity_pools.clear();
    at.reclaim_pools.clear();
    at.quota_failed = false;
    at.grant_failed = false;
    at.reason = admission.set(first_set).rejections;
    at.reason.code = WaitCode::kNoCapacity;
    auto& charged = scratch_charged;
    auto& placed = scratch_placed;
    charged.clear();
    placed.clear();
    auto rollback = [&] {
      for (auto& [p, parts] : placed) {
        for (auto& a : parts) grid.ReleaseOnNode(a.node, a.accelerators, a.milli_per_accelerator);
      }
      for (auto& [p, m] : charged) quota.RefundOnPool(tenant, p, m);
    };

    for (std::size_t part = 0; part < part_count; ++part) {
      const CandidateSet& set = admission.set(part == 0 ? first_set : (*more_sets)[part]);
      // A hybrid job's QPU part: its QPUs, at the site of its accelerators
      // (placed[0]); the accelerator part already checked that they fit there.
      int only_site = -1;
      PartRequest part_req = req;
      if (set.qpu_part) {
        part_req = PartRequest{table.job(idx).spec.qpus, kMilliPerAccelerator, 0};
        only_site = ctx.scenario.pools[placed.front().first].site_index;
      }
      // The accelerator part of a hybrid job: only pools at a site whose QPUs
      // are admitted and free now (asked once per site).
      const CandidateSet* qpu_set = set.qpu_set != kNoSet ? &admission.set(set.qpu_set) : nullptr;
      bool qpu_missing = false;
      if (qpu_set != nullptr) {
        qpus_wanted = table.job(idx).spec.qpus;
        qpu_site_room.clear();
      }
      if (set.pools.empty()) {
        rollback();
        at.failed_at_first_part = placed.empty();
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
      // The shape depends on the pool's node size only: computed once per size.
      int shaped_for = -1;
      PartShape shape;
      admission.BeginPart();
      for (std::uint16_t p : set.pools) {
        if (only_site >= 0 && ctx.scenario.pools[p].site_index != only_site) continue;
        const int per_node = pool_node_size[p];
        if (per_node != shaped_for) {
          shape = ShapeFor(part_req, per_node);
          shaped_for = per_node;
        }
        if (!admission.Admits(tenant, p, shape, &at)) continue;
        at.admitted_any = true;
        if (qpu_set != nullptr &&
            !QpusFitAt(tenant, ctx.scenario.pools[p].site_index, *qpu_set, &at)) {
          qpu_missing = true;
          continue;
        }
        if (!placement.CanFitNow(p, shape)) {
          // Backfill: a single-node request that ends before the pool's
          // reservation starts may use a reserved node (best fit).
          if (use_reserved && best_pool < 0) {
            const NodeId n = backfill.BackfillNode(p, shape, e.remaining_s, now);
            if (n != kNoNode && (reserved_node == kNoNode || p < reserved_pool)) {
              reserved_node = n;
              reserved_pool = p;
              reserved_shape = shape;
            }
          }
          at.capacity_pools.push_back(p);
          continue;
        }
        const double score = placement.ScoreOf(placement.Summarise(p, shape, table.job(idx).spec));
        if (score > best_score) {
          best_score = score;
          best_pool = p;
          best_shape = shape;
        }
      }
      std::vector<NodeAssignment> parts;
      if (best_pool < 0 && reserved_node != kNoNode) {
        placement.TakeOnNode(reserved_node, reserved_shape, &parts);
        best_pool = static_cast<int>(reserved_pool);
        best_shape = reserved_shape;
      } else if (best_pool < 0 ||
                 !placement.SelectNodes(static_cast<std::size_t>(best_pool), best_shape, &parts)) {
        rollback();
        at.failed_at_first_part = placed.empty();
        if (at.reason.code == WaitCode::kNoCapacity && !at.capacity_pools.empty()) {
          at.reason.tenant = -1;
        }
        // Room for its accelerators, but not at a site with its QPUs free.
        if ((qpu_missing || set.qpu_part) && at.reason.code == WaitCode::kNoCapacity)
          at.reason.code = WaitCode::kNoQpu;
        return at;
      }
      for (const auto& a : parts)
        grid.AllocateOnNode(a.node, a.accelerators, a.milli_per_accelerator);
      quota.ChargeOnPool(tenant, best_pool, best_shape.total);
      charged.emplace_back(best_pool, best_shape.total);
      placed.emplace_back(static_cast<std::size_t>(best_pool), std::move(parts));
      if (part == 0 && multi_part) {
        more_sets = &table.job(idx).part_sets;
        part_count = more_sets->size();
      }
    }
    // Every part placed: make it the job's allocation.
    SchedJob& j = table.job(idx);
    for (auto& [p, parts] : placed) Register(j, p, std::move(parts));
    j.charges = charged;
    at.started = true;
    return at;
  }

  // -------------------------------------------------------------------------
  // The phases of a cycle.

  // Forgets what the previous cycle learnt.
  void BeginCycle() {
    placement.BeginCycle();
    ForgetFailures();
    preemption.BeginCycle();
    backfill.BeginCycle();
    std::fill(ctx.pool_blocked_by.begin(), ctx.pool_blocked_by.end(), kNoJob);
  }

  // Queue sort: the active jobs, as of their last change, to the queue order.
  void SortQueue() {
    std::vector<QueueEntry> entries = order->TakeEntries();
    const std::vector<std::uint32_t>& active = table.TakeActive();
    entries.reserve(active.size());
    // The active jobs are scattered over the table: each read is a cache miss
    // (two thirds of this loop's time, perf), so the entries a few places
    // ahead are fetched while this one is copied.
    constexpr std::size_t kAhead = 8;
    for (std::size_t i = 0; i < active.size(); ++i) {
      if (i + kAhead < active.size()) table.PrefetchPending(active[i + kAhead]);
      const std::uint32_t idx = active[i];
      assert(table.hot(idx).job == idx && table.hot(idx).remaining_s == table.job(idx).Remaining());
      entries.push_back(table.hot(idx));
    }
    order->Begin(std::move(entries), *this);
  }

  // One job of the queue: filter, score and place it, or preempt for it, or
  // reserve for it, or park it; what it did goes to `result`.
  void Consider(const QueueEntry& e, CycleResult* result) {
    const Time now = ctx.now;
    const SchedulerConfig& config = ctx.config;
    const std::uint32_t idx = e.job;
    // The key is read from the entry so that a cache hit never touches the job.
    const EquivalenceKey key{e.tenant,
                             e.part_set,
                             e.accelerators,
                             e.milli,
                             e.per_node,
                             e.priority,
                             backfill.FitsBefore(e.remaining_s, now)};
    // Multi-part jobs (their key's set carries kMultiPartSet, so they match
    // only each other) are cached only when they failed at the first part:
    // such an attempt changed nothing, and neither preemption nor a
    // reservation is tried for them.
    if (const FailureCache::Failure* hit = failed.Find(key)) {
      table.reason(idx) = hit->reason;
      ++((e.part_set & kMultiPartSet) != 0 ? result->stats.multi_part_hits
                                           : result->stats.equivalence_hits);
      table.ParkConsidered(idx, hit->reason, e.part_set, hit->waited_for_room);
      return;
    }
    const bool multi_part = (e.part_set & kMultiPartSet) != 0;
    const EquivalenceKey admission_key{e.tenant, admission.set(e.part_set & ~kMultiPartSet).same_as,
                                       0,        e.milli * e.accelerators,
                                       0,        0,
                                       0};
    if (const FailureCache::Failure* refused = refused_by_admission.Find(admission_key)) {
      // What the failed attempt would have done: no preemption, reservation
      // or strict-queue block (no pool had passed admission).
      ++result->stats.admission_hits;
      table.reason(idx) = refused->reason;
      failed.Insert(key, refused->reason, false);
      table.ParkConsidered(idx, refused->reason, e.part_set, false);
      return;
    }
    SchedJob& j = table.job(idx);

    // Filter, score, place (with backfill into reserved nodes).
    const Attempt& at = TryStart(e, backfill.any());

    // Preempt: the cheapest victims in one pool that make the job runnable now.
    if (!at.started && preemption.MayTry(!multi_part, at)) {
      const std::vector<std::uint32_t>& victims = preemption.Plan(idx, e, at, *order);
      if (!victims.empty()) {
        for (std::uint32_t v : victims) {
          const std::string why = preemption.VictimReason(v, idx, e, *order);
          Stop(v, now);
          table.reason(v).code = WaitCode::kPreempted;
          table.reason(v).other_job = idx;
          result->decisions.push_back(
              {Decision::Kind::kPreempt, table.job(v).spec.id, {}, {}, 0, why, v});
          ++result->stats.preempted;
        }
        ForgetFailures();  // freed capacity invalidates cached failures
        TryStart(e, backfill.any());
        assert(at.started && "preemption freed capacity the job could not use");
      }
    }

    // Bind: the job runs from now.
    if (at.started) {
      table.MarkRunning(idx, now, /*in_cycle=*/true);
      ++result->stats.started;
      result->decisions.push_back({Decision::Kind::kStart,
                                   j.spec.id,
                                   j.assignment,
                                   {},
                                   0,
                                   StartReason(ctx.scenario, config, j),
                                   idx});
      order->Started(e);
      return;
    }

    // Blocked. With backfill the first blocked job per pool gets a reservation
    // (EASY); later jobs use its nodes only if they end before it starts.
    table.reason(idx) = at.reason;
    const bool capacity_blocked =
        !at.capacity_pools.empty() && !multi_part && e.milli >= kMilliPerAccelerator;
    if (capacity_blocked && config.backfill && backfill.MayReserve()) {
      Decision reserve;
      if (backfill.Reserve(idx, j, at.capacity_pools, &reserve)) {
        result->decisions.push_back(std::move(reserve));
        ++result->stats.reserved;
        ForgetFailures();
        table.KeepActive(idx);  // the reservation holds for this cycle only
        return;
      }
    }
    // Without backfill the queue is strict: later jobs wait behind it.
    if (capacity_blocked && !config.backfill) {
      for (std::uint32_t p : at.capacity_pools) {
        if (ctx.pool_blocked_by[p] == kNoJob) ctx.pool_blocked_by[p] = idx;
      }
      ForgetFailures();
    }
    const bool waited_for_room = !at.capacity_pools.empty();
    if (!multi_part || at.failed_at_first_part) failed.Insert(key, at.reason, waited_for_room);
    if (!at.admitted_any && at.reclaim_pools.empty() && at.failed_at_first_part)
      refused_by_admission.Insert(admission_key, at.reason, false);
    // Park until something that could help it happens. Blockers of a strict
    // queue stay active: they hold later jobs back.
    if (capacity_blocked && !config.backfill) {
      table.KeepActive(idx);
    } else {
      table.ParkConsidered(idx, at.reason, e.part_set, waited_for_room);
    }
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
  if (Status st = impl.placement.Init(s->config_.scores); !st.ok()) return st;
  if (s->config_.preemption_grace_s < 0) return InvalidArgument("preemption_grace_s must be >= 0");
  return s;
}

Status ValidateJob(const model::Scenario& scenario, const model::Job& job) {
  if (job.id.empty()) return InvalidArgument("job.id: expected a non-empty id").WithField("id");
  const int tenant = scenario.FindTenant(job.tenant);
  if (tenant < 0)
    return NotFound("job.tenant: unknown tenant '" + job.tenant + "'").WithField("tenant");
  if (job.accelerators < 1)
    return InvalidArgument("job.accelerators: expected at least 1").WithField("accelerators");
  if (job.accelerator_milli < 1 || job.accelerator_milli > kMilliPerAccelerator) {
    return InvalidArgument("job.accelerator_milli: expected 1..1000")
        .WithField("accelerator_milli");
  }
  if (job.fractional() && job.accelerators != 1) {
    return InvalidArgument(
               "job.accelerators: a fraction of an accelerator must be asked for one accelerator")
        .WithField("accelerators");
  }
  if (job.accelerators_per_node < 0 ||
      (job.accelerators_per_node > 0 && job.accelerators % job.accelerators_per_node != 0)) {
    return InvalidArgument("job.accelerators_per_node: expected a divisor of accelerators")
        .WithField("accelerators_per_node");
  }
  for (const auto& m : job.accepted_models) {
    if (scenario.FindAccelerator(m) < 0)
      return NotFound("job.accepted_models: unknown model '" + m + "'")
          .WithField("accepted_models");
  }
  for (const auto& d : job.datasets) {
    const int ds = scenario.FindDataset(d);
    if (ds < 0) return NotFound("job.datasets: unknown dataset '" + d + "'").WithField("datasets");
    const auto& allowed = scenario.datasets[ds].tenants;
    const bool ok =
        allowed.empty() || std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
          return scenario.InSubtree(tenant, scenario.FindTenant(a));
        });
    if (!ok) {
      return FailedPrecondition("job.datasets: tenant '" + job.tenant + "' may not use dataset '" +
                                d + "'")
          .WithField("datasets");
    }
  }
  if (Status st = model::CheckStackName(job.stack); !st.ok())
    return InvalidArgument("job.stack: " + st.message());
  if (!scenario.PriorityValue(job.priority_class))
    return NotFound("job.priority_class: unknown priority class '" + job.priority_class + "'")
        .WithField("priority_class");
  if (job.replicas < 1 || (job.replicas > 1 && job.kind != model::JobKind::kService)) {
    return InvalidArgument("job.replicas: expected 1, or more for a service").WithField("replicas");
  }
  if (job.qpus < 0 || (job.qpus > 0 && job.kind == model::JobKind::kService)) {
    return InvalidArgument("job.qpus: expected 0, or more for a job that is not a service")
        .WithField("qpus");
  }
  if (job.checkpoint_interval_s < 0 || job.runtime_estimate_s < 0) {
    return InvalidArgument("job: checkpoint_interval_s and runtime_estimate_s must be >= 0");
  }
  return Status::Ok();
}

Status Scheduler::Submit(model::Job job) { return Submit(std::move(job), nullptr); }

Status Scheduler::Submit(model::Job job, Handle* handle) {
  Impl& impl = *impl_;
  if (job.id.empty()) return InvalidArgument("job.id: expected a non-empty id");
  if (impl.table.Find(job.id) != kNoJob)
    return AlreadyExists("job '" + job.id + "' already exists");
  if (Status s = ValidateJob(scenario_, job); !s.ok()) return s;
  const int tenant = scenario_.FindTenant(job.tenant);
  const auto priority = scenario_.PriorityValue(job.priority_class);

  std::vector<std::uint32_t> part_sets;
  const std::vector<std::string> regions = Admission::ReplicaRegions(job);
  const int parts = job.kind == model::JobKind::kService ? job.replicas : 1;
  for (int i = 0; i < parts; ++i) {
    const std::string region =
        regions.empty() ? "" : regions[static_cast<std::size_t>(i) % regions.size()];
    auto set = impl.admission.CandidateSetFor(job, tenant, region);
    if (!set.ok()) return set.status();
    part_sets.push_back(*set);
  }
  // A hybrid job's QPUs are its last part, placed at the site of its accelerators.
  if (job.qpus > 0) part_sets.push_back(impl.admission.set(part_sets.front()).qpu_set);
  impl.table.EnsureCandidateSets(impl.admission.set_count());
  const std::uint32_t idx = impl.table.Add(std::move(job), tenant, *priority, std::move(part_sets));
  impl.placement.NoteSubmitted(impl.table.job(idx).spec);
  if (handle != nullptr) *handle = idx;
  return Status::Ok();
}

Status Scheduler::Cancel(std::string_view id, model::Time now) {
  const std::uint32_t idx = impl_->table.Find(id);
  if (idx == kNoJob) return UnknownJob(id);
  CancelJob(idx, now);
  return Status::Ok();
}

void Scheduler::CancelJob(std::uint32_t idx, model::Time now) {
  Impl& impl = *impl_;
  SchedJob& j = impl.table.job(idx);
  impl.AdvanceTo(now);
  if (j.state == JobState::kRunning) {
    impl.Release(j);
    impl.table.MarkGone();
  } else {
    impl.table.RemovePending(idx);
  }
  impl.table.Remove(idx);
}

Status Scheduler::Finish(std::string_view id, model::Time now) {
  const std::uint32_t idx = impl_->table.Find(id);
  if (idx == kNoJob) return UnknownJob(id);
  if (impl_->table.job(idx).state != JobState::kRunning) {
    return FailedPrecondition("job '" + std::string(id) + "' is not running");
  }
  CancelJob(idx, now);  // one id lookup, not two
  return Status::Ok();
}

Status Scheduler::FinishAt(Handle handle, model::Time now) {
  assert(handle < impl_->table.slots() && impl_->table.job(handle).live);
  if (impl_->table.job(handle).state != JobState::kRunning) {
    return FailedPrecondition("job '" + impl_->table.job(handle).spec.id + "' is not running");
  }
  CancelJob(handle, now);
  return Status::Ok();
}

Status Scheduler::Fail(std::string_view id, model::Time now) { return Finish(id, now); }

Status Scheduler::Adopt(model::Job job, const std::vector<NodeAssignment>& assignment,
                        model::Time started_at, model::Time now) {
  const std::string id = job.id;
  if (assignment.empty()) return FailedPrecondition("job '" + id + "': empty assignment");
  if (Status s = Submit(std::move(job)); !s.ok()) return s;
  Impl& impl = *impl_;
  const std::uint32_t idx = impl.table.Find(id);
  SchedJob& j = impl.table.job(idx);
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
      const auto& pools = impl.admission.set(s).pools;
      return std::find(pools.begin(), pools.end(), p) != pools.end();
    });
    if (!allowed) return refuse("pool " + scenario_.pools[p].id + " is not a candidate for it");
  }
  // A hybrid job holds its QPUs and its accelerators at one site, all of them.
  if (j.spec.qpus > 0) {
    std::int64_t qpus = 0;
    std::set<int> sites;
    for (const auto& [p, parts] : by_pool) {
      sites.insert(scenario_.pools[p].site_index);
      if (!scenario_.accelerators[scenario_.pools[p].accelerator_index].qpu()) continue;
      for (const auto& a : parts) qpus += static_cast<std::int64_t>(a.accelerators.size());
    }
    if (sites.size() != 1) return refuse("its QPUs and accelerators are not at one site");
    if (qpus != j.spec.qpus)
      return refuse("it holds " + std::to_string(qpus) + " QPUs, not the " +
                    std::to_string(j.spec.qpus) + " it asks for");
  }
  // Apply, as a start at `started_at` would have.
  impl.AdvanceTo(now);
  impl.ctx.now = started_at;
  for (auto& [p, parts] : by_pool) {
    Milli total = 0;
    for (const auto& a : parts) {
      grid_.AllocateOnNode(a.node, a.accelerators, a.milli_per_accelerator);
      total += a.milli_per_accelerator * static_cast<Milli>(a.accelerators.size());
    }
    quota_.ChargeOnPool(j.tenant, static_cast<int>(p), total);
    j.charges.emplace_back(static_cast<int>(p), total);
    impl.Register(j, p, std::move(parts));
  }
  impl.table.MarkRunning(idx, started_at);
  impl.ForgetFailures();  // the grid changed under cached failures
  // Queue orders read tenants' shares afresh at the start of every cycle.
  return Status::Ok();
}

Status Scheduler::SetNodeHealth(std::string_view node, NodeHealth health, model::Time now) {
  auto n = grid_.FindNode(node);
  if (!n.ok()) return n.status();
  Impl& impl = *impl_;
  impl.AdvanceTo(now);
  // A node back up is room in its pool, as a release; a node going down or
  // draining helps no waiting job (its requeued jobs release their pools).
  if (health == NodeHealth::kUp && grid_.node(*n).health != NodeHealth::kUp)
    impl.table.MarkPoolGained(grid_.node(*n).pool);
  grid_.SetNodeHealth(*n, health);
  if (health == NodeHealth::kDown) {
    std::vector<std::uint32_t> victims;
    for (const auto& o : impl.table.on_node(*n)) victims.push_back(o.job);
    impl.Requeue(std::move(victims), "node " + std::string(node), now);
  }
  impl.backfill.RefreshReady(*n);
  return Status::Ok();
}

Status Scheduler::SetSiteState(std::string_view site, model::SiteState state, model::Time now) {
  const int s = scenario_.FindSite(site);
  if (s < 0) return NotFound("unknown site '" + std::string(site) + "'");
  Impl& impl = *impl_;
  impl.AdvanceTo(now);
  impl.table.WakeAllNextCycle();
  grid_.SetSiteState(static_cast<std::size_t>(s), state);
  if (state == model::SiteState::kDown) {
    std::vector<std::uint32_t> victims;
    for (std::size_t p = 0; p < scenario_.pools.size(); ++p) {
      if (scenario_.pools[p].site_index != s) continue;
      for (const auto& ref : impl.table.running_in_pool(p)) victims.push_back(ref.job);
    }
    impl.Requeue(std::move(victims), "site " + std::string(site), now);
  }
  for (std::size_t p = 0; p < scenario_.pools.size(); ++p) {
    if (scenario_.pools[p].site_index == s) impl.backfill.RefreshPool(p);
  }
  return Status::Ok();
}

Status Scheduler::SetQuota(std::string_view tenant, const model::ClassAmounts& guarantee,
                           const model::ClassAmounts& borrow_limit,
                           const model::ClassAmounts& lend_limit) {
  const int t = scenario_.FindTenant(tenant);
  if (t < 0) return NotFound("unknown tenant '" + std::string(tenant) + "'");
  impl_->table.WakeAllNextCycle();
  return quota_.SetLimits(t, guarantee, borrow_limit, lend_limit);
}

Status Scheduler::SetGrants(std::string_view tenant, std::vector<model::Grant> grants) {
  const int t = scenario_.FindTenant(tenant);
  if (t < 0) return NotFound("unknown tenant '" + std::string(tenant) + "'");
  impl_->table.WakeAllNextCycle();
  impl_->grant_openings_stale = true;
  return quota_.SetGrants(t, std::move(grants));
}

Status Scheduler::SetGrantUsed(std::string_view tenant, std::string_view grant, double units) {
  const int t = scenario_.FindTenant(tenant);
  if (t < 0) return NotFound("tenant '" + std::string(tenant) + "' not found");
  impl_->table.WakeGrantHolder(t);  // less used: its grant-held jobs may start
  return quota_.SetGrantUsed(t, grant, units);
}

// One cycle, in the Kubernetes scheduler framework's terms: wake, queue sort,
// then per job filter (admission), score and bind (placement), preempt, and
// reserve (backfill) or park.
CycleResult Scheduler::RunCycle(model::Time now) {
  Impl& impl = *impl_;
  CycleResult result;
  impl.AdvanceTo(now);
  impl.ctx.now = now;
  result.decisions = std::move(impl.carried);  // requeues since the last cycle
  impl.carried.clear();
  result.stats.pending_before = impl.table.pending().size();
  impl.BeginCycle();
  // 1. Wake parked jobs whose capacity or quota class saw a release, or whose
  //    grant holder's window opened; all of them when nodes, sites, quotas or
  //    grants changed; all but those held only by grants when the retry
  //    interval is up.
  impl.WakeOpenedGrants(now);
  impl.table.Wake(now, config_.retry_interval_s, impl.admission.sets_of_pool());
  // 2. Queue sort: the configured order yields the active jobs one at a time.
  impl.SortQueue();
  // 3. Per job: filter, score, place; else preempt; else reserve or park.
  QueueEntry e;
  while (impl.order->Next(&e)) {
    ++result.stats.considered;
    impl.Consider(e, &result);
  }
  // 4. Reserved nodes are held for one cycle only.
  impl.backfill.EndCycle();
  return result;
}

Result<JobView> Scheduler::Job(std::string_view id) const {
  const std::uint32_t idx = impl_->table.Find(id);
  if (idx == kNoJob) return UnknownJob(id);
  return JobAt(idx);
}

JobView Scheduler::JobAt(Handle handle) const {
  assert(handle < impl_->table.slots() && impl_->table.job(handle).live);
  const std::uint32_t idx = handle;
  const SchedJob& j = impl_->table.job(idx);
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
  v.reason = impl_->table.reason(idx);
  return v;
}

const WaitReason& Scheduler::ReasonAt(Handle handle) const {
  assert(handle < impl_->table.slots() && impl_->table.job(handle).live);
  return impl_->table.reason(handle);
}

Result<std::string> Scheduler::Explain(std::string_view id) const {
  const std::uint32_t idx = impl_->table.Find(id);
  if (idx == kNoJob) return UnknownJob(id);
  if (impl_->table.job(idx).state == JobState::kRunning) return std::string();
  return ExplainPending(scenario_, quota_, impl_->table, idx);
}

std::size_t Scheduler::pending_count() const { return impl_->table.pending().size(); }

std::vector<std::size_t> Scheduler::PendingPerTenant() const {
  std::vector<std::size_t> out(scenario_.tenants.size(), 0);
  for (std::uint32_t idx : impl_->table.pending()) {
    ++out[static_cast<std::size_t>(impl_->table.job(idx).tenant)];
  }
  return out;
}

std::size_t Scheduler::running_count() const { return impl_->table.running_count(); }

std::vector<std::string> Scheduler::JobsOnNode(NodeId n) const {
  std::vector<std::string> out;
  for (const auto& o : impl_->table.on_node(n)) out.push_back(impl_->table.job(o.job).spec.id);
  return out;
}

std::vector<Scheduler::Handle> Scheduler::HandlesOnNode(NodeId n) const {
  std::vector<Handle> out;
  for (const auto& o : impl_->table.on_node(n)) out.push_back(o.job);
  return out;
}

std::size_t Scheduler::ApproxBytesPerPendingJob() const {
  std::size_t bytes = 0;
  std::size_t n = 0;
  for (std::uint32_t idx : impl_->table.pending()) {
    const SchedJob& j = impl_->table.job(idx);
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
