// PlanCycle: the one rule by which the twin and the daemon apply a cycle's
// decisions, on hand-made CycleResults.
#include "sched/cycle_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sovgrid::sched {
namespace {

using Kind = Decision::Kind;

Decision Make(Kind kind, const std::string& job, NodeId node = 0) {
  Decision d;
  d.kind = kind;
  d.job = job;
  d.reason = std::string(DecisionKindName(kind)) + " " + job;
  if (kind == Kind::kStart) d.assignment = {NodeAssignment{node, {node * 8}, 1000}};
  if (kind == Kind::kReserve) d.reserved_nodes = {node};
  return d;
}

// The jobs of a list of decisions, in order.
std::vector<std::string> Jobs(const std::vector<const Decision*>& ds) {
  std::vector<std::string> out;
  for (const Decision* d : ds) out.push_back(d->job);
  return out;
}

using Names = std::vector<std::string>;

TEST(CyclePlan, EmptyCycleIsAnEmptyPlan) {
  const CycleResult cycle;
  const CyclePlan plan = PlanCycle(cycle);
  EXPECT_TRUE(plan.stops.empty());
  EXPECT_TRUE(plan.starts.empty());
  EXPECT_TRUE(plan.dropped.empty());
  EXPECT_EQ(plan.reservations, 0u);
  EXPECT_EQ(plan.preemptions(), 0u);
}

// Stops (preemptions and requeues) come first in decision order, then starts in
// decision order, each pointing at its decision with its assignment.
TEST(CyclePlan, StopsBeforeStartsEachInDecisionOrder) {
  CycleResult cycle;
  cycle.decisions = {Make(Kind::kStart, "a", 1),   Make(Kind::kPreempt, "v1"),
                     Make(Kind::kRequeue, "r1"),   Make(Kind::kStart, "b", 2),
                     Make(Kind::kReserve, "c", 3), Make(Kind::kPreempt, "v2")};
  const CyclePlan plan = PlanCycle(cycle);
  EXPECT_EQ(Jobs(plan.stops), (Names{"v1", "r1", "v2"}));
  EXPECT_EQ(Jobs(plan.starts), (Names{"a", "b"}));
  EXPECT_TRUE(plan.dropped.empty());
  EXPECT_EQ(plan.reservations, 1u);
  EXPECT_EQ(plan.preemptions(), 2u);  // the requeue is not a preemption
  ASSERT_EQ(plan.starts[1]->assignment.size(), 1u);
  EXPECT_EQ(plan.starts[1]->assignment[0].node, 2u);
  EXPECT_EQ(plan.starts[1], &cycle.decisions[3]);  // points into the cycle
}

// The case the daemon handled and the twin did not: a job started in this cycle
// and preempted later in the same cycle never runs. No start, no stop, no
// preemption; the decision that undid it is in `dropped`.
TEST(CyclePlan, StartPreemptedInTheSameCycleIsDropped) {
  CycleResult cycle;
  cycle.decisions = {Make(Kind::kStart, "early", 1), Make(Kind::kStart, "other", 2),
                     Make(Kind::kPreempt, "early"), Make(Kind::kStart, "urgent", 1)};
  const CyclePlan plan = PlanCycle(cycle);
  EXPECT_TRUE(plan.stops.empty());
  EXPECT_EQ(Jobs(plan.starts), (Names{"other", "urgent"}));
  ASSERT_EQ(plan.dropped.size(), 1u);
  EXPECT_EQ(plan.dropped[0], &cycle.decisions[2]);
  EXPECT_EQ(plan.preemptions(), 0u);
}

// A start undone by a requeue (its node failed within the cycle) is dropped too.
TEST(CyclePlan, StartRequeuedInTheSameCycleIsDropped) {
  CycleResult cycle;
  cycle.decisions = {Make(Kind::kStart, "a", 1), Make(Kind::kRequeue, "a")};
  const CyclePlan plan = PlanCycle(cycle);
  EXPECT_TRUE(plan.stops.empty());
  EXPECT_TRUE(plan.starts.empty());
  EXPECT_EQ(Jobs(plan.dropped), (Names{"a"}));
}

// A job running before the cycle, stopped and started again elsewhere in it:
// its old run stops and its new one starts.
TEST(CyclePlan, StoppedThenRestartedInOneCycleHasStopAndStart) {
  CycleResult cycle;
  cycle.decisions = {Make(Kind::kRequeue, "a"), Make(Kind::kStart, "b", 1),
                     Make(Kind::kStart, "a", 2)};
  const CyclePlan plan = PlanCycle(cycle);
  EXPECT_EQ(Jobs(plan.stops), (Names{"a"}));
  EXPECT_EQ(Jobs(plan.starts), (Names{"b", "a"}));
  EXPECT_EQ(plan.starts[1]->assignment[0].node, 2u);
  EXPECT_TRUE(plan.dropped.empty());
}

// Running before, stopped, started again and stopped again: one stop (the
// first decision, the one that ended the run that existed), the restart dropped.
TEST(CyclePlan, RestartUndoneInTheSameCycleStopsOnceAndDrops) {
  CycleResult cycle;
  cycle.decisions = {Make(Kind::kPreempt, "a"), Make(Kind::kStart, "a", 2),
                     Make(Kind::kPreempt, "a")};
  const CyclePlan plan = PlanCycle(cycle);
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0], &cycle.decisions[0]);
  EXPECT_TRUE(plan.starts.empty());
  ASSERT_EQ(plan.dropped.size(), 1u);
  EXPECT_EQ(plan.dropped[0], &cycle.decisions[2]);
  EXPECT_EQ(plan.preemptions(), 1u);
}

// Started, preempted and started again in one cycle: it runs, on the last
// start's assignment.
TEST(CyclePlan, LastStartWins) {
  CycleResult cycle;
  cycle.decisions = {Make(Kind::kStart, "a", 1), Make(Kind::kPreempt, "a"),
                     Make(Kind::kStart, "a", 3)};
  const CyclePlan plan = PlanCycle(cycle);
  EXPECT_TRUE(plan.stops.empty());
  ASSERT_EQ(plan.starts.size(), 1u);
  EXPECT_EQ(plan.starts[0], &cycle.decisions[2]);
  EXPECT_TRUE(plan.dropped.empty());
}

// Reservations are counted, never effects, and do not hide a job's start.
TEST(CyclePlan, ReservationsAreNoEffect) {
  CycleResult cycle;
  cycle.decisions = {Make(Kind::kReserve, "a", 1), Make(Kind::kReserve, "b", 2),
                     Make(Kind::kStart, "a", 1)};
  const CyclePlan plan = PlanCycle(cycle);
  EXPECT_EQ(plan.reservations, 2u);
  EXPECT_EQ(Jobs(plan.starts), (Names{"a"}));
  EXPECT_TRUE(plan.stops.empty());
}

}  // namespace
}  // namespace sovgrid::sched
