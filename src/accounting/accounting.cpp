#include "accounting/accounting.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "model/scenario.h"

namespace sovgrid::accounting {
namespace {

using model::kMilliPerAccelerator;
using model::Time;

constexpr Time kDay = model::kSecondsPerDay;

int GrantHolder(const model::Scenario& scenario, const GrantsOf& grants, int tenant) {
  for (int t = tenant; t >= 0; t = scenario.tenants[static_cast<std::size_t>(t)].parent_index) {
    if (!grants(t).empty()) return t;
  }
  return -1;
}

bool Covers(const model::Grant& g, const std::string& quota_class) {
  return g.quota_class.empty() || g.quota_class == quota_class;
}

double Round(double v) {
  return static_cast<double>(static_cast<std::int64_t>(v * 1e6 + (v < 0 ? -0.5 : 0.5))) / 1e6;
}

nlohmann::json RowJson(const Grouping& g, const std::string& key, const UsageSum& s) {
  nlohmann::json row = {{"accelerator_hours", Round(s.accelerator_seconds / 3600.0)},
                        {"charged_units", Round(s.charged_units)},
                        {"energy_kwh", Round(s.energy_kwh)},
                        {"lost_accelerator_hours", Round(s.lost_accelerator_seconds / 3600.0)},
                        {"jobs", s.jobs},
                        {"segments", s.segments}};
  if (g.paired) {
    const std::size_t cut = key.find(kKeySeparator);
    row[std::string(GroupByName(g.first))] = key.substr(0, cut);
    row[std::string(GroupByName(g.second))] =
        cut == std::string::npos ? std::string() : key.substr(cut + 1);
  } else {
    row[std::string(GroupByName(g.first))] = key;
  }
  return row;
}

}  // namespace

std::vector<UsagePiece> SplitSegmentPieces(const model::Scenario& scenario, const GrantsOf& grants,
                                           const RunSegment& seg) {
  std::vector<UsagePiece> out;
  if (seg.end <= seg.start || seg.parts.empty()) return out;
  const int holder = GrantHolder(scenario, grants, seg.tenant);
  model::Milli total_milli = 0;
  for (const auto& p : seg.parts) total_milli += p.milli;
  bool job_counted = !seg.final;
  for (std::size_t pi = 0; pi < seg.parts.size(); ++pi) {
    const RunSegment::Part& part = seg.parts[pi];
    const model::Pool& pool = scenario.pools[static_cast<std::size_t>(part.pool)];
    const model::AcceleratorModel& acc =
        scenario.accelerators[static_cast<std::size_t>(pool.accelerator_index)];
    // Cut points: UTC midnights and the windows of the grants that may apply.
    std::vector<Time> cuts = {seg.start, seg.end};
    for (Time d = (model::DayOf(seg.start) + 1) * kDay; d < seg.end; d += kDay) cuts.push_back(d);
    const std::vector<model::Grant>* held = holder >= 0 ? &grants(holder) : nullptr;
    if (held != nullptr) {
      for (const auto& g : *held) {
        if (!Covers(g, acc.quota_class)) continue;
        for (Time t : {g.valid_from, g.valid_until}) {
          if (t > seg.start && t < seg.end) cuts.push_back(t);
        }
      }
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    const double accelerators = static_cast<double>(part.milli) / kMilliPerAccelerator;
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
      UsagePiece r;
      r.part = static_cast<int>(pi);
      r.start = cuts[i];
      r.end = cuts[i + 1];
      if (held != nullptr) {
        for (std::size_t g = 0; g < held->size(); ++g) {
          const model::Grant& grant = (*held)[g];
          if (Covers(grant, acc.quota_class) && r.start >= grant.valid_from &&
              r.start < grant.valid_until) {
            r.grant_holder = holder;
            r.grant = static_cast<int>(g);
            break;
          }
        }
      }
      const double seconds = static_cast<double>(r.end - r.start);
      r.accelerator_seconds = accelerators * seconds;
      r.charged_units = r.accelerator_seconds / 3600.0 * acc.charge_rate;
      r.energy_kwh = acc.power_w * r.accelerator_seconds / 3600.0 / 1000.0;
      if (i + 2 == cuts.size() && total_milli > 0) {
        r.lost_accelerator_seconds = seg.lost_accelerator_seconds *
                                     static_cast<double>(part.milli) /
                                     static_cast<double>(total_milli);
      }
      if (!job_counted && i + 2 == cuts.size()) {
        r.job_ended = true;  // on the first part's last record: the job's end
        job_counted = true;
      }
      out.push_back(r);
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.start < b.start; });
  return out;
}

std::vector<model::UsageRecord> SplitSegment(const model::Scenario& scenario,
                                             const GrantsOf& grants, const RunSegment& seg) {
  std::vector<model::UsageRecord> out;
  const std::vector<UsagePiece> pieces = SplitSegmentPieces(scenario, grants, seg);
  out.reserve(pieces.size());
  const std::string& tenant = scenario.tenants[static_cast<std::size_t>(seg.tenant)].id;
  for (const UsagePiece& piece : pieces) {
    const int p = seg.parts[static_cast<std::size_t>(piece.part)].pool;
    const model::Pool& pool = scenario.pools[static_cast<std::size_t>(p)];
    const model::Site& site = scenario.sites[static_cast<std::size_t>(pool.site_index)];
    model::UsageRecord r;
    r.job = seg.job;
    r.tenant = tenant;
    r.pool = pool.id;
    r.site = site.id;
    r.operator_name = site.operator_name;
    r.model = scenario.accelerators[static_cast<std::size_t>(pool.accelerator_index)].name;
    r.milli = seg.parts[static_cast<std::size_t>(piece.part)].milli;
    r.start = piece.start;
    r.end = piece.end;
    if (piece.grant_holder >= 0) {
      r.grant_holder = scenario.tenants[static_cast<std::size_t>(piece.grant_holder)].id;
      r.grant = grants(piece.grant_holder)[static_cast<std::size_t>(piece.grant)].id;
    }
    r.accelerator_seconds = piece.accelerator_seconds;
    r.charged_units = piece.charged_units;
    r.energy_kwh = piece.energy_kwh;
    r.lost_accelerator_seconds = piece.lost_accelerator_seconds;
    r.end_reason = seg.end_reason;
    r.job_ended = piece.job_ended;
    out.push_back(std::move(r));
  }
  return out;
}

UsageSum UsagePiece::Sum() const {
  UsageSum s;
  s.accelerator_seconds = accelerator_seconds;
  s.charged_units = charged_units;
  s.energy_kwh = energy_kwh;
  s.lost_accelerator_seconds = lost_accelerator_seconds;
  s.jobs = job_ended ? 1 : 0;
  s.segments = 1;
  return s;
}

void UsageSum::Add(const UsageSum& o) {
  accelerator_seconds += o.accelerator_seconds;
  charged_units += o.charged_units;
  energy_kwh += o.energy_kwh;
  lost_accelerator_seconds += o.lost_accelerator_seconds;
  jobs += o.jobs;
  segments += o.segments;
}

UsageSum SumOf(const model::UsageRecord& r) {
  UsageSum s;
  s.accelerator_seconds = r.accelerator_seconds;
  s.charged_units = r.charged_units;
  s.energy_kwh = r.energy_kwh;
  s.lost_accelerator_seconds = r.lost_accelerator_seconds;
  s.jobs = r.job_ended ? 1 : 0;
  s.segments = 1;
  return s;
}

UsageSum ClippedSumOf(const model::UsageRecord& r, Time from, Time until) {
  if (r.start >= from && r.end <= until) return SumOf(r);
  const Time a = std::max(r.start, from);
  const Time b = std::min(r.end, until);
  UsageSum s;
  if (b <= a || r.end <= r.start) return s;
  const double f = static_cast<double>(b - a) / static_cast<double>(r.end - r.start);
  s.accelerator_seconds = r.accelerator_seconds * f;
  s.charged_units = r.charged_units * f;
  s.energy_kwh = r.energy_kwh * f;
  // Lost work belongs to the segment's end.
  s.lost_accelerator_seconds = r.end <= until ? r.lost_accelerator_seconds : 0;
  s.jobs = r.job_ended && r.end <= until ? 1 : 0;  // a job counts where it ends
  s.segments = 1;
  return s;
}

std::optional<GroupBy> ParseGroupBy(std::string_view w) {
  for (GroupBy g : {GroupBy::kTenant, GroupBy::kGrant, GroupBy::kPool, GroupBy::kSite,
                    GroupBy::kOperator, GroupBy::kModel, GroupBy::kDay}) {
    if (GroupByName(g) == w) return g;
  }
  return std::nullopt;
}

std::string_view GroupByName(GroupBy g) {
  switch (g) {
    case GroupBy::kTenant:
      return "tenant";
    case GroupBy::kGrant:
      return "grant";
    case GroupBy::kPool:
      return "pool";
    case GroupBy::kSite:
      return "site";
    case GroupBy::kOperator:
      return "operator";
    case GroupBy::kModel:
      return "model";
    case GroupBy::kDay:
      return "day";
  }
  return "tenant";
}

std::string_view GroupByChoices() { return "tenant|grant|pool|site|operator|model|day"; }

std::optional<Grouping> ParseGrouping(std::string_view words) {
  const std::size_t comma = words.find(',');
  if (comma == std::string_view::npos) {
    auto g = ParseGroupBy(words);
    if (!g) return std::nullopt;
    return Grouping(*g);
  }
  auto a = ParseGroupBy(words.substr(0, comma));
  auto b = ParseGroupBy(words.substr(comma + 1));
  if (!a || !b || *a == *b) return std::nullopt;
  return Grouping(*a, *b);
}

std::string GroupingName(const Grouping& g) {
  std::string out(GroupByName(g.first));
  if (g.paired) out.append(",").append(GroupByName(g.second));
  return out;
}

std::string GroupingChoices() {
  return std::string(GroupByChoices()) + ", or two of them separated by a comma (day,tenant)";
}

std::string DayString(std::int64_t day) {
  // Civil from days (Howard Hinnant), the inverse of model::DaysFromCivil.
  const std::int64_t z = day + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

namespace {
std::string KeyOf(GroupBy g, std::int64_t day, const std::string& tenant, const std::string& holder,
                  const std::string& grant, const std::string& pool, const std::string& site,
                  const std::string& op, const std::string& model) {
  switch (g) {
    case GroupBy::kTenant:
      return tenant;
    case GroupBy::kGrant:
      return grant.empty() ? std::string() : holder + "/" + grant;
    case GroupBy::kPool:
      return pool;
    case GroupBy::kSite:
      return site;
    case GroupBy::kOperator:
      return op;
    case GroupBy::kModel:
      return model;
    case GroupBy::kDay:
      return DayString(day);
  }
  return tenant;
}
}  // namespace

void ReportBuilder::AddTo(std::string key, const UsageSum& s) {
  const auto [it, added] = index_.try_emplace(key, rows_.size());
  if (!added) {
    rows_[it->second].sum.Add(s);
    return;
  }
  rows_.push_back({std::move(key), s});
}

namespace {
std::string GroupKey(const Grouping& g, std::int64_t day, const std::string& tenant,
                     const std::string& holder, const std::string& grant, const std::string& pool,
                     const std::string& site, const std::string& op, const std::string& model) {
  std::string key = KeyOf(g.first, day, tenant, holder, grant, pool, site, op, model);
  if (g.paired) {
    key.push_back(kKeySeparator);
    key += KeyOf(g.second, day, tenant, holder, grant, pool, site, op, model);
  }
  return key;
}
}  // namespace

void ReportBuilder::Add(const DailyUsage& d) {
  AddTo(GroupKey(group_by_, d.day, d.tenant, d.grant_holder, d.grant, d.pool, d.site,
                 d.operator_name, d.model),
        d.sum);
}

void ReportBuilder::Add(const model::UsageRecord& r, Time from, Time until) {
  const UsageSum s = ClippedSumOf(r, from, until);
  if (s.segments == 0) return;
  AddTo(GroupKey(group_by_, r.day(), r.tenant, r.grant_holder, r.grant, r.pool, r.site,
                 r.operator_name, r.model),
        s);
}

std::vector<ReportRow> ReportBuilder::Rows() const {
  std::vector<ReportRow> rows = rows_;
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return rows;
}

std::string ReportJson(const Grouping& g, Time from, Time until,
                       const std::vector<ReportRow>& rows) {
  nlohmann::json out = {{"group_by", GroupingName(g)}, {"from", from}, {"until", until}};
  nlohmann::json list = nlohmann::json::array();
  UsageSum total;
  for (const auto& r : rows) {
    list.push_back(RowJson(g, r.key, r.sum));
    total.Add(r.sum);
  }
  out["rows"] = std::move(list);
  nlohmann::json t = RowJson(g, "", total);
  t.erase(std::string(GroupByName(g.first)));
  if (g.paired) t.erase(std::string(GroupByName(g.second)));
  out["total"] = std::move(t);
  return out.dump();
}

std::string ReportCsv(const Grouping& g, const std::vector<ReportRow>& rows) {
  std::string out = GroupingName(g) +
                    ",accelerator_hours,charged_units,energy_kwh,lost_accelerator_hours,jobs,"
                    "segments\n";
  char buf[256];
  for (const auto& r : rows) {
    // Keys are ids (no commas or quotes by the scenario's rules) or dates.
    std::snprintf(buf, sizeof buf, ",%.6f,%.6f,%.6f,%.6f,%lld,%lld\n",
                  r.sum.accelerator_seconds / 3600.0, r.sum.charged_units, r.sum.energy_kwh,
                  r.sum.lost_accelerator_seconds / 3600.0, static_cast<long long>(r.sum.jobs),
                  static_cast<long long>(r.sum.segments));
    if (g.paired) {
      std::string key = r.key;
      std::replace(key.begin(), key.end(), kKeySeparator, ',');
      out += key;
    } else {
      out += r.key;
    }
    out += buf;
  }
  return out;
}

GrantBurnDown BurnDown(const std::string& holder, const model::Grant& grant, double used,
                       double recent_units, model::Duration window_s, Time now) {
  GrantBurnDown b;
  b.holder = holder;
  b.grant = grant.id;
  b.quota_class = grant.quota_class;
  b.valid_from = grant.valid_from;
  b.valid_until = grant.valid_until;
  b.granted = grant.units;
  b.used = used;
  b.left = std::max(0.0, grant.units - used);
  const Time window_start = std::max(now - window_s, grant.valid_from);
  const double span = static_cast<double>(now - window_start);
  if (span > 0 && recent_units > 0) {
    b.units_per_day = recent_units / span * 86400.0;
    if (b.left <= 0) {
      b.projected_exhaustion = now;
    } else {
      const double t = static_cast<double>(now) + b.left / recent_units * span;
      if (t < static_cast<double>(grant.valid_until)) b.projected_exhaustion = static_cast<Time>(t);
    }
  }
  return b;
}

}  // namespace sovgrid::accounting
