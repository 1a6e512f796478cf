#include "sched/admission.h"

#include <algorithm>
#include <charconv>

namespace sovgrid::sched {

using model::kMilliPerAccelerator;

PartShape ShapeFor(const PartRequest& req, int accelerators_per_node) {
  PartShape s;
  s.milli = req.milli;
  if (req.fractional()) {
    s.nodes = 1;
    s.per_node = 1;
  } else if (req.per_node > 0) {
    s.per_node = req.per_node;
    s.nodes = req.accelerators / req.per_node;
  } else if (req.accelerators <= accelerators_per_node) {
    s.per_node = req.accelerators;
  } else {
    s.nodes = (req.accelerators + accelerators_per_node - 1) / accelerators_per_node;
    s.per_node = (req.accelerators + s.nodes - 1) / s.nodes;
  }
  s.total = req.milli * req.accelerators;
  return s;
}

Admission::Admission(CycleContext& ctx) : ctx_(ctx) {
  const model::Scenario& scenario = ctx_.scenario;
  sets_of_pool_.resize(scenario.pools.size());
  tenant_pool_holder_.assign(scenario.tenants.size(), -1);
  for (std::size_t t = 0; t < scenario.tenants.size(); ++t) {
    for (int at = static_cast<int>(t); at >= 0; at = scenario.tenants[at].parent_index) {
      if (!scenario.tenants[at].pools.empty()) {
        tenant_pool_holder_[t] = at;
        break;
      }
    }
  }
}

std::vector<std::string> Admission::ReplicaRegions(const model::Job& job) {
  std::vector<std::string> regions;
  for (const auto& [region, _] : job.latency_slo_ms) regions.push_back(region);
  return regions;
}

namespace {
bool SameRejections(const WaitReason& a, const WaitReason& b) {
  return a.rejected_by_model == b.rejected_by_model &&
         a.rejected_by_residency == b.rejected_by_residency &&
         a.rejected_by_health == b.rejected_by_health &&
         a.rejected_by_power == b.rejected_by_power &&
         a.rejected_by_latency == b.rejected_by_latency &&
         a.rejected_by_quota == b.rejected_by_quota &&
         a.rejected_by_tenant_pools == b.rejected_by_tenant_pools &&
         a.rejected_by_no_qpu == b.rejected_by_no_qpu;
}
}  // namespace

std::uint32_t Admission::AddSet(CandidateSet set, const std::string& key) {
  const auto id = static_cast<std::uint32_t>(sets_.size());
  set.same_as = id;
  for (const CandidateSet& other : sets_) {
    if (other.pools == set.pools && other.qpu_part == set.qpu_part &&
        SameRejections(other.rejections, set.rejections)) {
      set.same_as = other.same_as;
      break;
    }
  }
  for (std::uint16_t p : set.pools) sets_of_pool_[p].push_back(id);
  // A hybrid job waiting for its QPUs wakes when they are released too.
  if (set.qpu_set != kNoSet) {
    for (std::uint16_t q : sets_[set.qpu_set].pools) sets_of_pool_[q].push_back(id);
  }
  sets_.push_back(std::move(set));
  set_by_key_.emplace(key, id);
  return id;
}

std::uint32_t Admission::QpuSetFor(const model::Job& job, int tenant) {
  const model::Scenario& scenario = ctx_.scenario;
  const int holder = tenant_pool_holder_[tenant];
  std::string key = "Q|" + std::to_string(holder) + '|';
  for (const auto& d : job.datasets) (key += d) += ',';
  key += '|' + std::to_string(job.qpus);
  if (auto it = set_by_key_.find(key); it != set_by_key_.end()) return it->second;
  // Only QPU pools are looked at (the others are not counted as rejected: an
  // explanation names what stops the QPUs). The stack and the accepted models
  // are those of the accelerators: they do not apply.
  CandidateSet set;
  set.qpu_part = true;
  for (std::size_t p = 0; p < scenario.pools.size(); ++p) {
    const model::Pool& pool = scenario.pools[p];
    if (!scenario.accelerators[pool.accelerator_index].qpu()) continue;
    if (holder >= 0) {
      const auto& allowed = scenario.tenants[holder].pools;
      if (std::find(allowed.begin(), allowed.end(), pool.id) == allowed.end()) {
        ++set.rejections.rejected_by_tenant_pools;
        continue;
      }
    }
    if (!scenario.DataMayGoTo(job, scenario.sites[pool.site_index])) {
      ++set.rejections.rejected_by_residency;
      continue;
    }
    if (static_cast<std::int64_t>(job.qpus) > pool.accelerators()) {
      ++set.rejections.rejected_by_model;  // fewer QPUs than it asks for
      continue;
    }
    set.pools.push_back(static_cast<std::uint16_t>(p));
  }
  return AddSet(std::move(set), key);
}

Result<std::uint32_t> Admission::CandidateSetFor(const model::Job& job, int tenant,
                                                 const std::string& region) {
  const model::Scenario& scenario = ctx_.scenario;
  const int holder = tenant_pool_holder_[tenant];
  // A hybrid job's accelerators go only where its QPUs may be.
  const std::uint32_t qpu_set = job.qpus > 0 ? QpuSetFor(job, tenant) : kNoSet;
  // The key is built in a buffer kept across calls: Submit asks for every
  // part of every job, and nearly always finds the set.
  std::string& key = key_scratch_;
  key.clear();
  auto number = [&key](long long v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    key.append(buf, r.ptr);
  };
  number(holder);
  key += '|';
  for (const auto& m : job.accepted_models) (key += m) += ',';
  ((key += '|') += job.stack) += '|';
  for (const auto& d : job.datasets) (key += d) += ',';
  ((key += '|') += region) += '|';
  if (!region.empty()) key += std::to_string(job.latency_slo_ms.at(region));  // a double
  key += '|';
  number(job.accelerators);
  key += '/';
  number(job.accelerators_per_node);
  key += '/';
  number(job.fractional() ? 1 : 0);
  if (qpu_set != kNoSet) {
    key += "|Q";
    number(qpu_set);
  }
  if (auto it = set_by_key_.find(key); it != set_by_key_.end()) return it->second;

  CandidateSet set;
  set.qpu_set = qpu_set;
  for (std::size_t p = 0; p < scenario.pools.size(); ++p) {
    const model::Pool& pool = scenario.pools[p];
    const model::Site& site = scenario.sites[pool.site_index];
    // QPUs run no job's work: they are only ever a hybrid job's QPU part.
    if (scenario.accelerators[pool.accelerator_index].qpu()) {
      ++set.rejections.rejected_by_model;
      continue;
    }
    if (!job.accepted_models.empty() &&
        std::find(job.accepted_models.begin(), job.accepted_models.end(), pool.accelerator) ==
            job.accepted_models.end()) {
      ++set.rejections.rejected_by_model;
      continue;
    }
    if (!scenario.accelerators[pool.accelerator_index].RunsStack(job.stack)) {
      ++set.rejections.rejected_by_stack;
      continue;
    }
    if (holder >= 0) {
      const auto& allowed = scenario.tenants[holder].pools;
      if (std::find(allowed.begin(), allowed.end(), pool.id) == allowed.end()) {
        ++set.rejections.rejected_by_tenant_pools;
        continue;
      }
    }
    if (!scenario.DataMayGoTo(job, site)) {
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
    if (qpu_set != kNoSet) {
      const auto& qpools = sets_[qpu_set].pools;
      const bool has_qpu = std::any_of(qpools.begin(), qpools.end(), [&](std::uint16_t q) {
        return scenario.pools[q].site_index == pool.site_index;
      });
      if (!has_qpu) {
        ++set.rejections.rejected_by_no_qpu;
        continue;
      }
    }
    set.pools.push_back(static_cast<std::uint16_t>(p));
  }
  // Copied: AddSet may move sets_.
  const std::string full_key = key;
  return AddSet(std::move(set), full_key);
}

void Admission::BeginPart() {
  verdict_known_.assign(static_cast<std::size_t>(ctx_.quota.class_count()), false);
  class_quota_.resize(verdict_known_.size());
  class_grant_.resize(verdict_known_.size());
}

bool Admission::Admits(int tenant, std::uint16_t p, const PartShape& shape, Attempt* at) {
  const model::Scenario& scenario = ctx_.scenario;
  QuotaLedger& quota = ctx_.quota;
  const model::Pool& pool = scenario.pools[p];
  if (!ctx_.grid.SiteUp(static_cast<std::size_t>(pool.site_index))) {
    ++at->reason.rejected_by_health;
    return false;
  }
  if (!ctx_.config.backfill && ctx_.pool_blocked_by[p] != kNoJob) {
    at->reason.code = WaitCode::kBlockedBehind;
    at->reason.other_job = ctx_.pool_blocked_by[p];
    return false;
  }
  const int cls = quota.ClassOfPool(p);
  if (!verdict_known_[cls]) {
    class_quota_[cls] = quota.CanAdmit(tenant, cls, shape.total);
    class_grant_[cls] = quota.GrantAllows(tenant, cls, ctx_.now, shape.total);
    verdict_known_[cls] = true;
  }
  const QuotaLedger::Verdict& q = class_quota_[cls];
  if (!q.ok) {
    ++at->reason.rejected_by_quota;
    if (!at->quota_failed) {
      at->reason.tenant = q.tenant;
      at->reason.quota_class = cls;
      at->reason.code = q.code;
    }
    at->quota_failed = true;
    if (q.code == WaitCode::kLenderProtected && quota.WithinGuarantee(tenant, cls, shape.total)) {
      at->reclaim_pools.push_back(p);
    }
    return false;
  }
  const QuotaLedger::Verdict& g = class_grant_[cls];
  if (!g.ok) {
    if (!at->grant_failed && !at->quota_failed) {
      at->reason.tenant = g.tenant;
      at->reason.quota_class = cls;
      at->reason.code = g.code;
    }
    at->grant_failed = true;
    return false;
  }
  const model::Site& site = scenario.sites[pool.site_index];
  if (site.power_budget_kw > 0) {
    const double watts = scenario.accelerators[pool.accelerator_index].power_w *
                         static_cast<double>(shape.total) / kMilliPerAccelerator;
    if (ctx_.grid.SitePowerW(static_cast<std::size_t>(pool.site_index)) + watts >
        site.power_budget_kw * 1000.0) {
      ++at->reason.rejected_by_power;
      return false;
    }
  }
  return true;
}

}  // namespace sovgrid::sched
