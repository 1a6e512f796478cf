#include "sched/job_table.h"

#include <algorithm>
#include <cassert>

namespace sovgrid::sched {

using model::Duration;
using model::kMilliPerAccelerator;
using model::Time;

JobTable::JobTable(std::size_t pools, std::size_t quota_classes, std::size_t nodes,
                   std::size_t tenants)
    : parked_by_class_(quota_classes),
      parked_by_grant_holder_(tenants),
      pool_released_(pools, 0),
      class_released_(quota_classes, 0),
      pool_running_(pools),
      node_jobs_(nodes),
      pool_priorities_(pools),
      pool_version_(pools, 0) {}

std::uint32_t JobTable::Find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? kNoJob : it->second;
}

std::uint32_t JobTable::Add(model::Job spec, int tenant, int priority,
                            std::vector<std::uint32_t> part_sets) {
  std::uint32_t idx;
  if (!free_slots_.empty()) {
    idx = free_slots_.back();
    free_slots_.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(jobs_.size());
    jobs_.emplace_back();
    pending_state_.emplace_back();
  }
  SchedJob& j = jobs_[idx];
  j = SchedJob{};
  j.live = true;
  j.tenant = tenant;
  j.priority = priority;
  j.seq = next_seq_++;
  j.part_sets = std::move(part_sets);
  j.spec = std::move(spec);
  pending_state_[idx].reason = WaitReason{};
  pending_state_[idx].hot = EntryOf(idx);
  by_id_.emplace(j.spec.id, idx);
  AddPending(idx);
  return idx;
}

void JobTable::Remove(std::uint32_t idx) {
  SchedJob& j = jobs_[idx];
  by_id_.erase(j.spec.id);
  j.live = false;
  j.spec = model::Job{};
  j.part_sets.clear();
  free_slots_.push_back(idx);
}

void JobTable::EnsureCandidateSets(std::size_t count) {
  if (parked_by_set_.size() < count) parked_by_set_.resize(count);
}

QueueEntry JobTable::EntryOf(std::uint32_t idx) const {
  const SchedJob& j = jobs_[idx];
  return {idx,
          j.seq,
          j.tenant,
          j.priority,
          j.spec.submit_time,
          j.spec.runtime_estimate_s,
          j.Remaining(),
          j.spec.deadline,
          j.attained_gpu_s,
          j.part_sets.size() == 1 ? j.part_sets[0] : (j.part_sets[0] | kMultiPartSet),
          j.spec.accelerators,
          static_cast<std::int32_t>(j.spec.accelerator_milli),
          j.spec.accelerators_per_node};
}

