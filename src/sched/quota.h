// QuotaLedger: hierarchical quota with borrowing and lending, and grants.
//
// Amounts are in thousandths of an accelerator, per quota class, and a
// tenant's usage includes its whole subtree. Admission of `amount` for tenant
// t is allowed when, for t and every ancestor a:
//   * borrowing limit: usage(a) + amount <= guarantee(a) + borrow_limit(a)
//     (no limit when borrow_limit is absent);
//   * lender protection: among a and its siblings under parent P,
//       usage of the group + amount + sum over siblings s of kept(s) <= cap(P),
//     where kept(s) = max(0, guarantee(s) - lend_limit(s) - usage(s)) is the
//     unused part of a guarantee its owner does not lend (0 without a lend
//     limit), and cap(P) is the grid capacity of the class for top-level
//     tenants, else guarantee(P) + borrow_limit(P) (the capacity when P's
//     borrowing is unlimited). A request that fails only because the group is
//     full is not a quota failure: placement finds the lack of room, and
//     preemption may reclaim borrowed capacity.
// So a tenant always gets its guarantee (reclaiming it from borrowers if
// needed), may borrow what others lend, and never eats the part of a
// guarantee its owner keeps.
//
// Grants: jobs of a tenant whose nearest tenant up the tree with grants is h
// run only while h has a grant that is valid now, covers the class and is not
// spent; once every such grant is spent, h's `on_grant_spent` decides: wait,
// or run within the guarantee (never borrowing). Running jobs consume units
// (accelerator-hours times the model's charge_rate) from the first such grant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"
#include "sched/decision.h"

namespace sovgrid::sched {

class QuotaLedger {
 public:
  explicit QuotaLedger(const model::Scenario& scenario);

  int class_count() const { return static_cast<int>(class_names_.size()); }
  const std::string& class_name(int c) const { return class_names_[c]; }
  int ClassOfPool(int pool) const { return pool_class_[pool]; }
  int FindClass(std::string_view name) const;
  model::Milli Capacity(int c) const { return capacity_[c]; }

  model::Milli Usage(int tenant, int c) const { return usage_[Idx(tenant, c)]; }
  model::Milli DirectUsage(int tenant, int c) const { return direct_[Idx(tenant, c)]; }
  model::Milli Guarantee(int tenant, int c) const { return guarantee_[Idx(tenant, c)]; }
  // guarantee + borrow limit, or -1 when unlimited.
  model::Milli Maximum(int tenant, int c) const;

  struct Verdict {
    bool ok = true;
    WaitCode code = WaitCode::kNotTried;
    int tenant = -1;  // the tenant whose limit stopped it
  };
  Verdict CanAdmit(int tenant, int c, model::Milli amount) const;
  // amount fits inside the guarantee of the tenant and all its ancestors.
  bool WithinGuarantee(int tenant, int c, model::Milli amount) const;
  // The tenant or an ancestor uses more than its guarantee (it borrows).
  bool Borrowing(int tenant, int c) const;

  // Usage of `amount` on pool `pool` (its quota class and its model's
  // charge rate) starts or ends.
  void ChargeOnPool(int tenant, int pool, model::Milli amount);
  void RefundOnPool(int tenant, int pool, model::Milli amount);

  // Replaces a tenant's limits (whole accelerators per class name).
  Status SetLimits(int tenant, const model::ClassAmounts& guarantee,
                   const model::ClassAmounts& borrow_limit, const model::ClassAmounts& lend_limit);

  // Grants.
  // Whether `amount` more of class `c` may start for `tenant` now as far as
  // grants go (kGrantSpent, kGrantInactive or kGrantSpentBeyondGuarantee).
  Verdict GrantAllows(int tenant, int c, model::Time now, model::Milli amount) const;
  // Charges running usage for [from, to) to the grants, in units.
  void Accrue(model::Time from, model::Time to);
  Status SetGrants(int tenant, std::vector<model::Grant> grants);
  double GrantUsedUnits(int tenant, std::size_t grant) const { return grant_used_[tenant][grant]; }
  // Sets what was used of a grant (a restart restores it from usage records).
  // NotFound when `tenant` holds no grant `grant_id`.
  Status SetGrantUsed(int tenant, std::string_view grant_id, double units);
  const std::vector<model::Grant>& Grants(int tenant) const { return grants_[tenant]; }
  int GrantHolder(int tenant) const { return holder_[tenant]; }

 private:
  std::size_t Idx(int tenant, int c) const {
    return static_cast<std::size_t>(tenant) * class_names_.size() + static_cast<std::size_t>(c);
  }
  model::Milli Kept(int tenant, int c) const;
  model::Milli GroupCap(int parent, int c) const;
  void Apply(int tenant, int c, model::Milli delta, double rate);
  void ComputeHolders();

  std::vector<std::string> class_names_;
  std::vector<int> pool_class_;
  std::vector<int> parent_;
  std::vector<model::Milli> capacity_;
  // Per (tenant, class).
  std::vector<model::Milli> guarantee_, borrow_, lend_;  // borrow_/lend_ -1 = unlimited
  std::vector<model::Milli> usage_, direct_;
  std::vector<double> direct_rated_;        // per (tenant, class): sum of milli x charge rate
  std::vector<double> pool_rate_;           // charge rate of each pool's model
  std::vector<bool> guarantee_when_spent_;  // per tenant: on_grant_spent = guarantee
  // Sums over the children of a tenant (index `tenants` = the top level), per class.
  std::vector<model::Milli> group_kept_, group_usage_;
  std::vector<std::vector<model::Grant>> grants_;
  std::vector<std::vector<double>> grant_used_;  // units
  std::vector<int> holder_;                      // nearest tenant up the tree with grants, or -1
};

}  // namespace sovgrid::sched
