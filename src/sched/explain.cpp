#include "sched/explain.h"

#include <algorithm>

namespace sovgrid::sched {

using model::kMilliPerAccelerator;

namespace {
std::string Plural(int n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}
}  // namespace

std::string ExplainPending(const model::Scenario& scenario, const QuotaLedger& quota,
                           const JobTable& table, std::uint32_t idx) {
  const SchedJob& j = table.job(idx);
  const model::Job& spec = j.spec;
  const WaitReason& r = table.reason(idx);

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
  if (spec.stack != "cuda") need += " running " + spec.stack;
  if (spec.qpus > 0) need += " plus " + Plural(spec.qpus, "QPU") + " at the same site";
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
    const auto& ds = scenario.datasets[scenario.FindDataset(d)];
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
    return other < table.slots() && table.job(other).live ? table.job(other).spec.id
                                                          : std::string("(a job that has left)");
  };
  auto tenant_path = [&](int t) { return t >= 0 ? scenario.TenantPath(t) : std::string("?"); };
  auto cls = [&](int c) { return c >= 0 ? quota.class_name(c) : std::string("?"); };
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
      add(r.rejected_by_stack,
          "have accelerators that do not run its software stack " + spec.stack);
      add(r.rejected_by_residency, "are at sites its datasets may not go to");
      add(r.rejected_by_tenant_pools, "are outside its tenant's dedicated pools");
      add(r.rejected_by_latency, "miss its latency objective");
      add(r.rejected_by_no_qpu, "are at sites without QPUs it may use");
      return need + "; no pool of the grid can ever run it: " + parts;
    }
    case WaitCode::kBorrowLimit:
      why = "tenant " + tenant_path(r.tenant) + " is at its borrowing limit for " +
            cls(r.quota_class) + " (uses " + accel(quota.Usage(r.tenant, r.quota_class)) +
            " of at most " + accel(quota.Maximum(r.tenant, r.quota_class)) + ")";
      break;
    case WaitCode::kLenderProtected:
      why = "the free " + cls(r.quota_class) + " capacity is guaranteed to tenants other than " +
            tenant_path(r.tenant) + " and they lend no more of it";
      break;
    case WaitCode::kGrantSpent:
      why = "every grant of " + tenant_path(r.tenant) + " valid now for " + cls(r.quota_class) +
            " is spent";
      break;
    case WaitCode::kGrantSpentBeyondGuarantee:
      why = "every grant of " + tenant_path(r.tenant) + " valid now for " + cls(r.quota_class) +
            " is spent; it runs on within its guarantee only, and this job would exceed it (uses " +
            accel(quota.Usage(r.tenant, r.quota_class)) + " of a guarantee of " +
            accel(quota.Guarantee(r.tenant, r.quota_class)) + ")";
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
    case WaitCode::kNoQpu:
      why = "its accelerators have room, but at no site where " + Plural(spec.qpus, "QPU") +
            " it may use " + (spec.qpus == 1 ? "is" : "are") + " free as well";
      if (r.rejected_by_quota > 0)
        why += " (" + Plural(r.rejected_by_quota, "pool") + " outside its quota)";
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
      add(r.rejected_by_stack, "that do not run its software stack " + spec.stack);
      add(r.rejected_by_no_qpu, "at sites without QPUs it may use");
      if (!extra.empty()) why += " (" + extra + ")";
      break;
    }
  }
  return need + "; " + why;
}

std::string StartReason(const model::Scenario& scenario, const SchedulerConfig& config,
                        const SchedJob& j) {
  std::string pools;
  for (const auto& [p, _] : j.pool_slots)
    pools += (pools.empty() ? "" : ", ") + scenario.pools[p].id;
  return "queue order " + config.queue_order + " picked it; placed on " +
         std::to_string(j.assignment.size()) + " node(s) in " + pools;
}

}  // namespace sovgrid::sched
