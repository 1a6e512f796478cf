// Accounting: run segments cut into usage records, records summed into
// reports grouped by tenant, grant, pool, site, operator, model or day, and
// grant burn-down. Shared by the daemon (records kept in the store) and the
// twin (records of a simulated period), so planned and actual usage compare
// like for like.
//
// Charging rule: a record is charged to the grant of the job's grant holder
// (the nearest tenant up the tree, the job's own tenant first, that has
// grants) that comes first in the holder's list among those valid at the
// record's start and covering the pool's quota class; none when no grant
// applies (no holder, or a holder running on its guarantee after its grants
// are spent). Units are accelerator-hours times the model's charge_rate.
//
// Pure functions and value types; no I/O, no threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/scenario.h"
#include "model/usage.h"

namespace sovgrid::accounting {

// A run segment as the caller knows it, before it is cut into records.
struct RunSegment {
  struct Part {
    int pool = -1;  // index into the scenario's pools
    model::Milli milli = 0;
  };
  std::string job;
  int tenant = -1;  // index into the scenario's tenants
  std::vector<Part> parts;
  model::Time start = 0;
  model::Time end = 0;     // > start; for an open segment, the time it is counted up to
  std::string end_reason;  // as UsageRecord::end_reason
  double lost_accelerator_seconds = 0;  // spread over the parts by their share
  bool final = false;  // the segment ends the job (finished, failed, cancelled): counts it once
};

// The grants of tenant `t` in force (the scheduler's, which admins may have
// changed since the scenario was loaded).
using GrantsOf = std::function<const std::vector<model::Grant>&(int tenant)>;

// Cuts a segment into records, one per part, UTC day and charged grant, in
// time order. Segments with end <= start give no record.
std::vector<model::UsageRecord> SplitSegment(const model::Scenario& scenario,
                                             const GrantsOf& grants, const RunSegment& segment);

// The additive figures of a set of records.
struct UsageSum {
  double accelerator_seconds = 0;
  double charged_units = 0;
  double energy_kwh = 0;
  double lost_accelerator_seconds = 0;
  std::int64_t jobs = 0;      // jobs that ended in the set (each counted on one record)
  std::int64_t segments = 0;  // records

  void Add(const UsageSum& o);
};
UsageSum SumOf(const model::UsageRecord& r);
// The part of `r` inside [from, until), pro rata; lost work and the job count
// belong to the record's end, so they count when it is inside.
UsageSum ClippedSumOf(const model::UsageRecord& r, model::Time from, model::Time until);

// A record of SplitSegment before it is named: what it refers to as indexes,
// and its figures. For callers that sum many segments (the twin) without
// building a record's strings.
struct UsagePiece {
  int part = 0;           // index into the segment's parts (the pool is parts[part].pool)
  int grant_holder = -1;  // tenant index of the holder charged; -1 = no grant applies
  int grant = -1;         // index into grants(grant_holder); -1 = none
  model::Time start = 0;  // [start, end), within one UTC day
  model::Time end = 0;
  double accelerator_seconds = 0;
  double charged_units = 0;
  double energy_kwh = 0;
  double lost_accelerator_seconds = 0;
  bool job_ended = false;

  std::int64_t day() const { return model::DayOf(start); }
  UsageSum Sum() const;
};
// SplitSegment's records, unnamed, in the same order.
std::vector<UsagePiece> SplitSegmentPieces(const model::Scenario& scenario, const GrantsOf& grants,
                                           const RunSegment& segment);

// Records summed per UTC day, tenant, grant and pool: what the store keeps
// beside the records so that a month's report reads a few thousand rows.
struct DailyUsage {
  std::int64_t day = 0;  // days since 1970-01-01
  std::string tenant, grant_holder, grant, pool, site, operator_name, model;
  UsageSum sum;
};

enum class GroupBy : std::uint8_t { kTenant, kGrant, kPool, kSite, kOperator, kModel, kDay };
std::optional<GroupBy> ParseGroupBy(std::string_view word);
std::string_view GroupByName(GroupBy g);
// "tenant|grant|pool|site|operator|model|day", for messages.
std::string_view GroupByChoices();

// How a report groups: by one key, or by two (a time series such as day ×
// tenant or day × pool: one row per pair that has usage).
struct Grouping {
  GroupBy first = GroupBy::kTenant;
  bool paired = false;             // grouped by `second` too
  GroupBy second = GroupBy::kDay;  // only when paired

  // One key. Implicit: a GroupBy is a one-key grouping wherever a Grouping is taken.
  Grouping(GroupBy g) : first(g) {}  // NOLINT(google-explicit-constructor)
  Grouping(GroupBy a, GroupBy b) : first(a), paired(true), second(b) {}
  bool operator==(const Grouping& o) const {
    return first == o.first && paired == o.paired && (!paired || second == o.second);
  }
};
// "tenant", "day,tenant": one key, or two distinct keys separated by a comma.
std::optional<Grouping> ParseGrouping(std::string_view words);
// "tenant" or "day,tenant", as ParseGrouping reads it.
std::string GroupingName(const Grouping& g);
// For messages: the keys, and that two may be combined.
std::string GroupingChoices();

// Separates the two parts of a two-key row's key (ids and dates never hold it).
inline constexpr char kKeySeparator = '\x1f';

struct ReportRow {
  // The group: a tenant id, "HOLDER/GRANT" ("" = no grant), ..., or YYYY-MM-DD;
  // for two keys, both joined by kKeySeparator.
  std::string key;
  UsageSum sum;
};

// Sums records or daily rows into groups; rows come out sorted by key (for
// two keys: by the first, then the second).
class ReportBuilder {
 public:
  explicit ReportBuilder(Grouping group_by) : group_by_(group_by) {}
  void Add(const DailyUsage& d);
  void Add(const model::UsageRecord& r, model::Time from, model::Time until);
  std::vector<ReportRow> Rows() const;
  const Grouping& group_by() const { return group_by_; }

 private:
  void AddTo(std::string key, const UsageSum& s);
  Grouping group_by_;
  std::vector<ReportRow> rows_;                         // unsorted
  std::unordered_map<std::string, std::size_t> index_;  // key -> rows_ index
};

// "2027-01-04" for a day number.
std::string DayString(std::int64_t day);

// The report as JSON text: {"group_by", "from", "until", "rows": [{KEY: ..,
// "accelerator_hours", "charged_units", "energy_kwh", "lost_accelerator_hours",
// "jobs", "segments"}], "total": {...}} (two keys: both KEY fields in each
// row, "group_by": "day,tenant"); and as CSV with a header line (a column per key).
std::string ReportJson(const Grouping& g, model::Time from, model::Time until,
                       const std::vector<ReportRow>& rows);
std::string ReportCsv(const Grouping& g, const std::vector<ReportRow>& rows);

// A grant's burn-down at `now`: used so far, left, and when it runs out at the
// rate of the last `window_s` (units charged to it in that window).
struct GrantBurnDown {
  std::string holder, grant, quota_class;
  model::Time valid_from = 0, valid_until = 0;
  double granted = 0, used = 0, left = 0;
  double units_per_day = 0;  // the recent rate
  // When `left` reaches 0 at that rate; 0 = not before valid_until (or no use).
  model::Time projected_exhaustion = 0;
};
GrantBurnDown BurnDown(const std::string& holder, const model::Grant& grant, double used,
                       double recent_units, model::Duration window_s, model::Time now);

}  // namespace sovgrid::accounting
