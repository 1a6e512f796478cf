// Cutting run segments into usage records and summing them, with figures
// computed by hand.
#include "accounting/accounting.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sovgrid::accounting {
namespace {

constexpr model::Time kDay = 86400;
// 2027-01-04T00:00:00Z.
const model::Time kMonday = model::DaysFromCivil(2027, 1, 4) * kDay;

// Two models at two sites: "fast" (2 units per accelerator-hour, 1000 W) and
// "slow" (the default rate of 1, 250 W); tenant "lab" under "prog", which
// holds the grants.
model::Scenario Grid() {
  model::Scenario s;
  s.name = "acct";
  model::AcceleratorModel fast{"fast", "V", "x", 80, 1000, {1, 1, 1}, {}};
  fast.charge_rate = 2.0;
  model::AcceleratorModel slow{"slow", "V", "y", 24, 250, {1, 1, 1}, {}};
  s.accelerators = {fast, slow};
  model::Site a, b;
  a.id = "sa";
  a.operator_name = "Op A";
  b.id = "sb";
  b.operator_name = "Op B";
  s.sites = {a, b};
  model::Pool pf, ps;
  pf.id = "pf";
  pf.site = "sa";
  pf.accelerator = "fast";
  pf.nodes = 2;
  ps.id = "ps";
  ps.site = "sb";
  ps.accelerator = "slow";
  ps.nodes = 2;
  s.pools = {pf, ps};
  model::Tenant prog, lab;
  prog.id = "prog";
  lab.id = "lab";
  lab.parent = "prog";
  model::Grant g1{"g1", 100, kMonday, kMonday + kDay + 1800, ""};
  model::Grant g2{"g2", 100, kMonday + kDay + 1800, kMonday + 10 * kDay, "x"};
  prog.grants = {g1, g2};
  s.tenants = {prog, lab};
  EXPECT_TRUE(s.Resolve().ok());
  return s;
}

std::vector<model::UsageRecord> Split(const model::Scenario& s, const RunSegment& seg) {
  return SplitSegment(
      s, [&](int t) -> const std::vector<model::Grant>& { return s.tenants[t].grants; }, seg);
}

TEST(Accounting, OneDayOneGrantOneRecord) {
  const model::Scenario s = Grid();
  RunSegment seg;
  seg.job = "lab/j";
  seg.tenant = 1;
  seg.parts = {{0, 2000}};
  seg.start = kMonday + 3600;
  seg.end = kMonday + 3 * 3600;
  seg.end_reason = "finished";
  seg.final = true;
  const auto r = Split(s, seg);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].tenant, "lab");
  EXPECT_EQ(r[0].grant_holder, "prog");
  EXPECT_EQ(r[0].grant, "g1");
  EXPECT_EQ(r[0].site, "sa");
  EXPECT_EQ(r[0].operator_name, "Op A");
  EXPECT_EQ(r[0].model, "fast");
  // 2 accelerators x 2 h = 4 accelerator-hours; x 2.0 = 8 units; x 1 kW = 4 kWh.
  EXPECT_DOUBLE_EQ(r[0].accelerator_seconds, 4 * 3600.0);
  EXPECT_DOUBLE_EQ(r[0].charged_units, 8.0);
  EXPECT_DOUBLE_EQ(r[0].energy_kwh, 4.0);
  EXPECT_TRUE(r[0].job_ended);
  EXPECT_EQ(r[0].day(), kMonday / kDay);
}

