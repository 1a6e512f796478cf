// Scheduler::Adopt: a restarted driver rebuilds exactly the allocations the
// previous scheduler had made, and an allocation that can no longer be honoured
// is refused without a trace.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "scenario/loader.h"
#include "sched/scheduler.h"
#include "sched/test_grids.h"

namespace sovgrid::sched {
namespace {

model::Scenario Small() {
  auto s = scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

model::Job JobOf(const std::string& id, const std::string& tenant, int accelerators) {
  model::Job j;
  j.id = id;
  j.tenant = tenant;
  j.accelerators = accelerators;
  j.runtime_estimate_s = 3600;
  return j;
}

std::unique_ptr<Scheduler> Make(const model::Scenario& s) {
  auto sched = Scheduler::Create(s, SchedulerConfig::FromPolicies(s.policies));
  EXPECT_TRUE(sched.ok()) << sched.status().message();
  return std::move(sched).value();
}

TEST(SchedulerAdopt, RebuildsTheGridAndQuotaOfARunOnTheMidSizeGrid) {
  const model::Scenario s = testing::MidSizeGrid();
  auto first = Make(s);
  std::mt19937_64 rng(7);
  std::vector<model::Job> jobs;
  for (int i = 0; i < 400; ++i) {
    jobs.push_back(testing::RandomJob(s, rng, "j" + std::to_string(i), 0));
    ASSERT_TRUE(first->Submit(jobs.back()).ok());
  }
  std::map<std::string, model::Time> started;
  for (model::Time t = 0; t < 5 * 600; t += 600) {
    for (const auto& d : first->RunCycle(t).decisions) {
      if (d.kind == Decision::Kind::kStart) started[d.job] = t;
    }
  }
  ASSERT_GT(first->running_count(), 10U);

  // The restarted scheduler: running jobs adopted where they run, the rest queued.
  auto second = Make(s);
  for (const auto& job : jobs) {
    auto view = first->Job(job.id);
    if (!view.ok()) continue;
    if (view->state == JobState::kRunning) {
      const Status a = second->Adopt(job, *view->assignment, started.at(job.id), 3000);
      ASSERT_TRUE(a.ok()) << job.id << ": " << a.message();
    } else {
      ASSERT_TRUE(second->Submit(job).ok());
    }
  }
  EXPECT_EQ(second->running_count(), first->running_count());
  EXPECT_EQ(second->pending_count(), first->pending_count());
  for (std::size_t p = 0; p < s.pools.size(); ++p)
    EXPECT_EQ(second->grid().pool(p).used_milli, first->grid().pool(p).used_milli) << p;
  for (std::size_t a = 0; a < first->grid().node_count(); ++a) {
    const NodeInfo& n = first->grid().node(static_cast<NodeId>(a));
    for (AccelId x = n.first_accel; x < n.first_accel + n.accel_count; ++x)
      ASSERT_EQ(second->grid().FreeMilli(x), first->grid().FreeMilli(x)) << x;
  }
  for (std::size_t t = 0; t < s.tenants.size(); ++t) {
    for (int c = 0; c < first->quota().class_count(); ++c) {
      EXPECT_EQ(second->quota().Usage(static_cast<int>(t), c),
                first->quota().Usage(static_cast<int>(t), c));
    }
  }
  // Further cycles never place on what the adopted jobs hold.
  for (model::Time t = 3000; t < 6000; t += 600) {
    for (const auto& d : second->RunCycle(t).decisions) {
      if (d.kind != Decision::Kind::kStart) continue;
      for (const auto& part : d.assignment) {
        for (AccelId x : part.accelerators) ASSERT_GE(second->grid().FreeMilli(x), 0);
      }
    }
  }
  for (std::size_t p = 0; p < s.pools.size(); ++p)
    EXPECT_LE(second->grid().pool(p).used_milli, second->grid().pool(p).capacity_milli);
}

TEST(SchedulerAdopt, RefusesWhatCannotBeHonouredAndLeavesNoTrace) {
  const model::Scenario s = Small();
  auto sched = Make(s);
  const GridState& grid = sched->grid();
  const NodeId north0 = *grid.FindNode("north-b200/n00000");
  const NodeId south0 = *grid.FindNode("south-l4/n00000");
  auto on = [&](NodeId n, std::vector<int> idx) {
    NodeAssignment a;
    a.node = n;
    for (int i : idx) a.accelerators.push_back(grid.node(n).first_accel + static_cast<AccelId>(i));
    return std::vector<NodeAssignment>{a};
  };
  ASSERT_TRUE(sched->Adopt(JobOf("a", "startup", 2), on(north0, {0, 1}), 100, 200).ok());
  EXPECT_EQ(sched->running_count(), 1U);

  // The same accelerators again: taken.
  Status st = sched->Adopt(JobOf("b", "acme", 2), on(north0, {1, 2}), 100, 200);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.message();
  EXPECT_FALSE(sched->Job("b").ok()) << "a refused job must not stay queued";
  EXPECT_EQ(grid.FreeMilli(grid.node(north0).first_accel + 2), model::kMilliPerAccelerator);

  // Residency: health records may only be on tier-3 sites; south is tier 1.
  model::Job health = JobOf("h", "research", 2);
  health.datasets = {"health-records"};
  st = sched->Adopt(health, on(south0, {0, 1}), 100, 200);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find("not a candidate"), std::string::npos) << st.message();

  // A node that is down.
  ASSERT_TRUE(sched->SetNodeHealth("south-l4/n00001", NodeHealth::kDown, 150).ok());
  st = sched->Adopt(JobOf("d", "startup", 2), on(*grid.FindNode("south-l4/n00001"), {0, 1}), 100,
                    200);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.message();

  // An accelerator the node does not have.
  NodeAssignment outside;
  outside.node = south0;
  outside.accelerators = {grid.node(south0).first_accel + 5};
  st = sched->Adopt(JobOf("o", "startup", 1), {outside}, 100, 200);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.message();

  // A duplicate id is refused as by Submit.
  st = sched->Adopt(JobOf("a", "startup", 2), on(north0, {4, 5}), 100, 200);
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.message();

  EXPECT_EQ(sched->running_count(), 1U);
  EXPECT_EQ(sched->pending_count(), 0U);
  // The adopted job ends like any other and gives its accelerators back.
  ASSERT_TRUE(sched->Finish("a", 300).ok());
  EXPECT_EQ(grid.pool(0).used_milli, 0);
}

TEST(SchedulerAdopt, AHybridJobKeepsItsQpusAndAcceleratorsTogether) {
  auto loaded = scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) +
                                           "/tests/sched/cases/grids/qpu.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const model::Scenario s = std::move(loaded).value();
  model::Job h = JobOf("h", "lab", 4);
  h.qpus = 1;
  auto first = Make(s);
  ASSERT_TRUE(first->Submit(h).ok());
  ASSERT_EQ(first->RunCycle(0).decisions.size(), 1U);
  const std::vector<NodeAssignment> assignment = *first->Job("h")->assignment;
  ASSERT_EQ(assignment.size(), 2U);  // one GPU node, one QPU node

