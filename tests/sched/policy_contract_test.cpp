// One contract suite run against every queue order and every score in the
// registries, plus small hand-computed cases whose expected orders and shares
// are worked out in the comments next to the asserts.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "model/policy_names.h"
#include "scenario/loader.h"
#include "sched/quota.h"
#include "sched/scheduler.h"
#include "sched/test_grids.h"

namespace sovgrid::sched {
namespace {

class ZeroShares : public TenantShares {
 public:
  double DominantShare(int /*tenant*/) const override { return 0; }
  double OwnDominantShare(int /*tenant*/) const override { return 0; }
};

std::vector<QueueEntry> SampleEntries() {
  std::vector<QueueEntry> out;
  for (std::uint32_t i = 0; i < 40; ++i) {
    QueueEntry e;
    e.job = i;
    e.seq = 100 - i;  // submission order differs from index order
    e.tenant = static_cast<int>(i % 8);
    e.priority = static_cast<int>((i * 37) % 4) * 100;
    e.submit = 1000 + (i * 13) % 17;
    e.estimate_s = (i % 5 == 0) ? 0 : 60 * ((i * 7) % 11 + 1);
    e.remaining_s = e.estimate_s / 2;
    e.deadline = (i % 3 == 0) ? 0 : 5000 + (i * 11) % 23;
    e.attained_gpu_s = (i % 4) * 10000.0;
    out.push_back(e);
  }
  return out;
}

std::vector<std::uint32_t> Drain(QueueOrder& order, std::vector<QueueEntry> entries,
                                 const TenantShares& shares) {
  order.Begin(std::move(entries), shares);
  std::vector<std::uint32_t> got;
  QueueEntry e;
  while (order.Next(&e)) got.push_back(e.job);
  return got;
}

// ---------------------------------------------------------------------------
// Queue order contract.

class QueueOrderContract : public ::testing::TestWithParam<std::string_view> {
 protected:
  model::Scenario grid_ = testing::MidSizeGrid();
  ZeroShares shares_;
};

TEST_P(QueueOrderContract, RegistryKnowsItByName) {
  auto order = MakeQueueOrder(GetParam(), grid_);
  ASSERT_TRUE(order.ok()) << order.status().ToString();
  EXPECT_EQ((*order)->name(), GetParam());
}

TEST_P(QueueOrderContract, ReturnsEveryJobExactlyOnce) {
  auto order = std::move(MakeQueueOrder(GetParam(), grid_)).value();
  const auto got = Drain(*order, SampleEntries(), shares_);
  ASSERT_EQ(got.size(), 40u);
  EXPECT_EQ(std::set<std::uint32_t>(got.begin(), got.end()).size(), 40u);
  QueueEntry e;
  EXPECT_FALSE(order->Next(&e)) << "an exhausted order must stay exhausted";
}

TEST_P(QueueOrderContract, IsDeterministicAndReusable) {
  auto order = std::move(MakeQueueOrder(GetParam(), grid_)).value();
  const auto first = Drain(*order, SampleEntries(), shares_);
  const auto second = Drain(*order, SampleEntries(), shares_);
  EXPECT_EQ(first, second);
  auto other = std::move(MakeQueueOrder(GetParam(), grid_)).value();
  EXPECT_EQ(Drain(*other, SampleEntries(), shares_), first);
}

// Cycles hand an order its jobs as a few sorted runs (one per parked list),
// which orders merge rather than sort: the result must be the order of the
// same jobs given shuffled (sorted from scratch).
TEST_P(QueueOrderContract, OrdersSortedRunsAsItOrdersThemShuffled) {
  std::vector<QueueEntry> shuffled;
  std::uint64_t state = 12345;
  auto draw = [&state](std::uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  for (std::uint32_t i = 0; i < 3000; ++i) {
    QueueEntry e;
    e.job = i;
    e.seq = 1 + draw(1000000) * 4096 + i;  // unique, unrelated to the index
    e.tenant = static_cast<int>(draw(8));
    e.priority = static_cast<int>(draw(3)) * 100;
    e.submit = static_cast<model::Time>(draw(500));
    e.estimate_s = static_cast<model::Duration>(draw(4) * 600);
    e.remaining_s = e.estimate_s / 2;
    e.deadline = draw(2) == 0 ? 0 : static_cast<model::Time>(1000 + draw(300));
    e.attained_gpu_s = static_cast<double>(draw(3)) * 20000.0;
    shuffled.push_back(e);
  }
  auto order = std::move(MakeQueueOrder(GetParam(), grid_)).value();
  const std::vector<std::uint32_t> reference = Drain(*order, shuffled, shares_);
  ASSERT_EQ(reference.size(), shuffled.size());
  // Five runs: the reference order dealt out at random, each run keeping it.
  std::vector<std::vector<QueueEntry>> runs(5);
  for (std::uint32_t job : reference) runs[draw(runs.size())].push_back(shuffled[job]);
  std::vector<QueueEntry> as_runs;
  for (const auto& run : runs) as_runs.insert(as_runs.end(), run.begin(), run.end());
  EXPECT_EQ(Drain(*order, as_runs, shares_), reference);
}

// A cycle takes back the vector it gave the order and fills it for the next.
TEST_P(QueueOrderContract, EntriesTakenBackLeaveItEmptyAndReusable) {
  auto order = std::move(MakeQueueOrder(GetParam(), grid_)).value();
  const std::vector<std::uint32_t> first = Drain(*order, SampleEntries(), shares_);
  order->Begin(SampleEntries(), shares_);
  QueueEntry e;
  ASSERT_TRUE(order->Next(&e));
  std::vector<QueueEntry> taken = order->TakeEntries();
  EXPECT_TRUE(taken.empty());
  EXPECT_FALSE(order->Next(&e)) << "an order gives nothing after its entries are taken";
  for (const QueueEntry& entry : SampleEntries()) taken.push_back(entry);
  EXPECT_EQ(Drain(*order, std::move(taken), shares_), first);
}

TEST_P(QueueOrderContract, EmptyQueueYieldsNothing) {
  auto order = std::move(MakeQueueOrder(GetParam(), grid_)).value();
  EXPECT_TRUE(Drain(*order, {}, shares_).empty());
}

// Whatever the order, jobs that all fit all start in one cycle.
TEST_P(QueueOrderContract, StartsEverythingThatFits) {
  auto small =
      scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
  ASSERT_TRUE(small.ok());
  SchedulerConfig config;
  config.queue_order = std::string(GetParam());
  auto s = std::move(Scheduler::Create(*small, config)).value();
  for (int i = 0; i < 4; ++i) {
    model::Job j;
    j.id = "j" + std::to_string(i);
    j.tenant = i % 2 == 0 ? "acme" : "startup";
    j.accelerators = 4;
    j.accepted_models = {"B200"};
    j.runtime_estimate_s = 100 * (i + 1);
    ASSERT_TRUE(s->Submit(j).ok());
  }
  const auto result = s->RunCycle(small->epoch);
  EXPECT_EQ(result.stats.started, 4u);
  EXPECT_EQ(s->pending_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllOrders, QueueOrderContract,
                         ::testing::ValuesIn(model::kQueueOrderNames),
                         [](const auto& param_info) { return std::string(param_info.param); });

TEST(QueueOrderRegistry, UnknownNameIsNotFound) {
  auto order = MakeQueueOrder("lottery", testing::MidSizeGrid());
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// Hand-computed orders.

QueueEntry Entry(std::uint32_t job, int tenant, int priority, model::Time submit,
                 model::Duration estimate = 0, model::Duration remaining = 0,
                 model::Time deadline = 0, double attained = 0) {
  return {job, job, tenant, priority, submit, estimate, remaining, deadline, attained};
}

TEST(QueueOrders, HandComputed) {
  const model::Scenario grid = testing::MidSizeGrid();
  ZeroShares zero;
  // job: tenant, priority, submit, estimate, remaining, deadline, attained
  const std::vector<QueueEntry> e = {
      Entry(0, 0, 100, 30, 500, 100, 0,
            50000),                        // old-ish, long, little left, no deadline, much service
      Entry(1, 0, 300, 20, 0, 0, 900, 0),  // critical, unknown length, deadline 900
      Entry(2, 0, 100, 10, 100, 90, 700, 100),  // oldest, short
      Entry(3, 0, 200, 40, 50, 50, 0, 0),       // newest, shortest
  };
  auto order = [&](std::string_view name) {
    return Drain(*MakeQueueOrder(name, grid).value(), e, zero);
  };
  // fifo: by submit 10, 20, 30, 40.
  EXPECT_EQ(order("fifo"), (std::vector<std::uint32_t>{2, 1, 0, 3}));
  // priority: 300, 200, then the two 100s by submit (2 at 10 before 0 at 30).
  EXPECT_EQ(order("priority"), (std::vector<std::uint32_t>{1, 3, 2, 0}));
  // sjf: estimates 50, 100, 500, unknown last.
  EXPECT_EQ(order("sjf"), (std::vector<std::uint32_t>{3, 2, 0, 1}));
  // srtf: remaining 50, 90, 100, unknown last.
  EXPECT_EQ(order("srtf"), (std::vector<std::uint32_t>{3, 2, 0, 1}));
  // edf: deadlines 700, 900, then none: 3 (priority 200) before 0 (100).
  EXPECT_EQ(order("edf"), (std::vector<std::uint32_t>{2, 1, 3, 0}));
  // las (threshold 28,800 accelerator-seconds): job 0 (50,000) drops to the
  // second queue; the rest by submit: 2, 1, 3.
  EXPECT_EQ(order("las"), (std::vector<std::uint32_t>{2, 1, 3, 0}));
}

// Shares that a test sets by hand.
class FixedShares : public TenantShares {
 public:
  std::map<int, double> subtree, own;
  double DominantShare(int t) const override { return subtree.count(t) ? subtree.at(t) : 0; }
  double OwnDominantShare(int t) const override { return own.count(t) ? own.at(t) : 0; }
};

TEST(QueueOrders, DrfPicksTheLowestWeightedShareAtEveryLevel) {
  const model::Scenario grid = testing::MidSizeGrid();
  // Tenants: 0 gov (weight 2) > 1 research, 2 univ, 3 startups; 4 corp (1) > 5 corp-ai, 6 corp-ops;
  // 7 guest (0.5).
  FixedShares shares;
  shares.subtree = {{0, 0.40}, {1, 0.30}, {2, 0.05}, {3, 0.05},
                    {4, 0.25}, {5, 0.20}, {6, 0.05}, {7, 0.10}};
  // Weighted top level: gov 0.40/2 = 0.20, corp 0.25/1 = 0.25, guest 0.10/0.5 = 0.20.
  // gov and guest tie at 0.20; the first in tenant order (gov) wins. Inside gov:
  // research 0.30, univ 0.05, startups 0.05/0.5 = 0.10 -> univ.
  auto order = std::move(MakeQueueOrder("drf", grid)).value();
  order->Begin(
      {Entry(10, 1, 100, 1), Entry(11, 2, 100, 2), Entry(12, 5, 100, 3), Entry(13, 7, 100, 4)},
      shares);
  QueueEntry got;
  ASSERT_TRUE(order->Next(&got));
  EXPECT_EQ(got.job, 11u);  // univ
  // Shares are static here, so gov stays lowest: research next (its only sibling with jobs).
  ASSERT_TRUE(order->Next(&got));
  EXPECT_EQ(got.job, 10u);
  // gov is empty now: guest (0.20) before corp (0.25).
  ASSERT_TRUE(order->Next(&got));
  EXPECT_EQ(got.job, 13u);
  ASSERT_TRUE(order->Next(&got));
  EXPECT_EQ(got.job, 12u);
  EXPECT_FALSE(order->Next(&got));
}

// ---------------------------------------------------------------------------
// Score contract.

class ScoreContract : public ::testing::TestWithParam<std::string_view> {};

std::vector<PoolCandidate> SampleCandidates() {
  std::vector<PoolCandidate> out;
  for (int i = 0; i < 64; ++i) {
    PoolCandidate c;
    c.pool = i;
    c.nodes = 1 + i % 4;
    c.fractional = i % 5 == 0;
    c.fits_one_group = i % 3 == 0;
    c.groups_needed = 1 + i % 6;
    c.best_partial_leftover = c.fractional ? (i * 97) % 1000 - 1 : -1;
    c.exact_node_fit = i % 2 == 0;
    c.used_fraction_after = (i % 11) / 10.0;
    c.relative_throughput = 0.1 + (i % 7) / 7.0;
    c.best_throughput = 1.2;
    out.push_back(c);
  }
  return out;
}

TEST_P(ScoreContract, RegistryKnowsItByName) {
  auto score = MakeScore(GetParam());
  ASSERT_TRUE(score.ok());
  EXPECT_EQ((*score)->name(), GetParam());
}

TEST_P(ScoreContract, ScoresLieBetween0And100AndArePure) {
  auto score = std::move(MakeScore(GetParam())).value();
  for (const auto& c : SampleCandidates()) {
    const double v = score->Score(c);
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 100.0);
    EXPECT_EQ(v, score->Score(c));
  }
}

// Used with each score first, the scheduler still places only where jobs fit.
TEST_P(ScoreContract, SchedulerPlacesWithinCapacity) {
  auto small =
      scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
  ASSERT_TRUE(small.ok());
  SchedulerConfig config;
  config.queue_order = "fifo";
  config.scores = {std::string(GetParam())};
  auto s = std::move(Scheduler::Create(*small, config)).value();
  for (int i = 0; i < 12; ++i) {
    model::Job j;
    j.id = "j" + std::to_string(i);
    j.tenant = "acme";
    j.accelerators = 4;
    j.accepted_models = {"B200"};
    ASSERT_TRUE(s->Submit(j).ok());
  }
  const auto result = s->RunCycle(small->epoch);
  EXPECT_EQ(result.stats.started, 8u);  // 32 B200 / 4
  EXPECT_EQ(s->pending_count(), 4u);
}

INSTANTIATE_TEST_SUITE_P(AllScores, ScoreContract, ::testing::ValuesIn(model::kScoreNames),
                         [](const auto& param_info) { return std::string(param_info.param); });

TEST(Scores, HandComputed) {
  PoolCandidate c;
  c.used_fraction_after = 0.75;
  EXPECT_DOUBLE_EQ(MakeScore("binpack").value()->Score(c), 75.0);
  EXPECT_DOUBLE_EQ(MakeScore("spread").value()->Score(c), 25.0);
  c.nodes = 4;
  c.fits_one_group = false;
  c.groups_needed = 2;
  EXPECT_DOUBLE_EQ(MakeScore("topology").value()->Score(c), 25.0);  // 50 / 2 groups
  c.fits_one_group = true;
  EXPECT_DOUBLE_EQ(MakeScore("topology").value()->Score(c), 100.0);
  c.fractional = true;
  c.best_partial_leftover = 200;  // 0.2 of an accelerator left idle
  EXPECT_DOUBLE_EQ(MakeScore("fragmentation").value()->Score(c), 82.0);  // 100 - 90 * 0.2
  c.best_partial_leftover = -1;  // would open a whole accelerator
  EXPECT_DOUBLE_EQ(MakeScore("fragmentation").value()->Score(c), 0.0);
  c.relative_throughput = 0.6;
  c.best_throughput = 1.2;
  EXPECT_DOUBLE_EQ(MakeScore("throughput").value()->Score(c), 50.0);
}

// ---------------------------------------------------------------------------
// Quota, hand-computed.

// One class of 32 accelerators. a: guarantee 16, lends at most 8 (keeps 8);
// b: guarantee 8, may borrow 8; c: no guarantee, no limits.
model::Scenario QuotaGrid() {
  model::Scenario s;
  s.name = "quota";
  s.accelerators = {{"X", "V", "x", 1, 1, {1, 1, 1}, {}}};
  model::Site site;
  site.id = "s";
  site.operator_name = "o";
  site.region = "r";
  site.jurisdiction = "KR";
  s.sites = {site};
  model::Pool p;
  p.id = "p";
  p.site = "s";
  p.accelerator = "X";
  p.accelerators_per_node = 8;
  p.nodes = 4;
  p.domain_size = 8;
  s.pools = {p};
  model::Tenant a, b, c;
  a.id = "a";
  a.guarantee = {{"x", 16}};
  a.lend_limit = {{"x", 8}};
  b.id = "b";
  b.guarantee = {{"x", 8}};
  b.borrow_limit = {{"x", 8}};
  c.id = "c";
  s.tenants = {a, b, c};
  EXPECT_TRUE(s.Resolve().ok());
  return s;
}

TEST(QuotaLedger, BorrowingAndLendingHandComputed) {
  const model::Scenario s = QuotaGrid();
  QuotaLedger q(s);
  constexpr model::Milli k = 1000;
  // c asks 20: the group uses 0 + 20 <= 32, and a keeps 16 - 8 - 0 = 8: 28 <= 32.
  EXPECT_TRUE(q.CanAdmit(2, 0, 20 * k).ok);
  // c asks 28: 28 + 8 kept by a = 36 > 32, though 28 alone would fit.
  auto v = q.CanAdmit(2, 0, 28 * k);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.code, WaitCode::kLenderProtected);
  // b asks 17: above its maximum of 8 + 8 = 16.
  v = q.CanAdmit(1, 0, 17 * k);
  EXPECT_EQ(v.code, WaitCode::kBorrowLimit);
  EXPECT_EQ(v.tenant, 1);
  // a uses 10 of its 16: it keeps max(0, 8 - 10) = 0 more, so c may take the
  // remaining 22 (10 + 22 = 32) but not 23 (a plain lack of room is not a
  // quota failure: CanAdmit passes and placement finds no room).
  q.ChargeOnPool(0, 0, 10 * k);
  EXPECT_TRUE(q.CanAdmit(2, 0, 22 * k).ok);
  EXPECT_TRUE(q.CanAdmit(2, 0, 23 * k).ok);
  EXPECT_TRUE(q.WithinGuarantee(0, 0, 6 * k));   // 10 + 6 <= 16
  EXPECT_FALSE(q.WithinGuarantee(0, 0, 7 * k));  // 10 + 7 > 16
  q.ChargeOnPool(2, 0, 20 * k);
  EXPECT_TRUE(q.Borrowing(2, 0));  // c has no guarantee
  EXPECT_FALSE(q.Borrowing(0, 0));
  q.RefundOnPool(2, 0, 20 * k);
  q.RefundOnPool(0, 0, 10 * k);
  EXPECT_EQ(q.Usage(0, 0), 0);
}

TEST(QuotaLedger, GrantsAreConsumedAndExpire) {
  model::Scenario s = QuotaGrid();
  model::Grant g;
  g.id = "g";
  g.units = 10;
  g.valid_from = 0;
  g.valid_until = 100000;
  s.tenants[2].grants = {g};
  QuotaLedger q(s);
  EXPECT_TRUE(q.GrantAllows(2, 0, 10, 1000).ok);
  // 4 accelerators for 2.5 h = 10 accelerator-hours: spent.
  q.ChargeOnPool(2, 0, 4000);
  q.Accrue(0, 9000);
  EXPECT_DOUBLE_EQ(q.GrantUsedUnits(2, 0), 10.0);
  EXPECT_EQ(q.GrantAllows(2, 0, 9000, 1000).code, WaitCode::kGrantSpent);
  // After the window no grant is valid at all.
  EXPECT_EQ(q.GrantAllows(2, 0, 200000, 1000).code, WaitCode::kGrantInactive);
  // Tenants without grants are not limited by them.
  EXPECT_TRUE(q.GrantAllows(0, 0, 9000, 1000).ok);
}

// Units are accelerator-hours times the model's charge rate, and a grant
// holder that falls back to its guarantee runs within it once the grant is
// spent, never borrowing.
TEST(QuotaLedger, GrantsAreSpentInUnitsAndMayFallBackToTheGuarantee) {
  model::Scenario s = QuotaGrid();
  s.accelerators[0].charge_rate = 2.5;
  model::Grant g;
  g.id = "g";
  g.units = 10;
  g.valid_from = 0;
  g.valid_until = 100000;
  s.tenants[1].grants = {g};  // b: guarantee 8, borrow limit 8
  s.tenants[1].on_grant_spent = model::Tenant::OnGrantSpent::kGuarantee;
  QuotaLedger q(s);
  // 2 accelerators x 2 h x 2.5 units per accelerator-hour = 10 units: spent.
  q.ChargeOnPool(1, 0, 2000);
  q.Accrue(0, 7200);
  EXPECT_DOUBLE_EQ(q.GrantUsedUnits(1, 0), 10.0);
  // Spent: 6 more fit the guarantee of 8 (2 in use), 7 do not.
  EXPECT_TRUE(q.GrantAllows(1, 0, 7200, 6000).ok);
  const auto v = q.GrantAllows(1, 0, 7200, 7000);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.code, WaitCode::kGrantSpentBeyondGuarantee);
  EXPECT_EQ(v.tenant, 1);
  // Outside every window nothing falls back: the grant is inactive.
  EXPECT_EQ(q.GrantAllows(1, 0, 200000, 1000).code, WaitCode::kGrantInactive);
  q.RefundOnPool(1, 0, 2000);
  EXPECT_EQ(q.Usage(1, 0), 0);
}

// A job that no pool admits (here: its tenant's only grant is not yet valid)
// is not attempted again in the same cycle for another job of the tenant with
// the same candidate set and size, whatever its shape; it gets the same
// reason. A different size is attempted; so is everything after a change.
TEST(AdmissionCache, SameTenantSetAndSizeAreNotAttemptedTwice) {
  model::Scenario s = QuotaGrid();
  model::Grant g;
  g.id = "later";
  g.units = 100;
  g.valid_from = 1000;
  g.valid_until = 100000;
  s.tenants[2].grants = {g};
  s.priority_classes = {{"normal", 0}};
  SchedulerConfig config;
  config.queue_order = "fifo";
  auto sched = std::move(Scheduler::Create(s, config)).value();
  auto job = [](const std::string& id, const std::string& tenant, int accelerators, int per_node) {
    model::Job j;
    j.id = id;
    j.tenant = tenant;
    j.accelerators = accelerators;
    j.accelerators_per_node = per_node;
    j.submit_time = 0;
    return j;
  };
  ASSERT_TRUE(sched->Submit(job("c1", "c", 4, 0)).ok());
  ASSERT_TRUE(sched->Submit(job("c2", "c", 4, 2)).ok());  // another shape, same size
  ASSERT_TRUE(sched->Submit(job("c3", "c", 2, 0)).ok());  // another size
  ASSERT_TRUE(sched->Submit(job("a1", "a", 4, 0)).ok());
  const CycleResult first = sched->RunCycle(10);
  EXPECT_EQ(first.stats.considered, 4u);
  EXPECT_EQ(first.stats.started, 1u);         // a1
  EXPECT_EQ(first.stats.admission_hits, 1u);  // c2, after c1
  EXPECT_EQ(first.stats.equivalence_hits, 0u);
  for (const char* id : {"c1", "c2", "c3"}) {
    auto v = sched->Job(id);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->state, JobState::kPending) << id;
    EXPECT_EQ(v->reason.code, WaitCode::kGrantInactive) << id;
    EXPECT_EQ(v->reason.quota_class, 0) << id;
  }
  // The grant becomes valid: the next full wake attempts them again, and all fit.
  const CycleResult later = sched->RunCycle(1000 + config.retry_interval_s);
  EXPECT_EQ(later.stats.admission_hits, 0u);
  EXPECT_EQ(later.stats.started, 3u);
}

}  // namespace
}  // namespace sovgrid::sched
