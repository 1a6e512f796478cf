#include "sched/quota.h"

#include <algorithm>
#include <cassert>

namespace sovgrid::sched {

using model::kMilliPerAccelerator;
using model::Milli;

QuotaLedger::QuotaLedger(const model::Scenario& scenario) {
  for (const auto& a : scenario.accelerators) {
    if (FindClass(a.quota_class) < 0) class_names_.push_back(a.quota_class);
  }
  const std::size_t classes = class_names_.size();
  capacity_.assign(classes, 0);
  for (const auto& p : scenario.pools) {
    const int c = FindClass(scenario.accelerators[p.accelerator_index].quota_class);
    pool_class_.push_back(c);
    pool_rate_.push_back(scenario.accelerators[p.accelerator_index].charge_rate);
    capacity_[c] += p.accelerators() * kMilliPerAccelerator;
  }
  const std::size_t tenants = scenario.tenants.size();
  for (const auto& t : scenario.tenants) parent_.push_back(t.parent_index);
  guarantee_.assign(tenants * classes, 0);
  borrow_.assign(tenants * classes, -1);
  lend_.assign(tenants * classes, -1);
  usage_.assign(tenants * classes, 0);
  direct_.assign(tenants * classes, 0);
  direct_rated_.assign(tenants * classes, 0.0);
  guarantee_when_spent_.assign(tenants, false);
  group_kept_.assign((tenants + 1) * classes, 0);
  group_usage_.assign((tenants + 1) * classes, 0);
  grants_.resize(tenants);
  grant_used_.resize(tenants);
  for (std::size_t t = 0; t < tenants; ++t) {
    const auto& spec = scenario.tenants[t];
    Status s = SetLimits(static_cast<int>(t), spec.guarantee, spec.borrow_limit, spec.lend_limit);
    assert(s.ok() && "scenario was validated");
    (void)s;
    grants_[t] = spec.grants;
    grant_used_[t].assign(spec.grants.size(), 0.0);
    guarantee_when_spent_[t] = spec.on_grant_spent == model::Tenant::OnGrantSpent::kGuarantee;
  }
  ComputeHolders();
}

int QuotaLedger::FindClass(std::string_view name) const {
  for (std::size_t i = 0; i < class_names_.size(); ++i) {
    if (class_names_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

Milli QuotaLedger::Maximum(int tenant, int c) const {
  const Milli b = borrow_[Idx(tenant, c)];
  return b < 0 ? -1 : guarantee_[Idx(tenant, c)] + b;
}

Milli QuotaLedger::Kept(int tenant, int c) const {
  const std::size_t i = Idx(tenant, c);
  if (lend_[i] < 0) return 0;
  return std::max<Milli>(0, guarantee_[i] - lend_[i] - usage_[i]);
}

Milli QuotaLedger::GroupCap(int parent, int c) const {
  if (parent < 0) return capacity_[c];
  const Milli max = Maximum(parent, c);
  return max < 0 ? capacity_[c] : max;
}

QuotaLedger::Verdict QuotaLedger::CanAdmit(int tenant, int c, Milli amount) const {
  const std::size_t classes = class_names_.size();
  for (int at = tenant; at >= 0; at = parent_[at]) {
    const Milli after = usage_[Idx(at, c)] + amount;
    const Milli max = Maximum(at, c);
    if (max >= 0 && after > max) return {false, WaitCode::kBorrowLimit, at};
    const int p = parent_[at];
    const std::size_t group = static_cast<std::size_t>(p < 0 ? parent_.size() : p) * classes + c;
    const Milli kept_by_others = group_kept_[group] - Kept(at, c);
    const Milli group_after = group_usage_[group] + amount;
    // Only the kept guarantees stop it; a plain lack of room is for placement to find.
    if (group_after <= GroupCap(p, c) && group_after + kept_by_others > GroupCap(p, c)) {
      return {false, WaitCode::kLenderProtected, at};
    }
  }
  return {};
}

bool QuotaLedger::WithinGuarantee(int tenant, int c, Milli amount) const {
  for (int at = tenant; at >= 0; at = parent_[at]) {
    if (usage_[Idx(at, c)] + amount > guarantee_[Idx(at, c)]) return false;
  }
  return true;
}

bool QuotaLedger::Borrowing(int tenant, int c) const {
  for (int at = tenant; at >= 0; at = parent_[at]) {
    if (usage_[Idx(at, c)] > guarantee_[Idx(at, c)]) return true;
  }
  return false;
}

void QuotaLedger::Apply(int tenant, int c, Milli delta, double rate) {
  const std::size_t classes = class_names_.size();
  direct_[Idx(tenant, c)] += delta;
  direct_rated_[Idx(tenant, c)] += static_cast<double>(delta) * rate;
  for (int at = tenant; at >= 0; at = parent_[at]) {
    const int p = parent_[at];
    const std::size_t group = static_cast<std::size_t>(p < 0 ? parent_.size() : p) * classes + c;
    group_kept_[group] -= Kept(at, c);
    usage_[Idx(at, c)] += delta;
    group_usage_[group] += delta;
    assert(usage_[Idx(at, c)] >= 0 && "quota usage went negative");
    group_kept_[group] += Kept(at, c);
  }
}

void QuotaLedger::ChargeOnPool(int tenant, int pool, Milli amount) {
  Apply(tenant, pool_class_[pool], amount, pool_rate_[pool]);
}
void QuotaLedger::RefundOnPool(int tenant, int pool, Milli amount) {
  Apply(tenant, pool_class_[pool], -amount, pool_rate_[pool]);
}

Status QuotaLedger::SetLimits(int tenant, const model::ClassAmounts& guarantee,
                              const model::ClassAmounts& borrow_limit,
                              const model::ClassAmounts& lend_limit) {
  for (const auto* m : {&guarantee, &borrow_limit, &lend_limit}) {
    for (const auto& [cls, n] : *m) {
      if (FindClass(cls) < 0) return NotFound("unknown quota class '" + cls + "'");
      if (n < 0)
        return InvalidArgument("quota class '" + cls + "': expected a non-negative amount");
    }
  }
  const std::size_t classes = class_names_.size();
  const int p = parent_[tenant];
  for (std::size_t c = 0; c < classes; ++c) {
    const std::size_t group = static_cast<std::size_t>(p < 0 ? parent_.size() : p) * classes + c;
    group_kept_[group] -= Kept(tenant, static_cast<int>(c));
    auto get = [&](const model::ClassAmounts& m, Milli absent) {
      auto it = m.find(class_names_[c]);
      return it == m.end() ? absent : it->second * kMilliPerAccelerator;
    };
    guarantee_[Idx(tenant, static_cast<int>(c))] = get(guarantee, 0);
    borrow_[Idx(tenant, static_cast<int>(c))] = get(borrow_limit, -1);
    lend_[Idx(tenant, static_cast<int>(c))] = get(lend_limit, -1);
    group_kept_[group] += Kept(tenant, static_cast<int>(c));
  }
  return Status::Ok();
}

void QuotaLedger::ComputeHolders() {
  holder_.assign(parent_.size(), -1);
  for (std::size_t t = 0; t < parent_.size(); ++t) {
    for (int at = static_cast<int>(t); at >= 0; at = parent_[at]) {
      if (!grants_[at].empty()) {
        holder_[t] = at;
        break;
      }
    }
  }
}

QuotaLedger::Verdict QuotaLedger::GrantAllows(int tenant, int c, model::Time now,
                                              Milli amount) const {
  const int h = holder_[tenant];
  if (h < 0) return {};
  bool any_valid = false;
  for (std::size_t g = 0; g < grants_[h].size(); ++g) {
    const auto& grant = grants_[h][g];
    if (!grant.quota_class.empty() && grant.quota_class != class_names_[c]) continue;
    if (now < grant.valid_from || now >= grant.valid_until) continue;
    any_valid = true;
    if (grant_used_[h][g] < grant.units) return {};
  }
  if (!any_valid) return {false, WaitCode::kGrantInactive, h};
  if (guarantee_when_spent_[h]) {
    if (WithinGuarantee(tenant, c, amount)) return {};
    return {false, WaitCode::kGrantSpentBeyondGuarantee, h};
  }
  return {false, WaitCode::kGrantSpent, h};
}

void QuotaLedger::Accrue(model::Time from, model::Time to) {
  if (to <= from) return;
  const double hours = static_cast<double>(to - from) / 3600.0;
  const std::size_t classes = class_names_.size();
  for (std::size_t t = 0; t < parent_.size(); ++t) {
    const int h = holder_[t];
    if (h < 0) continue;
    for (std::size_t c = 0; c < classes; ++c) {
      const double rated = direct_rated_[Idx(static_cast<int>(t), static_cast<int>(c))];
      if (rated <= 0) continue;
      double owed = rated / kMilliPerAccelerator * hours;
      for (std::size_t g = 0; g < grants_[h].size() && owed > 0; ++g) {
        const auto& grant = grants_[h][g];
        if (!grant.quota_class.empty() && grant.quota_class != class_names_[c]) continue;
        if (from < grant.valid_from || from >= grant.valid_until) continue;
        const double take = std::min(owed, grant.units - grant_used_[h][g]);
        if (take <= 0) continue;
        grant_used_[h][g] += take;
        owed -= take;
      }
      // A job started on a grant runs to its end; hours beyond the grant are
      // charged to the last applicable grant so that overuse stays visible.
      if (owed > 0) {
        for (std::size_t g = grants_[h].size(); g-- > 0;) {
          const auto& grant = grants_[h][g];
          if (!grant.quota_class.empty() && grant.quota_class != class_names_[c]) continue;
          grant_used_[h][g] += owed;
          break;
        }
      }
    }
  }
}

Status QuotaLedger::SetGrantUsed(int tenant, std::string_view grant_id, double units) {
  for (std::size_t g = 0; g < grants_[tenant].size(); ++g) {
    if (grants_[tenant][g].id == grant_id) {
      grant_used_[tenant][g] = units;
      return Status::Ok();
    }
  }
  return NotFound("grant '" + std::string(grant_id) + "' not found");
}

Status QuotaLedger::SetGrants(int tenant, std::vector<model::Grant> grants) {
  for (const auto& g : grants) {
    if (!g.quota_class.empty() && FindClass(g.quota_class) < 0) {
      return NotFound("grant '" + g.id + "': unknown quota class '" + g.quota_class + "'");
    }
    if (g.valid_until <= g.valid_from) return InvalidArgument("grant '" + g.id + "': empty window");
    if (g.units <= 0) return InvalidArgument("grant '" + g.id + "': no hours");
  }
  // Keep what was already used of grants that keep their id.
  std::vector<double> used(grants.size(), 0.0);
  for (std::size_t i = 0; i < grants.size(); ++i) {
    for (std::size_t j = 0; j < grants_[tenant].size(); ++j) {
      if (grants_[tenant][j].id == grants[i].id) used[i] = grant_used_[tenant][j];
    }
  }
  grants_[tenant] = std::move(grants);
  grant_used_[tenant] = std::move(used);
  ComputeHolders();
  return Status::Ok();
}

}  // namespace sovgrid::sched
