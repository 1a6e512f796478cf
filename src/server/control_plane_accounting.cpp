// ControlPlane's accounting: run segments of running jobs, their usage
// records (committed with the state change that ends each segment), reports
// and grant burn-down. See accounting/accounting.h for the charging rule.
#include <algorithm>
#include <limits>
#include <map>

#include "server/control_plane.h"

namespace sovgrid::server {
namespace {

using model::Time;

constexpr Time kDay = model::kSecondsPerDay;
constexpr Time kBurnWindow = 7 * kDay;  // the recent rate of a grant's burn-down
constexpr Time kMaxReportSpan = 3660 * kDay;

bool Wanted(const std::vector<std::string>& tenants, const std::string& t) {
  return tenants.empty() || std::find(tenants.begin(), tenants.end(), t) != tenants.end();
}

}  // namespace

void ControlPlane::OpenSegment(const std::string& job, Time start,
                               const std::vector<sched::NodeAssignment>& assignment) {
  if (!options_.accounting) return;
  Segment seg;
  seg.start = start;
  const sched::GridState& grid = scheduler_->grid();
  for (const auto& a : assignment) {
    const int pool = static_cast<int>(grid.node(a.node).pool);
    const model::Milli milli =
        a.milli_per_accelerator * static_cast<model::Milli>(a.accelerators.size());
    auto it = std::find_if(seg.parts.begin(), seg.parts.end(),
                           [&](const auto& p) { return p.pool == pool; });
    if (it == seg.parts.end()) {
      seg.parts.push_back({pool, milli});
    } else {
      it->milli += milli;
    }
  }
  segments_[job] = std::move(seg);
}

std::vector<model::UsageRecord> ControlPlane::CloseSegment(const std::string& job, Time end,
                                                           const char* end_reason, bool lost,
                                                           bool final) {
  // Every end of a run (finish, failure, preemption, requeue, cancel) closes its segment here.
  start_order_.erase(job);
  auto it = segments_.find(job);
  if (it == segments_.end()) return {};
  accounting::RunSegment seg;
  seg.job = job;
  seg.start = it->second.start;
  seg.end = end;
  seg.parts = std::move(it->second.parts);
  seg.end_reason = end_reason;
  seg.final = final;
  segments_.erase(it);
  auto view = scheduler_->Job(job);
  if (!view.ok()) return {};
  seg.tenant = view->tenant;
  if (lost && end > seg.start) {
    const model::Duration ran = end - seg.start;
    const model::Duration ckpt = view->spec->checkpoint_interval_s;
    model::Milli milli = 0;
    for (const auto& p : seg.parts) milli += p.milli;
    seg.lost_accelerator_seconds = static_cast<double>(ckpt > 0 ? ran % ckpt : ran) *
                                   static_cast<double>(milli) / model::kMilliPerAccelerator;
  }
  auto records = SplitWithLedgerGrants(seg);
  charged_units_.resize(scenario_.tenants.size(), 0.0);
  for (const auto& r : records)
    charged_units_[static_cast<std::size_t>(seg.tenant)] += r.charged_units;
  return records;
}

std::vector<model::UsageRecord> ControlPlane::SplitWithLedgerGrants(
    const accounting::RunSegment& seg) const {
  const sched::QuotaLedger& quota = scheduler_->quota();
  return accounting::SplitSegment(
      scenario_, [&](int t) -> const std::vector<model::Grant>& { return quota.Grants(t); }, seg);
}

std::vector<model::UsageRecord> ControlPlane::OpenSegmentUsage(const std::string& job,
                                                               const Segment& seg, Time now) const {
  auto view = scheduler_->Job(job);
  if (!view.ok()) return {};
  accounting::RunSegment open;
  open.job = job;
  open.tenant = view->tenant;
  open.parts = seg.parts;
  open.start = seg.start;
  open.end = now;
  open.end_reason = "running";
  return SplitWithLedgerGrants(open);
}

Status ControlPlane::RestoreGrantUsage(Time now) {
  // Every day's sums from the first day with usage: grants are charged in
  // records, so what the records say is what was used.
  auto days = store_->DailyUsageBetween(std::numeric_limits<std::int64_t>::min() / 2,
                                        std::numeric_limits<std::int64_t>::max() / 2);
  if (!days.ok()) return days.status();
  std::map<std::pair<std::string, std::string>, double> used;
  for (const auto& d : *days) {
    if (!d.grant.empty()) used[{d.grant_holder, d.grant}] += d.sum.charged_units;
  }
  for (const auto& [job, seg] : segments_) {
    for (const auto& r : OpenSegmentUsage(job, seg, now)) {
      if (!r.grant.empty()) used[{r.grant_holder, r.grant}] += r.charged_units;
    }
  }
  for (const auto& [key, units] : used) {
    // A grant removed since (by an administrator) is not the ledger's any more.
    (void)scheduler_->SetGrantUsed(key.first, key.second, units);
  }
  return Status::Ok();
}

Result<std::vector<accounting::ReportRow>> ControlPlane::AccountingReport(const AccountingQuery& q,
                                                                          Time now) {
  if (q.until <= q.from) return InvalidArgument("until: expected a time after from");
  if (q.until - q.from > kMaxReportSpan)
    return InvalidArgument("until: a report covers at most 3660 days");
  accounting::ReportBuilder report(q.group_by);
  // Whole days from the daily sums; the partial days at either end from the
  // records, clipped and summed by the store.
  const std::int64_t first_whole = model::DayOf(q.from + kDay - 1);
  // A record ends by `now` at the latest, so when `until` is not before now
  // the day that holds `until` has nothing after it: its daily sums are its
  // part of the period (a live report up to now reads no records).
  const std::int64_t last_whole =
      q.until >= now ? model::DayOf(q.until - 1) : model::DayOf(q.until) - 1;
  auto add = [&](const Result<std::vector<accounting::DailyUsage>>& rows) -> Status {
    if (!rows.ok()) return rows.status();
    for (const auto& d : *rows) {
      if (Wanted(q.tenants, d.tenant)) report.Add(d);
    }
    return Status::Ok();
  };
  auto add_partial = [&](Time from, Time until) -> Status {
    if (until <= from) return Status::Ok();
    return add(store_->ClippedUsageBetween(from, until));
  };
  if (first_whole > last_whole) {
    if (Status s = add_partial(q.from, q.until); !s.ok()) return s;
  } else {
    if (Status s = add(store_->DailyUsageBetween(first_whole, last_whole)); !s.ok()) return s;
    if (Status s = add_partial(q.from, first_whole * kDay); !s.ok()) return s;
    if (Status s = add_partial((last_whole + 1) * kDay, q.until); !s.ok()) return s;
  }
  // Running jobs' open segments, counted up to now.
  std::lock_guard lock(mu_);
  for (const auto& [job, seg] : segments_) {
    if (seg.start >= q.until || now <= q.from || now <= seg.start) continue;
    for (const auto& r : OpenSegmentUsage(job, seg, now)) {
      if (Wanted(q.tenants, r.tenant)) report.Add(r, q.from, q.until);
    }
  }
  return report.Rows();
}

Result<std::vector<accounting::GrantBurnDown>> ControlPlane::GrantBurnDowns(
    const std::vector<std::string>& tenants, Time now) {
  // Units charged to each grant in the last window, from the records (the
  // partial first day too) and the open segments.
  AccountingQuery recent;
  recent.from = now - kBurnWindow;
  recent.until = now;
  recent.group_by = accounting::GroupBy::kGrant;
  auto rows = AccountingReport(recent, now);
  if (!rows.ok()) return rows.status();
  std::map<std::string, double> recent_units;
  for (const auto& r : *rows) recent_units[r.key] = r.sum.charged_units;
  std::lock_guard lock(mu_);
  const sched::QuotaLedger& quota = scheduler_->quota();
  std::vector<accounting::GrantBurnDown> out;
  for (std::size_t t = 0; t < scenario_.tenants.size(); ++t) {
    const std::string& id = scenario_.tenants[t].id;
    if (!Wanted(tenants, id)) continue;
    const auto& grants = quota.Grants(static_cast<int>(t));
    for (std::size_t g = 0; g < grants.size(); ++g) {
      const auto it = recent_units.find(id + "/" + grants[g].id);
      out.push_back(
          accounting::BurnDown(id, grants[g], quota.GrantUsedUnits(static_cast<int>(t), g),
                               it == recent_units.end() ? 0.0 : it->second, kBurnWindow, now));
    }
  }
  return out;
}

std::vector<ControlPlane::TopLevelUsage> ControlPlane::TopLevelUsages() {
  std::lock_guard lock(mu_);
  const sched::QuotaLedger& quota = scheduler_->quota();
  const std::vector<std::size_t> pending = scheduler_->PendingPerTenant();
  std::vector<TopLevelUsage> out;
  std::vector<int> row_of(scenario_.tenants.size(), -1);
  for (std::size_t t = 0; t < scenario_.tenants.size(); ++t) {
    if (scenario_.tenants[t].parent_index >= 0) continue;
    row_of[t] = static_cast<int>(out.size());
    TopLevelUsage u;
    u.tenant = scenario_.tenants[t].id;
    for (int c = 0; c < quota.class_count(); ++c)
      u.accelerators += static_cast<double>(quota.Usage(static_cast<int>(t), c)) / 1000.0;
    out.push_back(std::move(u));
  }
  for (std::size_t t = 0; t < scenario_.tenants.size(); ++t) {
    int top = static_cast<int>(t);
    while (scenario_.tenants[static_cast<std::size_t>(top)].parent_index >= 0)
      top = scenario_.tenants[static_cast<std::size_t>(top)].parent_index;
    TopLevelUsage& row = out[static_cast<std::size_t>(row_of[static_cast<std::size_t>(top)])];
    row.pending += static_cast<std::int64_t>(pending[t]);
    if (t < charged_units_.size()) row.charged_units += charged_units_[t];
  }
  return out;
}

}  // namespace sovgrid::server
