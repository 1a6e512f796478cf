// The twin and the daemon apply a cycle's decisions by one rule
// (sched::PlanCycle). This test holds them to it: the same job stream runs
// through the twin engine (virtual time) and through a ControlPlane with the
// twin execution backend on a virtual clock (every Tick and Submit is given
// its time; the test ticks at exactly the instants the twin has events:
// arrivals and completions), and both must take the same decisions (per job,
// the same sequence of starts, with placement, and stops, at the same times),
// run their cycles at the same instants with the same queue, and end in the
// same states.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/execution_backend.h"
#include "scenario/loader.h"
#include "sched/cycle_plan.h"
#include "server/control_plane.h"
#include "server/job_json.h"
#include "store/store.h"
#include "traces/synthetic.h"
#include "twin/engine.h"

namespace sovgrid::server {
namespace {

using model::Time;
// Per job (the tenant's name for it): its starts and stops, in order, as text.
using Log = std::map<std::string, std::vector<std::string>>;

struct CycleMark {
  Time at = 0;
  std::size_t pending = 0, running = 0;
  bool operator==(const CycleMark&) const = default;
};

std::string StartText(Time t, const std::vector<backends::PlacedPart>& where) {
  std::string s = "start@" + std::to_string(t);
  for (const auto& p : where) {
    s += " " + p.node + "[";
    for (int a : p.accelerators) s += std::to_string(a) + ",";
    s += "]x" + std::to_string(static_cast<int>(p.share * 1000 + 0.5));
  }
  return s;
}

// The twin execution backend, recording each start and stop at the test's
// virtual time, and knowing when each running job will end (the next instant
// the daemon must be ticked at). Ends follow the twin backend's rule: a
// start plus the job's (remaining) runtime estimate, at least 1 s.
class RecordingBackend final : public backends::ExecutionBackend {
 public:
  RecordingBackend(const Time* clock, Log* log)
      : inner_(backends::MakeTwinBackend(1)), clock_(clock), log_(log) {}
  std::string_view name() const override { return "twin"; }
  Status Accepts(const model::Job& job) const override { return inner_->Accepts(job); }
  Result<std::string> Start(const model::Job& job, const std::vector<backends::PlacedPart>& where,
                            Time now) override {
    (*log_)[std::string(JobNameOfKey(job.id))].push_back(StartText(now, where));
    ends_[job.id] = now + std::max<Time>(1, job.runtime_estimate_s);
    return inner_->Start(job, where, now);
  }
  Status Adopt(const model::Job& job, const std::vector<backends::PlacedPart>& where, Time at,
               const std::string& handle) override {
    return inner_->Adopt(job, where, at, handle);
  }
  void Stop(const std::string& job) override {
    (*log_)[std::string(JobNameOfKey(job))].push_back("stop@" + std::to_string(*clock_));
    ends_.erase(job);
    inner_->Stop(job);
  }
  std::vector<backends::Ended> Poll(Time now) override {
    auto ended = inner_->Poll(now);
    for (const auto& e : ended) ends_.erase(e.job);
    return ended;
  }
  Result<std::string> Logs(const std::string& job, std::string_view stream, std::size_t offset,
                           std::size_t limit) override {
    return inner_->Logs(job, stream, offset, limit);
  }
  Time NextEnd() const {
    Time t = std::numeric_limits<Time>::max();
    for (const auto& [job, end] : ends_) t = std::min(t, end);
    return t;
  }

