// Admission: which pools may take a job, before capacity is looked at.
//
// Static filters (never change while a job waits: accelerator model, the
// tenant's dedicated pools, data residency, latency to the replica's region,
// the shape existing in the pool) give a job part its candidate set, computed
// once per distinct request and shared by every job asking the same
// (CandidateSetFor). Dynamic filters, per attempt and pool, in this order:
// site up, strict queue not blocked, quota (CanAdmit), grant, the site's
// power budget (Admits). Each rejection is counted in the attempt's
// WaitReason so that Explain can say which filter removed how many pools.
// The software stack is a static filter too, right after the model: the
// pool's model must run the job's stack (AcceleratorModel::RunsStack).
// QPU pools (AcceleratorModel::qpu) are never in an accelerator part's set;
// a hybrid job's (Job::qpus > 0) QPU part has its own set (QpuSetFor), and
// its accelerator part's set keeps only pools at sites with one of those.
//
// Owns the candidate sets and the per-attempt quota and grant verdicts (one
// per quota class and part). Reads the grid and the quota ledger through the
// CycleContext, changes neither. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "sched/cycle_context.h"

namespace sovgrid::sched {

class Admission {
 public:
  explicit Admission(CycleContext& ctx);

  // Regions of a service's replicas, in replica order; empty for other jobs.
  static std::vector<std::string> ReplicaRegions(const model::Job& job);
  // The candidate set of one part of `job` (the replica in `region`, or ""),
  // created on first use.
  // A hybrid job's (Job::qpus > 0) set holds only pools at sites with a QPU
  // pool of its QPU part's set (CandidateSet::qpu_set, created with it).
  Result<std::uint32_t> CandidateSetFor(const model::Job& job, int tenant,
                                        const std::string& region);
  const CandidateSet& set(std::uint32_t id) const { return sets_[id]; }
  std::size_t set_count() const { return sets_.size(); }
  // Per pool: the candidate sets containing it.
  const std::vector<std::vector<std::uint32_t>>& sets_of_pool() const { return sets_of_pool_; }

  // Before the pools of one part are checked: forgets quota and grant verdicts.
  void BeginPart();
  // Whether pool `p` may take a part of `tenant`'s job, of `shape` (its
  // shape in `p`), now, capacity apart. Records a rejection in `at` (reason,
  // counts, reclaim_pools). Reads no job record: an attempt that fails here
  // touches only the job's queue entry.
  bool Admits(int tenant, std::uint16_t p, const PartShape& shape, Attempt* at);

 private:
  // The QPU part's set of a hybrid job: QPU pools its tenant and datasets
  // allow, with at least job.qpus QPUs.
  std::uint32_t QpuSetFor(const model::Job& job, int tenant);
  // Registers a new set under `key`; returns its id.
  std::uint32_t AddSet(CandidateSet set, const std::string& key);

  CycleContext& ctx_;
  std::vector<CandidateSet> sets_;
  std::unordered_map<std::string, std::uint32_t> set_by_key_;
  std::string key_scratch_;  // CandidateSetFor's key, reused
  std::vector<std::vector<std::uint32_t>> sets_of_pool_;
  std::vector<int> tenant_pool_holder_;  // nearest tenant up the tree naming pools, or -1
  // Quota and grants depend on the class only: asked once per class and part.
  std::vector<bool> verdict_known_;
  std::vector<QuotaLedger::Verdict> class_quota_, class_grant_;
};

}  // namespace sovgrid::sched