// 23:00 Monday to 01:00 Tuesday on the fast pool: cut at midnight and at
// g1's end (00:30); after it g2 (class x) applies.
TEST(Accounting, CutAtMidnightAndAtTheGrantsEnd) {
  const model::Scenario s = Grid();
  RunSegment seg;
  seg.job = "lab/j";
  seg.tenant = 1;
  seg.parts = {{0, 1000}};
  seg.start = kMonday + 23 * 3600;
  seg.end = kMonday + kDay + 3600;
  seg.end_reason = "preempted";
  seg.lost_accelerator_seconds = 600;
  const auto r = Split(s, seg);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].end, kMonday + kDay);
  EXPECT_EQ(r[0].grant, "g1");
  EXPECT_EQ(r[1].start, kMonday + kDay);
  EXPECT_EQ(r[1].end, kMonday + kDay + 1800);
  EXPECT_EQ(r[1].grant, "g1");
  EXPECT_EQ(r[2].grant, "g2");
  EXPECT_DOUBLE_EQ(r[0].charged_units, 2.0);  // 1 h x 1 accelerator x 2.0
  EXPECT_DOUBLE_EQ(r[1].charged_units, 1.0);
  EXPECT_DOUBLE_EQ(r[2].charged_units, 1.0);
  // Lost work sits on the segment's last record; no record counts a job (not final).
  EXPECT_DOUBLE_EQ(r[0].lost_accelerator_seconds + r[1].lost_accelerator_seconds, 0);
  EXPECT_DOUBLE_EQ(r[2].lost_accelerator_seconds, 600);
  for (const auto& x : r) EXPECT_FALSE(x.job_ended);

  ReportBuilder by_day(GroupBy::kDay);
  ReportBuilder by_grant(GroupBy::kGrant);
  for (const auto& x : r) {
    by_day.Add(x, kMonday, kMonday + 7 * kDay);
    by_grant.Add(x, kMonday, kMonday + 7 * kDay);
  }
  const auto days = by_day.Rows();
  ASSERT_EQ(days.size(), 2u);
  EXPECT_EQ(days[0].key, "2027-01-04");
  EXPECT_EQ(days[1].key, "2027-01-05");
  EXPECT_DOUBLE_EQ(days[1].sum.charged_units, 2.0);
  const auto grants = by_grant.Rows();
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(grants[0].key, "prog/g1");
  EXPECT_DOUBLE_EQ(grants[0].sum.charged_units, 3.0);
  EXPECT_EQ(grants[1].key, "prog/g2");
}

// A quarter of a slow accelerator (class y: g2 does not cover it; g1 does
// until its end) for 4 h from Tuesday 00:00.
TEST(Accounting, FractionalSharesAndNoGrantThatApplies) {
  const model::Scenario s = Grid();
  RunSegment seg;
  seg.job = "lab/infer";
  seg.tenant = 1;
  seg.parts = {{1, 250}};
  seg.start = kMonday + kDay;
  seg.end = kMonday + kDay + 4 * 3600;
  seg.end_reason = "cancelled";
  seg.final = true;
  const auto r = Split(s, seg);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].grant, "g1");
  EXPECT_EQ(r[1].grant, "");
  EXPECT_EQ(r[1].grant_holder, "");
  EXPECT_DOUBLE_EQ(r[0].accelerator_seconds + r[1].accelerator_seconds, 3600.0);
  EXPECT_DOUBLE_EQ(r[0].charged_units + r[1].charged_units, 1.0);
  EXPECT_DOUBLE_EQ(r[0].energy_kwh + r[1].energy_kwh, 0.25);
  EXPECT_FALSE(r[0].job_ended);
  EXPECT_TRUE(r[1].job_ended);
}

// The unnamed pieces (what the twin sums) are the records, one for one: two
// parts on two models, over midnight and the end of g1, g2 not covering "slow".
TEST(Accounting, PiecesAreTheRecordsByIndex) {
  const model::Scenario s = Grid();
  RunSegment seg;
  seg.job = "lab/two";
  seg.tenant = 1;
  seg.parts = {{0, 2000}, {1, 500}};
  seg.start = kMonday + 22 * 3600;
  seg.end = kMonday + kDay + 3 * 3600;
  seg.end_reason = "finished";
  seg.lost_accelerator_seconds = 100;
  seg.final = true;
  auto grants = [&](int t) -> const std::vector<model::Grant>& { return s.tenants[t].grants; };
  const auto records = Split(s, seg);
  const auto pieces = SplitSegmentPieces(s, grants, seg);
  ASSERT_EQ(pieces.size(), records.size());
  ASSERT_EQ(records.size(),
            6u);  // "fast": 3 (midnight, g1's end); "slow": 3 (g2 does not cover it)
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const UsagePiece& p = pieces[i];
    const model::UsageRecord& r = records[i];
    EXPECT_EQ(s.pools[seg.parts[p.part].pool].id, r.pool);
    EXPECT_EQ(p.start, r.start);
    EXPECT_EQ(p.end, r.end);
    EXPECT_EQ(p.grant_holder < 0 ? "" : s.tenants[p.grant_holder].id, r.grant_holder);
    EXPECT_EQ(p.grant < 0 ? "" : s.tenants[p.grant_holder].grants[p.grant].id, r.grant);
    const UsageSum a = p.Sum(), b = SumOf(r);
    EXPECT_EQ(a.accelerator_seconds, b.accelerator_seconds);
    EXPECT_EQ(a.charged_units, b.charged_units);
    EXPECT_EQ(a.energy_kwh, b.energy_kwh);
    EXPECT_EQ(a.lost_accelerator_seconds, b.lost_accelerator_seconds);
    EXPECT_EQ(a.jobs, b.jobs);
  }
  // The slow part's last piece, after g1's end, has no grant (g2 is for class "x").
  EXPECT_EQ(pieces.back().grant, -1);
  EXPECT_EQ(records.back().grant, "");
}