QueueEntry JobTable::RunningEntry(std::uint32_t idx, Time now) const {
  const SchedJob& j = jobs_[idx];
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

double JobTable::LostWork(const SchedJob& j, Time now) const {
  const Duration elapsed = now - j.last_start;
  const Duration ckpt = j.spec.checkpoint_interval_s;
  const Duration kept = ckpt > 0 ? (elapsed / ckpt) * ckpt : 0;
  const Duration lost = elapsed - kept + (ckpt > 0 ? 0 : j.progress_s);
  return static_cast<double>(lost) * static_cast<double>(j.TotalMilli()) / kMilliPerAccelerator;
}

// ---------------------------------------------------------------------------
// Pending and running.

void JobTable::MarkRunning(std::uint32_t idx, Time now, bool in_cycle) {
  SchedJob& j = jobs_[idx];
  if (in_cycle) {
    // In no list (TakeActive): out of the pending list only.
    assert(InCycle(idx));
#ifndef NDEBUG
    in_cycle_[idx] = 0;
#endif
    const std::uint32_t pos = j.pending_pos;
    const std::uint32_t moved = pending_.back();
    pending_[pos] = moved;
    jobs_[moved].pending_pos = pos;
    pending_.pop_back();
    pending_state_[idx].parking.park = SchedJob::Park::kActive;
  } else {
    RemovePending(idx);
  }
  j.state = JobState::kRunning;
  j.last_start = now;
  if (j.spec.preemptible) {
    for (const auto& [p, _] : j.pool_slots) pool_priorities_[p][j.priority].insert(now);
  }
  ++running_count_;
}

void JobTable::MarkStopped(std::uint32_t idx, Time now) {
  SchedJob& j = jobs_[idx];
  assert(j.state == JobState::kRunning);
  const Duration elapsed = now - j.last_start;
  const Duration ckpt = j.spec.checkpoint_interval_s;
  j.progress_s = ckpt > 0 ? j.progress_s + (elapsed / ckpt) * ckpt : 0;
  j.attained_gpu_s +=
      static_cast<double>(elapsed) * static_cast<double>(j.TotalMilli()) / kMilliPerAccelerator;
  --running_count_;
  ++j.preemptions;
  pending_state_[idx].reason = WaitReason{};
  pending_state_[idx].hot = EntryOf(idx);  // remaining time and attained service changed
  AddPending(idx);
}

void JobTable::AddPending(std::uint32_t idx) {
  jobs_[idx].pending_pos = static_cast<std::uint32_t>(pending_.size());
  jobs_[idx].state = JobState::kPending;
  pending_.push_back(idx);
  PutIn(active_, SchedJob::Park::kActive, 0, idx);
}

void JobTable::RemovePending(std::uint32_t idx) {
  assert(!InCycle(idx));
  const std::uint32_t pos = jobs_[idx].pending_pos;
  const std::uint32_t moved = pending_.back();
  pending_[pos] = moved;
  jobs_[moved].pending_pos = pos;
  pending_.pop_back();
  EraseFromList(ListOf(idx), idx);
  pending_state_[idx].parking.park = SchedJob::Park::kActive;
}

void JobTable::RegisterPart(SchedJob& j, std::size_t pool, std::vector<NodeAssignment>&& parts,
                            Time now) {
  const std::uint32_t idx = static_cast<std::uint32_t>(&j - jobs_.data());
  for (auto& a : parts) {
    auto& on_node = node_jobs_[a.node];
    const auto whole = a.milli_per_accelerator == kMilliPerAccelerator
                           ? static_cast<std::uint32_t>(a.accelerators.size())
                           : 0u;
    auto it =
        std::find_if(on_node.begin(), on_node.end(), [&](const OnNode& o) { return o.job == idx; });
    if (it == on_node.end()) {
      // The job starts now: its end by the estimate.
      const Duration rem = j.Remaining();
      on_node.push_back({idx, whole, rem > 0 ? now + rem : kNever});
    } else {
      it->whole += whole;
    }
    j.assignment.push_back(std::move(a));
  }
  bool listed = false;
  for (const auto& [p, _] : j.pool_slots) listed = listed || p == pool;
  if (!listed) {
    j.pool_slots.emplace_back(static_cast<std::uint32_t>(pool),
                              static_cast<std::uint32_t>(pool_running_[pool].size()));
    pool_running_[pool].push_back({idx, j.priority, j.tenant, j.spec.preemptible, now});
  }
  ++pool_version_[pool];
}

void JobTable::ReleaseAll(SchedJob& j, GridState& grid, QuotaLedger& quota,
                          std::vector<NodeId>* nodes) {
  const std::uint32_t idx = static_cast<std::uint32_t>(&j - jobs_.data());
  for (const auto& a : j.assignment) {
    grid.ReleaseOnNode(a.node, a.accelerators, a.milli_per_accelerator);
    auto& on_node = node_jobs_[a.node];
    on_node.erase(std::remove_if(on_node.begin(), on_node.end(),
                                 [&](const OnNode& o) { return o.job == idx; }),
                  on_node.end());
    nodes->push_back(a.node);
  }
  j.assignment.clear();
  for (const auto& [p, m] : j.charges) {
    quota.RefundOnPool(j.tenant, p, m);
    class_released_[static_cast<std::size_t>(quota.ClassOfPool(p))] = 1;
  }
  j.charges.clear();
  for (const auto& [p, slot] : j.pool_slots) {
    ++pool_version_[p];
    pool_released_[p] = 1;
    if (j.spec.preemptible && j.state == JobState::kRunning) {
      auto it = pool_priorities_[p].find(j.priority);
      it->second.erase(it->second.find(j.last_start));
      if (it->second.empty()) pool_priorities_[p].erase(it);
    }
    auto& list = pool_running_[p];
    const std::uint32_t moved = list.back().job;
    list[slot] = list.back();
    list.pop_back();
    if (moved != idx) {
      for (auto& [mp, mslot] : jobs_[moved].pool_slots) {
        if (mp == p) mslot = slot;
      }
    }
  }
  j.pool_slots.clear();
}

// ---------------------------------------------------------------------------
// Parking and waking.

// Removes `idx` from `list`, where it sits at pending_state_[idx].parking.pos.
void JobTable::EraseFromList(std::vector<std::uint32_t>& list, std::uint32_t idx) {
  const std::uint32_t pos = pending_state_[idx].parking.pos;
  const std::uint32_t moved = list.back();
  list[pos] = moved;
  pending_state_[moved].parking.pos = pos;
  list.pop_back();
}

std::vector<std::uint32_t>& JobTable::ListOf(std::uint32_t idx) {
  const ParkSlot& slot = pending_state_[idx].parking;
  switch (slot.park) {
    case SchedJob::Park::kBySet:
      return parked_by_set_[slot.key];
    case SchedJob::Park::kByClass:
      return parked_by_class_[slot.key];
    case SchedJob::Park::kByGrantHolder:
      return parked_by_grant_holder_[slot.key];
    case SchedJob::Park::kUntilRetry:
      return parked_until_retry_;
    case SchedJob::Park::kUntilGlobalChange:
      return parked_until_global_change_;
    case SchedJob::Park::kActive:
      break;
  }
  return active_;
}

void JobTable::PutIn(std::vector<std::uint32_t>& list, SchedJob::Park park, std::uint32_t key,
                     std::uint32_t idx) {
  pending_state_[idx].parking = {park, key, static_cast<std::uint32_t>(list.size())};
  list.push_back(idx);
}

bool JobTable::InCycle([[maybe_unused]] std::uint32_t idx) const {
#ifndef NDEBUG
  return idx < in_cycle_.size() && in_cycle_[idx] != 0;
#else
  return false;
#endif
}

const std::vector<std::uint32_t>& JobTable::TakeActive() {
  taken_.swap(active_);
  active_.clear();
#ifndef NDEBUG
  in_cycle_.resize(jobs_.size(), 0);
  for (std::uint32_t idx : taken_) {
    assert(!in_cycle_[idx]);
    in_cycle_[idx] = 1;
  }
#endif
  return taken_;
}

void JobTable::KeepActive(std::uint32_t idx) {
  assert(InCycle(idx));
#ifndef NDEBUG
  in_cycle_[idx] = 0;
#endif
  PutIn(active_, SchedJob::Park::kActive, 0, idx);
}

void JobTable::ParkConsidered(std::uint32_t idx, const WaitReason& r, std::uint32_t part_set,
                              bool waited_for_room) {
  assert(InCycle(idx) && part_set == pending_state_[idx].hot.part_set);
#ifndef NDEBUG
  in_cycle_[idx] = 0;
#endif
  // Grants do not come back when capacity is released: only a window
  // opening or a change of the holder's grants helps (WakeGrantHolder), unless
  // another pool admitted the job and lacked room (parked by set below).
  if ((r.code == WaitCode::kGrantSpent || r.code == WaitCode::kGrantInactive) && !waited_for_room) {
    if (r.tenant >= 0 && static_cast<std::size_t>(r.tenant) < parked_by_grant_holder_.size()) {
      const auto h = static_cast<std::uint32_t>(r.tenant);
      PutIn(parked_by_grant_holder_[h], SchedJob::Park::kByGrantHolder, h, idx);
    } else {
      PutIn(parked_until_retry_, SchedJob::Park::kUntilRetry, 0, idx);
    }
    return;
  }
  // No pool of its candidate set exists: only a global change is worth a look.
  if (r.code == WaitCode::kNoCandidatePool) {
    PutIn(parked_until_global_change_, SchedJob::Park::kUntilGlobalChange, 0, idx);
    return;
  }
  // Room under a guarantee comes back when the class's usage is released.
  const bool quota_bound = r.code == WaitCode::kBorrowLimit ||
                           r.code == WaitCode::kLenderProtected ||
                           r.code == WaitCode::kGrantSpentBeyondGuarantee;
  if (quota_bound && r.quota_class >= 0) {
    const auto c = static_cast<std::uint32_t>(r.quota_class);
    PutIn(parked_by_class_[c], SchedJob::Park::kByClass, c, idx);
  } else {
    const std::uint32_t set = part_set & ~kMultiPartSet;
    PutIn(parked_by_set_[set], SchedJob::Park::kBySet, set, idx);
  }
}

// The woken jobs' slots are not set: the cycle takes the active list right
// after waking (TakeActive) and sets each job's slot when it places it again.
void JobTable::WakeList(std::vector<std::uint32_t>& list) {
  active_.insert(active_.end(), list.begin(), list.end());
  list.clear();
}

// Also called between cycles (Scheduler::SetGrantUsed): each job's slot is
// set, so that a job cancelled before the next cycle is found in the active list.
void JobTable::WakeGrantHolder(int holder) {
  if (holder < 0 || static_cast<std::size_t>(holder) >= parked_by_grant_holder_.size()) return;
  std::vector<std::uint32_t>& list = parked_by_grant_holder_[static_cast<std::size_t>(holder)];
  for (std::uint32_t idx : list) PutIn(active_, SchedJob::Park::kActive, 0, idx);
  list.clear();
}

void JobTable::Wake(Time now, Duration retry_interval,
                    const std::vector<std::vector<std::uint32_t>>& sets_of_pool) {
  if (wake_all_) {
    for (auto& list : parked_by_grant_holder_) WakeList(list);
    WakeList(parked_until_global_change_);
  }
  if (wake_all_ || retry_interval <= 0 || last_full_wake_ == std::numeric_limits<Time>::min() ||
      now - last_full_wake_ >= retry_interval) {
    for (auto& list : parked_by_set_) WakeList(list);
    for (auto& list : parked_by_class_) WakeList(list);
    WakeList(parked_until_retry_);
    last_full_wake_ = now;
    wake_all_ = false;
  } else {
    for (std::size_t p = 0; p < pool_released_.size(); ++p) {
      if (!pool_released_[p]) continue;
      for (std::uint32_t set : sets_of_pool[p]) WakeList(parked_by_set_[set]);
    }
    for (std::size_t c = 0; c < class_released_.size(); ++c) {
      if (class_released_[c]) WakeList(parked_by_class_[c]);
    }
  }
  std::fill(pool_released_.begin(), pool_released_.end(), 0);
  std::fill(class_released_.begin(), class_released_.end(), 0);
}

}  // namespace sovgrid::sched
