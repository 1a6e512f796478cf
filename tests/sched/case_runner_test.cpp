// Runs every scheduler case in tests/sched/cases/*.toml: a grid, a config, and
// steps of events, each followed by one cycle whose decisions are checked.
// A new case needs no C++. Format (see tests/sched/cases/README.md):
//   scenario = "scenarios/small.toml"        # relative to the source root
//   [config] queue_order, scores, backfill, preemption, preemption_grace_s
//   [[steps]] at, submit = [{job}], finish, cancel, nodes_down, nodes_up,
//             sites_down, sites_up, then expectations: start, start_pools,
//             preempt, reserve, requeue, pending = { job = "substring" }, running
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "scenario/job_reader.h"
#include "scenario/loader.h"
#include "sched/scheduler.h"

namespace sovgrid::sched {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = SOVGRID_SOURCE_DIR;

std::vector<std::string> CaseFiles() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(kSource / "tests/sched/cases")) {
    if (e.path().extension() == ".toml") files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> Strings(const toml::table& t, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* arr = t[key].as_array()) {
    for (const auto& e : *arr) out.push_back(e.value_or(std::string()));
  }
  return out;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class SchedulerCase : public ::testing::TestWithParam<std::string> {};

TEST_P(SchedulerCase, DecisionsMatch) {
  const fs::path file = kSource / "tests/sched/cases" / GetParam();
  toml::table doc;
  try {
    doc = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    FAIL() << file << ": " << e.description();
  }
  auto loaded =
      scenario::LoadScenarioFile((kSource / doc["scenario"].value_or(std::string())).string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const model::Scenario scenario = std::move(loaded).value();
  SchedulerConfig config = SchedulerConfig::FromPolicies(scenario.policies);
  if (const auto* c = doc["config"].as_table()) {
    config.queue_order = (*c)["queue_order"].value_or(config.queue_order);
    if (c->contains("scores")) config.scores = Strings(*c, "scores");
    config.backfill = (*c)["backfill"].value_or(config.backfill);
    config.preemption = (*c)["preemption"].value_or(config.preemption);
    config.preemption_grace_s = (*c)["preemption_grace_s"].value_or(config.preemption_grace_s);
  }
  auto created = Scheduler::Create(scenario, config);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  Scheduler& s = **created;

  const auto* steps = doc["steps"].as_array();
  ASSERT_NE(steps, nullptr) << "no [[steps]]";
  int step_no = 0;
  for (const auto& node : *steps) {
    const toml::table& step = *node.as_table();
    const std::string where = GetParam() + " step " + std::to_string(step_no++);
    const model::Time now = scenario.epoch + step["at"].value_or(std::int64_t{0});
    // A job table of the case file, submitted at `now` unless it says otherwise.
    auto read_job = [&](const toml::table& t, model::Job* job) {
      scenario::DiagnosticSink sink(file.string());
      scenario::TableReader r(sink, t, "submit");
      job->submit_time = now;
      scenario::ReadJob(r, job);
      r.Finish();
      return scenario::JoinDiagnostics(sink.diagnostics());
    };
    if (const auto* submits = step["submit"].as_array()) {
      for (const auto& j : *submits) {
        model::Job job;
        const std::string problems = read_job(*j.as_table(), &job);
        ASSERT_TRUE(problems.empty()) << problems;
        Status st = s.Submit(job);
        ASSERT_TRUE(st.ok()) << where << ": " << st.ToString();
      }
    }
    // Jobs the scheduler must refuse at submission, with a message containing `error`.
    if (const auto* rejected = step["submit_rejected"].as_array()) {
      for (const auto& j : *rejected) {
        toml::table t = *j.as_table();
        const std::string error = t["error"].value_or(std::string());
        t.erase("error");
        model::Job job;
        const std::string problems = read_job(t, &job);
        ASSERT_TRUE(problems.empty()) << problems;
        Status st = s.Submit(job);
        EXPECT_FALSE(st.ok()) << where << ": " << job.id << " was accepted";
        EXPECT_NE(st.message().find(error), std::string::npos) << where << ": " << st.ToString();
      }
    }
    for (const auto& id : Strings(step, "finish"))
      ASSERT_TRUE(s.Finish(id, now).ok()) << where << " " << id;
    for (const auto& id : Strings(step, "cancel"))
      ASSERT_TRUE(s.Cancel(id, now).ok()) << where << " " << id;
    for (const auto& n : Strings(step, "nodes_down"))
      ASSERT_TRUE(s.SetNodeHealth(n, NodeHealth::kDown, now).ok());
    for (const auto& n : Strings(step, "nodes_up"))
      ASSERT_TRUE(s.SetNodeHealth(n, NodeHealth::kUp, now).ok());
    for (const auto& n : Strings(step, "sites_down"))
      ASSERT_TRUE(s.SetSiteState(n, model::SiteState::kDown, now).ok());
    for (const auto& n : Strings(step, "sites_up"))
      ASSERT_TRUE(s.SetSiteState(n, model::SiteState::kUp, now).ok());
    for (const auto& n : Strings(step, "sites_drain")) {
      ASSERT_TRUE(s.SetSiteState(n, model::SiteState::kDraining, now).ok());
    }
    for (const auto& n : Strings(step, "nodes_drain"))
      ASSERT_TRUE(s.SetNodeHealth(n, NodeHealth::kDraining, now).ok());
    // set_quota = [{ tenant = "x", guarantee = {...}, borrow_limit = {...}, lend_limit = {...} }]
    if (const auto* quotas = step["set_quota"].as_array()) {
      for (const auto& q : *quotas) {
        const toml::table& t = *q.as_table();
        auto amounts = [&](std::string_view key) {
          model::ClassAmounts out;
          if (const auto* m = t[key].as_table()) {
            for (const auto& [k, v] : *m) out[std::string(k.str())] = v.value_or(std::int64_t{0});
          }
          return out;
        };
        Status st = s.SetQuota(t["tenant"].value_or(std::string()), amounts("guarantee"),
                               amounts("borrow_limit"), amounts("lend_limit"));
        ASSERT_TRUE(st.ok()) << where << ": " << st.ToString();
      }
    }

    const CycleResult cycle = s.RunCycle(now);
    std::map<Decision::Kind, std::vector<std::string>> by_kind;
    for (const auto& d : cycle.decisions) by_kind[d.kind].push_back(d.job);
    auto check = [&](std::string_view key, Decision::Kind kind) {
      if (step.contains(key)) {
        EXPECT_EQ(Sorted(by_kind[kind]), Sorted(Strings(step, key))) << where << ": " << key;
      }
    };
    check("start", Decision::Kind::kStart);
    check("preempt", Decision::Kind::kPreempt);
    check("reserve", Decision::Kind::kReserve);
    check("requeue", Decision::Kind::kRequeue);
    // start_pools = { job = "pool" } (every node in that pool) or
    // { job = ["pool", ...] } (exactly the pools its nodes are in: a hybrid
    // job's accelerators and QPUs).
    if (const auto* pools = step["start_pools"].as_table()) {
      for (const auto& [id, pool] : *pools) {
        auto view = s.Job(id.str());
        ASSERT_TRUE(view.ok()) << where << ": " << id.str();
        ASSERT_NE(view->assignment, nullptr) << where << ": " << id.str() << " is not running";
        std::set<std::string> held;
        for (const auto& a : *view->assignment)
          held.insert(scenario.pools[s.grid().node(a.node).pool].id);
        std::set<std::string> expected;
        if (const auto* list = pool.as_array()) {
          for (const auto& e : *list) expected.insert(e.value_or(std::string()));
        } else {
          expected.insert(pool.value_or(std::string()));
        }
        EXPECT_EQ(held, expected) << where << ": pools of " << id.str();
      }
    }
    if (const auto* nodes = step["start_nodes"].as_table()) {
      for (const auto& [id, count] : *nodes) {
        auto view = s.Job(id.str());
        ASSERT_TRUE(view.ok() && view->assignment != nullptr) << where << ": " << id.str();
        EXPECT_EQ(static_cast<std::int64_t>(view->assignment->size()),
                  count.value_or(std::int64_t{-1}))
            << where << ": nodes of " << id.str();
      }
    }
    if (const auto* pending = step["pending"].as_table()) {
      for (const auto& [id, text] : *pending) {
        auto why = s.Explain(id.str());
        ASSERT_TRUE(why.ok()) << where << ": " << why.status().ToString();
        EXPECT_NE(why->find(text.value_or(std::string())), std::string::npos)
            << where << ": reason of " << id.str() << " is \"" << *why << "\"";
      }
    }
    if (step.contains("running")) {
      for (const auto& id : Strings(step, "running")) {
        auto view = s.Job(id);
        ASSERT_TRUE(view.ok()) << where << ": " << id;
        EXPECT_EQ(view->state, JobState::kRunning) << where << ": " << id;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, SchedulerCase, ::testing::ValuesIn(CaseFiles()),
                         [](const auto& param_info) {
                           std::string name =
                               param_info.param.substr(0, param_info.param.size() - 5);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace sovgrid::sched