TEST(Accounting, ClippingIsProRataAndReportsSumTheirRows) {
  model::UsageRecord r;
  r.tenant = "lab";
  r.start = 1000;
  r.end = 2000;
  r.accelerator_seconds = 4000;
  r.charged_units = 8;
  r.energy_kwh = 2;
  r.lost_accelerator_seconds = 100;
  r.job_ended = true;
  const UsageSum half = ClippedSumOf(r, 1500, 5000);
  EXPECT_DOUBLE_EQ(half.accelerator_seconds, 2000);
  EXPECT_DOUBLE_EQ(half.charged_units, 4);
  EXPECT_DOUBLE_EQ(half.lost_accelerator_seconds, 100);  // the end is inside
  EXPECT_EQ(half.jobs, 1);
  const UsageSum first = ClippedSumOf(r, 0, 1500);
  EXPECT_DOUBLE_EQ(first.energy_kwh, 1);
  EXPECT_DOUBLE_EQ(first.lost_accelerator_seconds, 0);
  EXPECT_EQ(first.jobs, 0);
  EXPECT_EQ(ClippedSumOf(r, 2000, 3000).segments, 0);

  ReportBuilder b(GroupBy::kTenant);
  b.Add(r, 0, 5000);
  r.tenant = "other";
  b.Add(r, 0, 5000);
  const auto rows = b.Rows();
  const auto j = nlohmann::json::parse(ReportJson(GroupBy::kTenant, 0, 5000, rows));
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["rows"][0]["tenant"], "lab");
  EXPECT_DOUBLE_EQ(j["rows"][0]["charged_units"].get<double>(), 8);
  EXPECT_DOUBLE_EQ(j["total"]["charged_units"].get<double>(), 16);
  EXPECT_NEAR(j["total"]["accelerator_hours"].get<double>(), 8000.0 / 3600, 1e-6);
  EXPECT_EQ(j["total"]["jobs"], 2);
  EXPECT_EQ(ReportCsv(GroupBy::kTenant, rows).substr(0, 7), "tenant,");
}

TEST(Accounting, BurnDownProjectsExhaustionAtTheRecentRate) {
  model::Grant g{"g", 1000, 0, 100 * kDay, ""};
  // 600 used, 140 in the last 7 days: 20 a day, 400 left: 20 days from now.
  const auto b = BurnDown("t", g, 600, 140, 7 * kDay, 30 * kDay);
  EXPECT_DOUBLE_EQ(b.left, 400);
  EXPECT_DOUBLE_EQ(b.units_per_day, 20);
  EXPECT_EQ(b.projected_exhaustion, 50 * kDay);
  // At that rate it lasts beyond its window: no exhaustion date.
  EXPECT_EQ(BurnDown("t", g, 600, 14, 7 * kDay, 30 * kDay).projected_exhaustion, 0);
  EXPECT_EQ(BurnDown("t", g, 600, 0, 7 * kDay, 30 * kDay).projected_exhaustion, 0);
}

TEST(Accounting, GroupByNamesRoundTrip) {
  for (const char* w : {"tenant", "grant", "pool", "site", "operator", "model", "day"}) {
    auto g = ParseGroupBy(w);
    ASSERT_TRUE(g.has_value()) << w;
    EXPECT_EQ(GroupByName(*g), w);
  }
  EXPECT_FALSE(ParseGroupBy("user").has_value());
  EXPECT_EQ(DayString(0), "1970-01-01");
  EXPECT_EQ(DayString(model::DaysFromCivil(2027, 3, 1)), "2027-03-01");
}