  auto second = Make(s);
  // Without its QPU: refused, and nothing is left behind.
  std::vector<NodeAssignment> gpus_only;
  for (const auto& a : assignment) {
    if (!s.accelerators[s.pools[second->grid().node(a.node).pool].accelerator_index].qpu())
      gpus_only.push_back(a);
  }
  ASSERT_EQ(gpus_only.size(), 1U);
  const Status partial = second->Adopt(h, gpus_only, 0, 10);
  EXPECT_FALSE(partial.ok());
  EXPECT_NE(partial.message().find("holds 0 QPUs"), std::string::npos) << partial.message();
  EXPECT_EQ(second->running_count(), 0U);
  // Whole: adopted; a second hybrid job on the same QPU is refused (no double booking).
  ASSERT_TRUE(second->Adopt(h, assignment, 0, 10).ok());
  model::Job h2 = JobOf("h2", "lab", 1);
  h2.qpus = 1;
  std::vector<NodeAssignment> same_qpu;
  for (const auto& a : assignment) {
    if (s.accelerators[s.pools[second->grid().node(a.node).pool].accelerator_index].qpu())
      same_qpu.push_back(a);
  }
  NodeAssignment gpu = gpus_only.front();
  gpu.accelerators = {gpu.accelerators.back() + 1};
  same_qpu.push_back(gpu);
  const Status taken = second->Adopt(h2, same_qpu, 0, 10);
  EXPECT_FALSE(taken.ok());
  EXPECT_NE(taken.message().find("are taken"), std::string::npos) << taken.message();
}

}  // namespace
}  // namespace sovgrid::sched
