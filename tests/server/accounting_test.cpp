// The daemon's accounting with hand-computed figures: a ControlPlane on a real
// SQLite store with the twin execution backend on a virtual clock. A job
// preempted and resumed across a daemon restart, a site failure, a fractional
// share; reports equal the sum of their records.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backends/execution_backend.h"
#include "scenario/loader.h"
#include "server/control_plane.h"
#include "store/store.h"

namespace sovgrid::server {
namespace {

using model::Time;
constexpr Time kDay = 86400;

// FAST: one node of 4, 2 units per accelerator-hour, 1000 W, at sa (Op A).
// SLOW: one node of 2, the default rate of 1, 250 W, at sb (Op B).
// lab holds grant g1 (1000 units for January); other has none.
constexpr const char* kScenario = R"toml(
[scenario]
name = "accounting"
epoch = 2027-01-04T00:00:00Z

[policies]
queue_order = "priority"
scores = ["binpack"]
backfill = false
preemption = true
preemption_grace_s = 0

[[accelerators]]
name = "FAST"
vendor = "V"
quota_class = "x"
power_w = 1000.0
charge_rate = 2.0

[[accelerators]]
name = "SLOW"
vendor = "V"
quota_class = "y"
power_w = 250.0

[[sites]]
id = "sa"
operator = "Op A"
region = "r"
jurisdiction = "KR"
tier = 1

[[sites]]
id = "sb"
operator = "Op B"
region = "r"
jurisdiction = "KR"
tier = 1

[[pools]]
id = "pf"
site = "sa"
accelerator = "FAST"
accelerators_per_node = 4
nodes = 1

[[pools]]
id = "ps"
site = "sb"
accelerator = "SLOW"
accelerators_per_node = 2
nodes = 1

[[tenants]]
id = "lab"

[[tenants.grants]]
id = "g1"
units = 1000
valid_from = 2027-01-04T00:00:00Z
valid_until = 2027-02-01T00:00:00Z

[[tenants]]
id = "other"
)toml";

class AccountingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = scenario::ParseScenario(kScenario, "accounting.toml", nullptr);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    scenario_ = std::move(s).value();
    t0_ = scenario_.epoch;
    char tmpl[] = "/tmp/sovgrid-accounting-XXXXXX";
    const char* dir = mkdtemp(tmpl);
    ASSERT_NE(dir, nullptr);
    dir_ = dir;
    auto store = store::OpenSqliteStore(dir_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    Open(t0_);
  }
  void TearDown() override {
    cp_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(Time now) {
    cp_.reset();
    auto cp = ControlPlane::Open(scenario_, store_.get(), backends::MakeTwinBackend(1), now);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    cp_ = std::move(cp).value();
  }
  static model::Job Job(const std::string& id, const std::string& tenant, const char* model,
                        int accelerators, Time runtime) {
    model::Job j;
    j.id = id;
    j.tenant = tenant;
    j.accelerators = accelerators;
    j.accepted_models = {model};
    j.runtime_estimate_s = runtime;
    return j;
  }
  void Submit(model::Job job, Time now) {
    auto ids = cp_->Submit({std::move(job)}, now);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  }
  void Tick(Time now) {
    const Status s = cp_->Tick(now);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::string State(const std::string& id) {
    auto j = store_->GetJob(id);
    return j.ok() ? j->state : j.status().ToString();
  }
  std::vector<model::UsageRecord> Records() {
    auto r = store_->UsageRecords(t0_ - kDay, t0_ + 30 * kDay, 1000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<model::UsageRecord>{};
  }
  std::vector<accounting::ReportRow> Report(accounting::GroupBy g, Time from, Time until,
                                            Time now) {
    AccountingQuery q;
    q.from = from;
    q.until = until;
    q.group_by = g;
    auto rows = cp_->AccountingReport(q, now);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : std::vector<accounting::ReportRow>{};
  }

  model::Scenario scenario_;
  Time t0_ = 0;
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ControlPlane> cp_;
};

// lab's low job (4 FAST, checkpoints every 1800 s, 7200 s of work) starts at
// t0; other's critical job preempts it at t0+3000 (work since the checkpoint
// at 1800 s lost: 1200 s x 4 = 4800 accelerator-seconds) and ends at t0+4000;
// low resumes at t0+4000. The daemon restarts at t0+5000 and adopts it.
TEST_F(AccountingTest, PreemptedResumedAcrossARestartThenFinished) {
  model::Job low = Job("low", "lab", "FAST", 4, 7200);
  low.priority_class = "low";
  low.checkpoint_interval_s = 1800;
  Submit(low, t0_);
  Tick(t0_);
  ASSERT_EQ(State("lab/low"), "running");
  model::Job urgent = Job("urgent", "other", "FAST", 4, 1000);
  urgent.priority_class = "critical";
  Submit(urgent, t0_ + 3000);
  Tick(t0_ + 3000);
  ASSERT_EQ(State("lab/low"), "pending");
  ASSERT_EQ(State("other/urgent"), "running");
  Tick(t0_ + 4000);
  ASSERT_EQ(State("other/urgent"), "finished");
  ASSERT_EQ(State("lab/low"), "running");

  // Counted while it runs: its open segment up to now.
  auto live = Report(accounting::GroupBy::kTenant, t0_, t0_ + kDay, t0_ + 4600);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].key, "lab");
  EXPECT_DOUBLE_EQ(live[0].sum.accelerator_seconds, 4 * 3000.0 + 4 * 600.0);

  // Restart: grant usage comes back from the records and the open segment.
  Open(t0_ + 5000);
  auto usage = cp_->Usage("lab");
  ASSERT_TRUE(usage.ok());
  ASSERT_EQ(usage->grants.size(), 1u);
  // 4 x (3000 + 1000) s = 16000 accelerator-seconds x 2 units per hour.
  EXPECT_NEAR(usage->grants[0].used_units, 16000.0 / 3600 * 2, 1e-9);

  Time end = 0;
  for (Time t = t0_ + 5600; t <= t0_ + 20 * 3600 && end == 0; t += 600) {
    Tick(t);
    if (State("lab/low") == "finished") end = t;
  }
  ASSERT_GT(end, 0);

  const auto records = Records();
  ASSERT_EQ(records.size(), 3u);
  const auto& first = records[0];
  EXPECT_EQ(first.job, "lab/low");
  EXPECT_EQ(first.start, t0_);
  EXPECT_EQ(first.end, t0_ + 3000);
  EXPECT_EQ(first.end_reason, "preempted");
  EXPECT_EQ(first.grant, "g1");
  EXPECT_EQ(first.operator_name, "Op A");
  EXPECT_DOUBLE_EQ(first.accelerator_seconds, 12000);
  EXPECT_DOUBLE_EQ(first.charged_units, 12000.0 / 3600 * 2);
  EXPECT_DOUBLE_EQ(first.energy_kwh, 12000.0 / 3600);
  EXPECT_DOUBLE_EQ(first.lost_accelerator_seconds, 4800);
  EXPECT_FALSE(first.job_ended);
  const auto& urgent_run = records[1];
  EXPECT_EQ(urgent_run.job, "other/urgent");
  EXPECT_EQ(urgent_run.grant, "");
  EXPECT_DOUBLE_EQ(urgent_run.accelerator_seconds, 4000);
  EXPECT_TRUE(urgent_run.job_ended);
  // One segment from the resumption to the end: the restart did not cut it.
  const auto& resumed = records[2];
  EXPECT_EQ(resumed.start, t0_ + 4000);
  EXPECT_EQ(resumed.end, end);
  EXPECT_EQ(resumed.end_reason, "finished");
  EXPECT_DOUBLE_EQ(resumed.accelerator_seconds, 4.0 * static_cast<double>(end - t0_ - 4000));
  EXPECT_TRUE(resumed.job_ended);

  // Reports equal the sum of their records, whatever the grouping or window
  // (whole days from the daily sums, partial days from the records; a
  // partial last day that reaches now from its daily sums).
  for (auto g : {accounting::GroupBy::kTenant, accounting::GroupBy::kGrant,
                 accounting::GroupBy::kModel, accounting::GroupBy::kDay}) {
    for (auto [from, until] : {std::pair{t0_ - kDay, t0_ + 2 * kDay}, std::pair{t0_ + 100, end},
                               std::pair{t0_ + 100, end + 1}, std::pair{t0_ + 3500, end + 7}}) {
      double want = 0;
      for (const auto& r : records) want += accounting::ClippedSumOf(r, from, until).charged_units;
      double got = 0;
      for (const auto& row : Report(g, from, until, end + 1)) got += row.sum.charged_units;
      EXPECT_NEAR(got, want, 1e-9) << accounting::GroupByName(g) << " " << from << ".." << until;
    }
  }
  const auto by_grant = Report(accounting::GroupBy::kGrant, t0_, t0_ + kDay, end + 1);
  ASSERT_EQ(by_grant.size(), 2u);
  EXPECT_EQ(by_grant[0].key, "");
  EXPECT_EQ(by_grant[1].key, "lab/g1");
  EXPECT_EQ(by_grant[1].sum.jobs, 1);
  EXPECT_EQ(by_grant[1].sum.segments, 2);
  EXPECT_DOUBLE_EQ(by_grant[1].sum.lost_accelerator_seconds, 4800);
  EXPECT_DOUBLE_EQ(by_grant[0].sum.charged_units, 4000.0 / 3600 * 2);

  auto burn = cp_->GrantBurnDowns({"lab"}, end + 1);
  ASSERT_TRUE(burn.ok());
  ASSERT_EQ(burn->size(), 1u);
  EXPECT_EQ((*burn)[0].grant, "g1");
  EXPECT_DOUBLE_EQ((*burn)[0].granted, 1000);
  EXPECT_GT((*burn)[0].units_per_day, 0);
}

// A site failure ends the run (requeued, all work lost without checkpoints),
// and a half share of a SLOW accelerator is charged half.
TEST_F(AccountingTest, SiteFailureAndAFractionalShare) {
  Submit(Job("gang", "lab", "SLOW", 2, 7200), t0_);
  Tick(t0_);
  ASSERT_EQ(State("lab/gang"), "running");
  ASSERT_TRUE(cp_->SetSiteState("sb", Health::kDown, t0_ + 600).ok());
  Tick(t0_ + 600);
  ASSERT_EQ(State("lab/gang"), "pending");
  ASSERT_TRUE(cp_->Cancel("lab/gang", t0_ + 700).ok());
  ASSERT_TRUE(cp_->SetSiteState("sb", Health::kUp, t0_ + 800).ok());
  model::Job half = Job("half", "other", "SLOW", 1, 3600);
  half.accelerator_milli = 500;
  Submit(half, t0_ + 800);
  Tick(t0_ + 800);
  ASSERT_EQ(State("other/half"), "running");
  Tick(t0_ + 800 + 3600);
  ASSERT_EQ(State("other/half"), "finished");

  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].end_reason, "requeued");
  EXPECT_EQ(records[0].site, "sb");
  EXPECT_DOUBLE_EQ(records[0].accelerator_seconds, 1200);
  EXPECT_DOUBLE_EQ(records[0].charged_units, 1200.0 / 3600);
  EXPECT_DOUBLE_EQ(records[0].lost_accelerator_seconds, 1200);
  EXPECT_FALSE(records[0].job_ended);  // cancelled while pending: no run ended it
  EXPECT_EQ(records[1].milli, 500);
  EXPECT_DOUBLE_EQ(records[1].accelerator_seconds, 1800);
  EXPECT_DOUBLE_EQ(records[1].charged_units, 0.5);
  EXPECT_DOUBLE_EQ(records[1].energy_kwh, 0.125);
  const auto by_site = Report(accounting::GroupBy::kSite, t0_, t0_ + kDay, t0_ + kDay);
  ASSERT_EQ(by_site.size(), 1u);
  EXPECT_EQ(by_site[0].key, "sb");
  EXPECT_DOUBLE_EQ(by_site[0].sum.accelerator_seconds, 3000);
  EXPECT_EQ(by_site[0].sum.jobs, 1);
  // Bad periods are refused.
  AccountingQuery q;
  q.from = t0_;
  q.until = t0_;
  EXPECT_EQ(cp_->AccountingReport(q, t0_).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sovgrid::server