TEST(Accounting, TwoKeyGroupingsParseAndNameThemselves) {
  const auto g = ParseGrouping("day,tenant");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->first, GroupBy::kDay);
  EXPECT_TRUE(g->paired);
  EXPECT_EQ(g->second, GroupBy::kTenant);
  EXPECT_EQ(GroupingName(*g), "day,tenant");
  EXPECT_EQ(ParseGrouping("pool"), Grouping(GroupBy::kPool));
  EXPECT_EQ(GroupingName(*ParseGrouping("pool")), "pool");
  for (const char* bad : {"day,day", "day,", ",tenant", "day,tenant,pool", "day;tenant", ""})
    EXPECT_FALSE(ParseGrouping(bad).has_value()) << bad;
}

// Day x tenant: one row per pair with usage, sorted by day then tenant; each
// row names both keys, and the rows of a day sum to that day's one-key row.
TEST(Accounting, DayByTenantRowsSumToTheDayRows) {
  auto record = [](const std::string& tenant, model::Time start, double units) {
    model::UsageRecord r;
    r.tenant = tenant;
    r.pool = tenant == "lab" ? "pf" : "ps";
    r.start = start;
    r.end = start + 3600;
    r.accelerator_seconds = 3600;
    r.charged_units = units;
    return r;
  };
  const std::vector<model::UsageRecord> records = {
      record("lab", kMonday, 2), record("other", kMonday + 7200, 1),
      record("lab", kMonday + kDay, 4), record("lab", kMonday + kDay + 7200, 1)};
  ReportBuilder pairs(Grouping(GroupBy::kDay, GroupBy::kTenant));
  ReportBuilder days(GroupBy::kDay);
  for (const auto& r : records) {
    pairs.Add(r, kMonday, kMonday + 2 * kDay);
    days.Add(r, kMonday, kMonday + 2 * kDay);
  }
  const auto rows = pairs.Rows();
  ASSERT_EQ(rows.size(), 3u);
  const auto j = nlohmann::json::parse(
      ReportJson(Grouping(GroupBy::kDay, GroupBy::kTenant), kMonday, kMonday + 2 * kDay, rows));
  EXPECT_EQ(j["group_by"], "day,tenant");
  EXPECT_EQ(j["rows"][0]["day"], "2027-01-04");
  EXPECT_EQ(j["rows"][0]["tenant"], "lab");
  EXPECT_DOUBLE_EQ(j["rows"][0]["charged_units"].get<double>(), 2);
  EXPECT_EQ(j["rows"][1]["day"], "2027-01-04");
  EXPECT_EQ(j["rows"][1]["tenant"], "other");
  EXPECT_EQ(j["rows"][2]["day"], "2027-01-05");
  EXPECT_EQ(j["rows"][2]["tenant"], "lab");
  EXPECT_DOUBLE_EQ(j["rows"][2]["charged_units"].get<double>(), 5);
  EXPECT_FALSE(j["total"].contains("day"));
  EXPECT_FALSE(j["total"].contains("tenant"));
  const auto one = days.Rows();
  ASSERT_EQ(one.size(), 2u);
  EXPECT_DOUBLE_EQ(one[0].sum.charged_units, 3);
  EXPECT_DOUBLE_EQ(one[1].sum.charged_units, 5);
  const std::string csv = ReportCsv(Grouping(GroupBy::kDay, GroupBy::kTenant), rows);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "day,tenant,accelerator_hours,charged_units,energy_kwh,lost_accelerator_hours,jobs,"
            "segments");
  EXPECT_NE(csv.find("\n2027-01-05,lab,2.000000,5.000000,"), std::string::npos) << csv;
  // Day x pool keys the pool.
  ReportBuilder by_pool(Grouping(GroupBy::kDay, GroupBy::kPool));
  for (const auto& r : records) by_pool.Add(r, kMonday, kMonday + 2 * kDay);
  const auto p = by_pool.Rows();
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[1].key, std::string("2027-01-04") + kKeySeparator + "ps");
}

}  // namespace
}  // namespace sovgrid::accounting
