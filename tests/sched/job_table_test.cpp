// The job table's hand-off of the active list to a cycle (TakeActive, then
// ParkConsidered, KeepActive or MarkRunning(in_cycle) for each job taken),
// and the scheduler's job handles (Submit(job, &handle), JobAt, ReasonAt).
#include "sched/job_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "scenario/loader.h"
#include "sched/scheduler.h"

namespace sovgrid::sched {
namespace {

model::Job JobOf(const std::string& id, const std::string& tenant, int accelerators) {
  model::Job j;
  j.id = id;
  j.tenant = tenant;
  j.accelerators = accelerators;
  j.runtime_estimate_s = 3600;
  return j;
}

std::vector<std::uint32_t> Sorted(std::vector<std::uint32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

WaitReason Because(WaitCode code) {
  WaitReason r;
  r.code = code;
  return r;
}

// One pool, one quota class, one candidate set holding the pool.
struct OnePoolTable : ::testing::Test {
  JobTable table{1, 1, 4, 1};
  const std::vector<std::vector<std::uint32_t>> sets_of_pool{{0}};
  std::uint32_t Add(const std::string& id) {
    table.EnsureCandidateSets(1);
    return table.Add(JobOf(id, "t", 1), 0, 0, {0});
  }
};

TEST_F(OnePoolTable, ACycleTakesTheActiveListAndPlacesEveryJobAgain) {
  const std::uint32_t a = Add("a"), b = Add("b"), c = Add("c");
  EXPECT_EQ(Sorted(table.active()), Sorted({a, b, c}));
  table.Wake(0, 300, sets_of_pool);  // the first wake is a full one: nothing is parked yet
  const std::vector<std::uint32_t> taken = table.TakeActive();
  EXPECT_EQ(Sorted(taken), Sorted({a, b, c}));
  EXPECT_TRUE(table.active().empty());

  table.ParkConsidered(a, Because(WaitCode::kNoCapacity), table.hot(a).part_set, false);
  table.KeepActive(b);
  table.MarkRunning(c, 0, /*in_cycle=*/true);
  EXPECT_EQ(table.active(), std::vector<std::uint32_t>{b});
  EXPECT_EQ(Sorted(table.pending()), Sorted({a, b}));
  EXPECT_EQ(table.running_count(), 1u);

  // Within the retry interval and without a release, the parked job sleeps.
  table.Wake(60, 300, sets_of_pool);
  EXPECT_EQ(table.active(), std::vector<std::uint32_t>{b});
  // Once the interval has passed, it is woken with the active one.
  table.Wake(300, 300, sets_of_pool);
  EXPECT_EQ(Sorted(table.active()), Sorted({a, b}));
}

TEST_F(OnePoolTable, AJobParkedByACycleCanLeaveItsListBetweenCycles) {
  const std::uint32_t a = Add("a"), b = Add("b"), c = Add("c");
  table.Wake(0, 300, sets_of_pool);
  for (std::uint32_t idx : std::vector<std::uint32_t>(table.TakeActive()))
    table.ParkConsidered(idx, Because(WaitCode::kNoCapacity), table.hot(idx).part_set, false);
  EXPECT_TRUE(table.active().empty());
  // Cancelling the first parked job must find it where ParkConsidered put
  // it; a wrong slot would remove another job from the list instead.
  table.RemovePending(a);
  table.Remove(a);
  table.WakeAllNextCycle();
  table.Wake(60, 300, sets_of_pool);
  EXPECT_EQ(Sorted(table.active()), Sorted({b, c}));
}

// A job refused only by its holder's grants sleeps through the retry
// interval: only a window opening or a change of grants (WakeGrantHolder) or a
// global change wakes it. One that another pool admitted but had no room for
// waits for room like any other (woken by the retry interval here).
TEST_F(OnePoolTable, GrantHeldJobsWaitForTheirGrantsOrAGlobalChangeOnly) {
  const std::uint32_t a = Add("a"), b = Add("b"), c = Add("c");
  table.Wake(0, 300, sets_of_pool);
  (void)table.TakeActive();
  WaitReason grant = Because(WaitCode::kGrantInactive);
  grant.tenant = 0;  // the grant holder
  table.ParkConsidered(a, grant, table.hot(a).part_set, false);
  table.ParkConsidered(b, Because(WaitCode::kNoCapacity), table.hot(b).part_set, false);
  table.ParkConsidered(c, grant, table.hot(c).part_set, /*waited_for_room=*/true);
  table.Wake(60, 300, sets_of_pool);
  EXPECT_TRUE(table.active().empty());
  table.Wake(300, 300, sets_of_pool);
  EXPECT_EQ(Sorted(table.active()), Sorted({b, c}));

  (void)table.TakeActive();
  table.ParkConsidered(b, Because(WaitCode::kNoCapacity), table.hot(b).part_set, false);
  table.ParkConsidered(c, grant, table.hot(c).part_set, true);
  table.Wake(900, 300, sets_of_pool);
  EXPECT_EQ(Sorted(table.active()), Sorted({b, c}));  // a still sleeps
  (void)table.TakeActive();
  table.ParkConsidered(b, Because(WaitCode::kNoCapacity), table.hot(b).part_set, false);
  table.ParkConsidered(c, Because(WaitCode::kNoCapacity), table.hot(c).part_set, false);
  table.WakeGrantHolder(0);
  EXPECT_EQ(table.active(), std::vector<std::uint32_t>{a});

  table.Wake(960, 300, sets_of_pool);
  EXPECT_EQ(table.TakeActive(), std::vector<std::uint32_t>{a});
  table.ParkConsidered(a, grant, table.hot(a).part_set, false);
  table.WakeAllNextCycle();
  table.Wake(1000, 300, sets_of_pool);
  EXPECT_EQ(Sorted(table.active()), Sorted({a, b, c}));
}

// SetGrantUsed wakes a holder's jobs between cycles: a job so woken and then
// cancelled before the next cycle must leave the active list, not another
// list its stale slot would point to.
TEST_F(OnePoolTable, AJobWokenByItsGrantHolderBetweenCyclesCanBeCancelled) {
  const std::uint32_t a = Add("a"), b = Add("b");
  table.Wake(0, 300, sets_of_pool);
  (void)table.TakeActive();
  WaitReason grant = Because(WaitCode::kGrantSpent);
  grant.tenant = 0;
  table.ParkConsidered(a, grant, table.hot(a).part_set, false);
  table.ParkConsidered(b, grant, table.hot(b).part_set, false);
  table.WakeGrantHolder(0);
  EXPECT_EQ(Sorted(table.active()), Sorted({a, b}));
  table.RemovePending(a);
  table.Remove(a);
  EXPECT_EQ(table.active(), std::vector<std::uint32_t>{b});
  table.Wake(60, 300, sets_of_pool);
  EXPECT_EQ(table.TakeActive(), std::vector<std::uint32_t>{b});
}

// A job no pool can ever run (its candidate set is empty) is not woken by the
// retry interval, only by a global change.
TEST_F(OnePoolTable, AJobNoPoolCanRunWaitsForAGlobalChangeOnly) {
  const std::uint32_t a = Add("a"), b = Add("b");
  table.Wake(0, 300, sets_of_pool);
  (void)table.TakeActive();
  table.ParkConsidered(a, Because(WaitCode::kNoCandidatePool), table.hot(a).part_set, false);
  table.ParkConsidered(b, Because(WaitCode::kNoCapacity), table.hot(b).part_set, false);
  table.Wake(300, 300, sets_of_pool);
  EXPECT_EQ(table.TakeActive(), std::vector<std::uint32_t>{b});
  table.ParkConsidered(b, Because(WaitCode::kNoCapacity), table.hot(b).part_set, false);
  table.WakeAllNextCycle();
  table.Wake(360, 300, sets_of_pool);
  EXPECT_EQ(Sorted(table.active()), Sorted({a, b}));
}

model::Scenario Small() {
  auto s = scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

std::unique_ptr<Scheduler> Make(const model::Scenario& s) {
  auto sched = Scheduler::Create(s, SchedulerConfig::FromPolicies(s.policies));
  EXPECT_TRUE(sched.ok()) << sched.status().message();
  return std::move(sched).value();
}

model::Job OnB200(const std::string& id, int accelerators) {
  model::Job j = JobOf(id, "research", accelerators);
  j.accepted_models = {"B200"};
  return j;
}

// A job holding a reservation stays active: the next cycle tries it again
// though nothing was released (its reservation lasted one cycle).
TEST(SchedulerHandOff, AReservedJobIsTriedAgainAtTheNextCycle) {
  const model::Scenario s = Small();
  auto sched = Make(s);
  // The four B200 boards full: three of research's jobs, one of acme's.
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(sched->Submit(OnB200("fill-" + std::to_string(i), 8)).ok());
  model::Job acme = OnB200("fill-3", 8);
  acme.tenant = "acme";
  ASSERT_TRUE(sched->Submit(acme).ok());
  const model::Time t0 = s.epoch;  // research's grant is valid from then
  CycleResult first = sched->RunCycle(t0);
  ASSERT_EQ(first.stats.started, 4u) << *sched->Explain("fill-3");
  ASSERT_TRUE(sched->Submit(OnB200("waits", 8)).ok());
  CycleResult blocked = sched->RunCycle(t0 + 60);
  ASSERT_EQ(blocked.stats.considered, 1u);
  ASSERT_EQ(blocked.stats.reserved, 1u) << *sched->Explain("waits");
  CycleResult again = sched->RunCycle(t0 + 120);  // within the 300 s retry interval
  EXPECT_EQ(again.stats.considered, 1u);
  EXPECT_EQ(again.stats.reserved, 1u);
}

TEST(SchedulerHandles, AHandleNamesItsJobUntilTheJobLeaves) {
  const model::Scenario s = Small();
  auto sched = Make(s);
  Scheduler::Handle first = 0, second = 0;
  ASSERT_TRUE(sched->Submit(OnB200("first", 8), &first).ok());
  ASSERT_TRUE(sched->Submit(OnB200("second", 64), &second).ok());  // never fits
  EXPECT_NE(first, second);
  EXPECT_EQ(sched->JobAt(first).spec->id, "first");
  EXPECT_EQ(sched->JobAt(second).spec->id, "second");
  EXPECT_EQ(sched->JobAt(first).state, JobState::kPending);

  sched->RunCycle(s.epoch);
  EXPECT_EQ(sched->JobAt(first).state, JobState::kRunning);
  ASSERT_NE(sched->JobAt(first).assignment, nullptr);
  EXPECT_EQ(sched->JobAt(first).assignment, sched->Job("first")->assignment);  // the same record
  // The pending job's reason, by handle and by id.
  EXPECT_EQ(sched->ReasonAt(second).code, sched->Job("second")->reason.code);
  EXPECT_NE(sched->ReasonAt(second).code, WaitCode::kNotTried);

  // After the job leaves, its slot (and handle) may name another job.
  ASSERT_TRUE(sched->Finish("first", s.epoch + 10).ok());
  Scheduler::Handle third = 0;
  ASSERT_TRUE(sched->Submit(OnB200("third", 8), &third).ok());
  EXPECT_EQ(third, first);
  EXPECT_EQ(sched->JobAt(third).spec->id, "third");
  EXPECT_EQ(sched->JobAt(second).spec->id, "second");
}

}  // namespace
}  // namespace sovgrid::sched