 private:
  std::unique_ptr<backends::ExecutionBackend> inner_;
  const Time* clock_;
  Log* log_;
  std::map<std::string, Time> ends_;
};

struct Outcome {
  Log log;
  std::vector<CycleMark> cycles;
  std::size_t finished = 0, unfinished = 0, rejected = 0, preemptions = 0, dropped = 0;
  double mean_jct_s = 0, mean_queue_s = 0;
};

model::Scenario Small(const std::string& order) {
  auto r = scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  model::Scenario s = std::move(r).value();
  s.policies.queue_order = order;
  // With no grace a job started in a cycle may be preempted in the same cycle:
  // the case the two drivers used to apply differently.
  s.policies.preemption_grace_s = 0;
  return s;
}

// A few hundred jobs on small.toml's 40 accelerators: queues, quota reclaim
// and (for srtf) preemption by queue order. `max_load` caps the offered load
// (traces::SyntheticOptions).
twin::Workload Stream(const model::Scenario& s, double max_load) {
  traces::SyntheticOptions o;
  o.jobs = 300;
  o.days = 1;
  o.seed = 7;
  o.foundation_gangs = 0;
  o.max_load = max_load;
  auto w = traces::GenerateSynthetic(s, o);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  for (auto& tj : w->jobs) {
    // Services of at most 2 h (their profiles draw 4-48 h: docs/twin.md,
    // "Service profiles"), so that small.toml's 40 accelerators turn over
    // within the day; replicas keep their drawn size (1-8 accelerators).
    if (tj.job.kind == model::JobKind::kService) {
      tj.runtime_s = std::min<model::Duration>(tj.runtime_s, 7200);
    }
    // The twin backend runs a job for its estimate: make it the true runtime.
    tj.runtime_s = std::max<model::Duration>(1, tj.runtime_s);
    tj.job.runtime_estimate_s = tj.runtime_s;
  }
  return std::move(w).value();
}

Outcome ThroughTwin(const model::Scenario& s, const twin::Workload& w) {
  Outcome run;
  twin::TwinOptions o;
  o.label = s.policies.queue_order;
  o.config = sched::SchedulerConfig::FromPolicies(s.policies);
  // The twin execution backend runs a job for its estimate on any model: the
  // twin must not scale runtimes by throughput here (docs/twin.md).
  o.throughput_scaling = false;
  o.on_cycle = [&](Time now, const sched::CyclePlan& plan, const sched::Scheduler& sched) {
    const sched::GridState& grid = sched.grid();
    for (const sched::Decision* d : plan.stops)
      run.log[d->job].push_back("stop@" + std::to_string(now));
    for (const sched::Decision* d : plan.starts) {
      std::vector<backends::PlacedPart> where;
      for (const auto& a : d->assignment) {
        backends::PlacedPart p;
        p.node = grid.NodeName(a.node);
        for (auto x : a.accelerators)
          p.accelerators.push_back(static_cast<int>(x - grid.node(a.node).first_accel));
        p.share = static_cast<double>(a.milli_per_accelerator) / 1000.0;
        where.push_back(std::move(p));
      }
      run.log[d->job].push_back(StartText(now, where));
    }
    run.preemptions += plan.preemptions();
    run.dropped += plan.dropped.size();
    run.cycles.push_back({now, sched.pending_count(), sched.running_count()});
  };
  auto r = twin::Simulate(s, w, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return run;
  run.finished = r->jobs_finished;
  run.unfinished = r->jobs_unfinished;
  run.rejected = r->jobs_rejected;
  run.mean_jct_s = r->mean_jct_s;
  run.mean_queue_s = r->mean_queue_s;
  EXPECT_EQ(r->preemptions, run.preemptions);
  return run;
}

Outcome ThroughDaemon(const model::Scenario& s, const twin::Workload& w) {
  Outcome run;
  char tmpl[] = "/tmp/sovgrid-parity-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  EXPECT_NE(dir, nullptr);
  if (dir == nullptr) return run;
  {
    auto store = store::OpenSqliteStore(dir);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return run;
    Time clock = s.epoch;
    auto backend = std::make_unique<RecordingBackend>(&clock, &run.log);
    RecordingBackend* recorder = backend.get();
    auto cp = ControlPlane::Open(s, store->get(), std::move(backend), clock);
    EXPECT_TRUE(cp.ok()) << cp.status().ToString();
    if (!cp.ok()) return run;
    // Arrivals in the twin's order: by submission time, stable.
    std::vector<const twin::TwinJob*> arrivals;
    for (const auto& tj : w.jobs) arrivals.push_back(&tj);
    std::stable_sort(arrivals.begin(), arrivals.end(), [](const auto* a, const auto* b) {
      return a->job.submit_time < b->job.submit_time;
    });
    std::vector<std::string> keys;
    std::size_t next = 0;
    while (true) {
      const Time arrival = next < arrivals.size() ? arrivals[next]->job.submit_time
                                                  : std::numeric_limits<Time>::max();
      const Time t = std::min(arrival, recorder->NextEnd());
      if (t == std::numeric_limits<Time>::max()) break;
      clock = t;
      for (; next < arrivals.size() && arrivals[next]->job.submit_time == t; ++next) {
        auto ids = (*cp)->Submit({arrivals[next]->job}, t);
        if (ids.ok()) {
          keys.push_back(ids->front());
        } else {
          ++run.rejected;
        }
      }
      const Status ticked = (*cp)->Tick(t);
      EXPECT_TRUE(ticked.ok()) << ticked.ToString();
      if (!ticked.ok()) break;
      const GridSummary g = (*cp)->Grid();
      run.cycles.push_back({t, g.pending, g.running});
    }
    run.preemptions = (*cp)->counters().preempted;
    double jct = 0, queue = 0;
    for (const auto& key : keys) {
      auto info = (*cp)->Job(key);
      EXPECT_TRUE(info.ok()) << info.status().ToString();
      if (!info.ok()) continue;
      if (ParseJobState(info->record.state) != JobState::kFinished) {
        ++run.unfinished;
        continue;
      }
      ++run.finished;
      jct += static_cast<double>(info->record.updated_at - info->record.submitted_at);
      for (const auto& e : info->history) {
        if (e.state != "running") continue;
        queue += static_cast<double>(e.at - info->record.submitted_at);
        break;
      }
    }
    if (run.finished > 0) {
      run.mean_jct_s = jct / static_cast<double>(run.finished);
      run.mean_queue_s = queue / static_cast<double>(run.finished);
    }
  }
  std::filesystem::remove_all(dir);
  return run;
}

class TwinParity : public ::testing::TestWithParam<std::string> {};

// Requires the two runs' decisions, cycles and final states to be equal.
void ExpectSameRuns(const Outcome& by_twin, const Outcome& by_daemon) {
  EXPECT_EQ(by_twin.rejected, by_daemon.rejected);
  EXPECT_EQ(by_twin.finished, by_daemon.finished);
  EXPECT_EQ(by_twin.unfinished, by_daemon.unfinished);
  EXPECT_EQ(by_twin.preemptions, by_daemon.preemptions);
  EXPECT_DOUBLE_EQ(by_twin.mean_jct_s, by_daemon.mean_jct_s);
  EXPECT_DOUBLE_EQ(by_twin.mean_queue_s, by_daemon.mean_queue_s);
  // Every cycle at the same instant, leaving the same queue.
  ASSERT_EQ(by_twin.cycles.size(), by_daemon.cycles.size());
  for (std::size_t i = 0; i < by_twin.cycles.size(); ++i) {
    ASSERT_EQ(by_twin.cycles[i], by_daemon.cycles[i])
        << "cycle " << i << ": twin at " << by_twin.cycles[i].at << " ("
        << by_twin.cycles[i].pending << " pending, " << by_twin.cycles[i].running
        << " running), daemon at " << by_daemon.cycles[i].at << " (" << by_daemon.cycles[i].pending
        << " pending, " << by_daemon.cycles[i].running << " running)";
  }
  // Per job, the same starts (time and placement) and stops.
  ASSERT_EQ(by_twin.log.size(), by_daemon.log.size());
  for (const auto& [job, events] : by_twin.log) {
    auto it = by_daemon.log.find(job);
    ASSERT_NE(it, by_daemon.log.end()) << job << " ran in the twin only";
    EXPECT_EQ(events, it->second) << job;
  }
}

TEST_P(TwinParity, SameDecisionsAndFinalStates) {
  const model::Scenario s = Small(GetParam());
  const twin::Workload w = Stream(s, 3);
  const Outcome by_twin = ThroughTwin(s, w);
  const Outcome by_daemon = ThroughDaemon(s, w);
  // The stream puts the scheduler under preemption pressure.
  EXPECT_GT(by_twin.preemptions, 0u);
  // srtf preempts starts of the same cycle (grace 0): the case PlanCycle drops.
  if (GetParam() == "srtf") {
    EXPECT_GT(by_twin.dropped, 0u);
  }
  ExpectSameRuns(by_twin, by_daemon);
  std::printf("%s: %zu cycles, %zu jobs ran, %zu preemptions, %zu starts dropped\n",
              GetParam().c_str(), by_twin.cycles.size(), by_twin.log.size(), by_twin.preemptions,
              by_twin.dropped);
}

// Jobs that end at the same instant free their nodes in one order in both
// drivers (the order their runs started), so the jobs placed next land on
// the same nodes. At this lighter load services of several accelerators per
// replica end together on whole nodes; before the daemon ordered its
// releases (it took the backend's order, by job id), about a dozen later
// starts went to other nodes of the same pool.
TEST_P(TwinParity, SimultaneousEndsFreeNodesInOneOrder) {
  const model::Scenario s = Small(GetParam());
  const twin::Workload w = Stream(s, 1.5);
  const bool wide_replicas = std::any_of(w.jobs.begin(), w.jobs.end(), [](const auto& tj) {
    return tj.job.kind == model::JobKind::kService && tj.job.replicas > 1 &&
           tj.job.accelerators > 1;
  });
  ASSERT_TRUE(wide_replicas) << "the stream no longer has services of several accelerators";
  ExpectSameRuns(ThroughTwin(s, w), ThroughDaemon(s, w));
}

INSTANTIATE_TEST_SUITE_P(Orders, TwinParity, ::testing::Values("drf", "srtf"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace sovgrid::server
