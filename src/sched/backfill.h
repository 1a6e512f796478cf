// Backfill: EASY reservations for the first job blocked by capacity per pool.
//
// With backfill on, the first job of a cycle blocked by capacity in a pool
// holds the nodes of that pool that will have room for its per-node shape
// earliest, by the running jobs' estimates (Reserve). The nodes are hidden
// from placement for the rest of the cycle (EndCycle shows them again); a
// later single-node job may use one of them only if it ends before the
// reservation starts (BackfillNode). Reservations last one cycle.
//
// When k whole accelerators will be free on each node comes from ReadyIndex,
// kept per (pool, k) incrementally: a node is marked whenever jobs start or
// stop on it or its health or site changes (RefreshReady), and the marked
// nodes of a pool are re-keyed when a reservation next reads its indexes, so
// a reservation costs O(log n + nodes changed + nodes reserved) instead of a
// scan of the pool, and a node that changes many times between two
// reservations in its pool is re-keyed once (re-keying at every change was
// ~5 % of a national run: most pools are read by a reservation far less often
// than their nodes change). An index is built on the first reservation for
// its (pool, k).
//
// Owns the reservations and the ready indexes. Reads the running jobs per node
// from the JobTable; hides and shows nodes on the grid. Not thread-safe.
#pragma once

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "sched/cycle_context.h"
#include "sched/job_table.h"

namespace sovgrid::sched {

class Backfill {
 public:
  Backfill(CycleContext& ctx, const JobTable& table);

  // Drops the previous cycle's reservations.
  void BeginCycle();
  // Shows the reserved nodes again at the end of the cycle.
  void EndCycle();

  bool any() const { return !reservations_.empty(); }
  // Which reservations a job with `remaining` seconds to run could backfill
  // into at `now`: bit r set when it ends before reservation r starts.
  model::Duration FitsBefore(model::Duration remaining, model::Time now) const;
  // The reserved node of pool p that fits a single-node part most tightly, if
  // p holds a reservation that a job ending `remaining` seconds after `now`
  // does not delay; else kNoNode.
  NodeId BackfillNode(std::uint32_t p, const PartShape& shape, model::Duration remaining,
                      model::Time now) const;

  // Whether one more reservation may be tried in this cycle (counts the try).
  bool MayReserve();
  // Reserves, for job `idx` blocked by capacity in `pools`, the nodes of the
  // pool that has room earliest, if any will; fills `decision` (kReserve).
  bool Reserve(std::uint32_t idx, const SchedJob& j, const std::vector<std::uint32_t>& pools,
               Decision* decision);

  // Node n changed (jobs started or stopped on it, its health changed): its
  // entries in the ready indexes of its pool are re-keyed before they are read.
  void RefreshReady(NodeId n);
  // RefreshReady for every node of pool p (its site changed state).
  void RefreshPool(std::size_t p);

 private:
  static constexpr model::Time kReadyNow = std::numeric_limits<model::Time>::min();
  struct ReadyIndex {
    int per_node = 1;
    // (ready time, node): kReadyNow when k whole accelerators are free now,
    // else the expected end of the job whose end frees the k-th one. Nodes
    // that are down, at a site that is down, or never free k are absent.
    std::set<std::pair<model::Time, NodeId>> order;
    std::vector<model::Time> at;  // per node of the pool (index in pool): its key, or kNever
  };

  NodeId BestReservedNode(std::int32_t r, const PartShape& s) const;
  // Re-keys the nodes of pool p marked by RefreshReady in its indexes.
  void RekeyChanged(std::uint32_t p);
  void ReadyTimes(NodeId n, const std::vector<ReadyIndex>& indexes, std::vector<model::Time>* out);
  ReadyIndex& ReadyIndexFor(std::uint32_t p, int per_node);
  model::Time EarliestNodes(std::uint32_t p, const PartShape& shape, model::Time now,
                            std::vector<NodeId>* out);
  bool CheckEarliestNodes(std::uint32_t p, const PartShape& shape, model::Time now,
                          model::Time start, const std::vector<NodeId>& nodes);

  CycleContext& ctx_;
  const JobTable& table_;
  std::vector<Reservation> reservations_;
  std::vector<model::Time> reservation_starts_;  // reservations_[r].start, compact for FitsBefore
  // BestReservedNode's answers, per reservation and request (per-node whole
  // accelerators, or the milli of a share), valid while the grid has not
  // changed (GridState::changes): it is asked per attempt and blocked pool,
  // and most attempts between two starts ask the same.
  struct BestNodeMemo {
    std::int32_t reservation;
    int per_node;
    model::Milli milli;
    NodeId node;
  };
  mutable std::vector<BestNodeMemo> best_node_memo_;
  mutable std::uint64_t memo_changes_ = 0;            // GridState::changes() the memo is valid for
  std::vector<std::int32_t> pool_reservation_;        // index into reservations_, or -1
  int attempts_ = 0;                                  // reservations tried in this cycle
  std::vector<std::vector<ReadyIndex>> ready_index_;  // per pool, one per shape asked for
  std::vector<std::vector<NodeId>> changed_nodes_;    // per pool: marked, not yet re-keyed
  std::vector<bool> node_changed_;                    // per node: in changed_nodes_
  std::vector<std::pair<model::Time, int>> scratch_ends_;  // ends of the jobs on one node
  std::vector<std::pair<model::Time, NodeId>> scratch_ready_;
  std::vector<NodeId> scratch_nodes_;
  std::vector<model::Time> scratch_times_;
};

}  // namespace sovgrid::sched
