// Golden twin runs: the scheduler's decisions, seen through fixed-seed twin
// runs, do not change. Each run's figures (what `sovgrid simulate --json`
// writes, less the timing fields, plus the queue, running and utilisation time
// series) are compared byte for byte with a file in tests/sched/golden/.
// A change to the scheduler that is meant to change decisions regenerates
// them with SOVGRID_UPDATE_GOLDEN=1 and says so in its commit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "report/twin_report.h"
#include "scenario/loader.h"
#include "sched/scheduler.h"
#include "traces/synthetic.h"
#include "traces/trace_reader.h"
#include "twin/engine.h"
#include "twin/metrics.h"

namespace sovgrid::twin {
namespace {

using report::ReportJson;
using traces::GenerateSynthetic;
using traces::ReadTrace;
using traces::ScenarioFromAlibabaNodes;
using traces::SyntheticOptions;
using traces::TraceOptions;

namespace fs = std::filesystem;

const fs::path kSource = SOVGRID_SOURCE_DIR;
const fs::path kGolden = kSource / "tests/sched/golden";
const fs::path kTraces = kSource / "../shared/traces";

model::Scenario Load(const std::string& name) {
  auto r = scenario::LoadScenarioFile((kSource / "scenarios" / name).string());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : model::Scenario{};
}

// Timing fields differ from run to run; everything else must not.
void StripTiming(nlohmann::json& j) {
  if (j.is_object()) {
    for (const char* key : {"scheduler_cpu_s", "wall_s", "peak_rss_mb"}) j.erase(key);
    for (auto& [_, v] : j.items()) StripTiming(v);
  } else if (j.is_array()) {
    for (auto& v : j) StripTiming(v);
  }
}

// The run's figures as stable text: ReportJson less timing, plus the series
// that follow every start and stop.
std::string Figures(const TwinReport& report) {
  nlohmann::json j = nlohmann::json::parse(ReportJson(report));
  StripTiming(j);
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& p = report.policies[i];
    nlohmann::json series;
    for (const Series* s : {&p.queue_length, &p.running_jobs, &p.utilization_total})
      series[s->name.empty() ? "unnamed" : s->name] = s->values;
    j["policies"][i]["series"] = std::move(series);
  }
  return j.dump(1) + "\n";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Compares `got` with the golden file `file` (or rewrites it with SOVGRID_UPDATE_GOLDEN=1).
void CompareWithGolden(const std::string& file, const std::string& got) {
  const fs::path path = kGolden / file;
  const char* update = std::getenv("SOVGRID_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    fs::create_directories(kGolden);
    std::ofstream(path, std::ios::binary) << got;
    GTEST_SKIP() << "rewrote " << path;
  }
  ASSERT_TRUE(fs::exists(path)) << path << " is missing; run with SOVGRID_UPDATE_GOLDEN=1";
  const std::string want = ReadFile(path);
  if (got != want) {
    const fs::path actual = fs::path(::testing::TempDir()) / (file + ".actual");
    std::ofstream(actual, std::ios::binary) << got;
    FAIL() << path << " differs from this run's, in " << actual
           << " (diff them; SOVGRID_UPDATE_GOLDEN=1 rewrites the golden file)";
  }
}

// Runs every policy of `orders` with `base` on `workload` and compares with
// the golden file `name`.json (or rewrites it with SOVGRID_UPDATE_GOLDEN=1).
void CheckGolden(const std::string& name, const model::Scenario& grid, const Workload& workload,
                 const TwinOptions& base, const std::vector<std::string>& orders) {
  TwinReport report;
  report.scenario = grid.name;
  report.workload = workload.description;
  report.lines_skipped = workload.lines_skipped;
  report.warnings = workload.warnings;
  for (const auto& order : orders) {
    TwinOptions o = base;
    o.config.queue_order = order;
    o.label = order;
    auto r = Simulate(grid, workload, o);
    ASSERT_TRUE(r.ok()) << order << ": " << r.status().ToString();
    EXPECT_EQ(r->residency_violations, 0u) << order;
    report.policies.push_back(std::move(r).value());
  }
  CompareWithGolden(name + ".json", Figures(report));
}

Workload Synthetic(const model::Scenario& s, std::size_t jobs, double days, std::uint64_t seed,
                   int foundation_gangs = -1) {
  SyntheticOptions so;
  so.jobs = jobs;
  so.days = days;
  so.seed = seed;
  so.foundation_gangs = foundation_gangs;
  auto w = GenerateSynthetic(s, so);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w).value() : Workload{};
}

// The same jobs arriving `factor` times faster (as simulate --load-scale).
void Compress(Workload* w, model::Time epoch, double factor) {
  for (auto& tj : w->jobs) {
    const model::Time offset = tj.job.submit_time - epoch;
    const auto scaled = static_cast<model::Time>(static_cast<double>(offset) / factor);
    if (tj.job.deadline > 0) tj.job.deadline -= offset - scaled;
    tj.job.submit_time = epoch + scaled;
  }
}

TwinOptions Base(const model::Scenario& s, std::uint64_t seed) {
  TwinOptions o;
  o.config = sched::SchedulerConfig::FromPolicies(s.policies);
  o.seed = seed;
  o.cycle_interval_s = 60;
  return o;
}

// The three policies of the README's main command on korea-2027, with the
// scenario's own settings (backfill and preemption on, 30 min grace).
TEST(SchedGolden, KoreaSyntheticFifoPriorityDrf) {
  const model::Scenario s = Load("korea-2027.toml");
  // An hour's arrivals: the grid fills up, quotas and borrowing decide.
  const Workload w = Synthetic(s, 3000, 0.05, 42);
  CheckGolden("korea-fifo-priority-drf", s, w, Base(s, 42), {"fifo", "priority", "drf"});
}

// Preemption with no grace and backfill, under a load that keeps the grid
// full, with preemptive queue orders and node failures (requeues).
TEST(SchedGolden, KoreaPreemptionBackfill) {
  const model::Scenario s = Load("korea-2027.toml");
  const Workload w = Synthetic(s, 2500, 0.04, 7);
  TwinOptions o = Base(s, 7);
  o.config.preemption = true;
  o.config.backfill = true;
  o.config.preemption_grace_s = 0;
  o.failures.default_node_mtbf_hours = 2000;
  CheckGolden("korea-preemption-backfill", s, w, o, {"priority", "srtf", "las"});
}

// The same on a grid small enough for a few thousand jobs to keep it full
// (Philly's 2,816 GPUs, synthetic jobs): preemption by priority, by reclaim
// and by preemptive orders, and EASY reservations under contention.
TEST(SchedGolden, PhillyGridSyntheticContended) {
  const model::Scenario s = Load("philly.toml");
  const Workload w = Synthetic(s, 3000, 1, 11, 0);
  TwinOptions o = Base(s, 11);
  o.config.preemption = true;
  o.config.backfill = true;
  o.config.preemption_grace_s = 0;
  o.failures.default_node_mtbf_hours = 500;
  CheckGolden("philly-grid-contended", s, w, o, {"priority", "drf", "srtf", "las"});
}

// Strict queues (backfill off: jobs wait behind a blocked head) and a site
// outage, with spread scoring, on the small grid.
TEST(SchedGolden, SmallStrictQueueAndOutage) {
  const model::Scenario s = Load("small.toml");
  const Workload w = Synthetic(s, 1500, 2, 3, 0);
  TwinOptions o = Base(s, 3);
  o.config.backfill = false;
  o.config.scores = {"spread", "fragmentation"};
  o.failures.outages.push_back({s.sites[0].id, s.epoch + 6 * 3600, s.epoch + 12 * 3600});
  CheckGolden("small-strict-outage", s, w, o, {"fifo", "sjf", "edf", "drf"});
}

// Helios' comparison on two weeks of Philly (preemption on, no grace).
TEST(SchedGolden, PhillyTrace) {
  const fs::path trace = kTraces / "philly-pollux/simulator/traces/philly.csv";
  if (!fs::exists(trace)) GTEST_SKIP() << "no shared traces at " << trace;
  const model::Scenario s = Load("philly.toml");
  TraceOptions to;
  to.epoch = s.epoch;
  to.scenario = &s;
  to.drop_unknown_groups = true;
  to.window_from = 1506816000;  // 2017-10-01
  to.window_until = 1506816000 + 14 * 86400;
  auto w = ReadTrace("philly", trace.string(), to);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (auto& tj : w->jobs) tj.job.checkpoint_interval_s = 1;
  Compress(&*w, s.epoch, 4);
  TwinOptions o = Base(s, 42);
  o.cycle_interval_s = 0;
  o.config.preemption = true;
  o.config.preemption_grace_s = 0;
  CheckGolden("philly", s, *w, o, {"fifo", "sjf", "srtf"});
}

// Shares of one accelerator (Alibaba's GPU-sharing pods on its own grid).
TEST(SchedGolden, AlibabaSharing) {
  const fs::path dir = kTraces / "alibaba-clusterdata/cluster-trace-gpu-v2023/csv";
  if (!fs::exists(dir)) GTEST_SKIP() << "no shared traces at " << dir;
  auto grid = ScenarioFromAlibabaNodes((dir / "openb_node_list_gpu_node.csv").string());
  ASSERT_TRUE(grid.ok()) << grid.status().ToString();
  TraceOptions to;
  to.epoch = grid->epoch;
  to.scenario = &*grid;
  to.max_jobs = 3000;
  auto w = ReadTrace("alibaba2023", (dir / "openb_pod_list_gpushare40.csv").string(), to);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  Compress(&*w, grid->epoch, 400);
  CheckGolden("alibaba-gpushare40", *grid, *w, Base(*grid, 42), {"fifo", "drf"});
}

// Every decision and its reason, and now and then why pending jobs wait
// (Explain), from driving the Scheduler directly: jobs arrive, run their
// runtime and finish, a node and a site fail and come back.
std::string DecisionLog(const model::Scenario& s, const Workload& w, sched::SchedulerConfig config,
                        int max_cycles) {
  auto created = sched::Scheduler::Create(s, std::move(config));
  EXPECT_TRUE(created.ok()) << created.status().ToString();
  if (!created.ok()) return "";
  sched::Scheduler& sched = **created;
  std::ostringstream log;
  std::map<std::string, model::Duration> runtime;
  std::map<std::string, model::Time> ends;  // running job -> when it finishes
  std::vector<std::string> submitted;
  const model::Duration step = 60;
  model::Time t = w.jobs.empty() ? s.epoch : w.jobs.front().job.submit_time;
  std::size_t next = 0;
  const std::string node = sched.grid().NodeName(0);
  const std::string site = s.sites.back().id;
  for (int cycle = 0; cycle < max_cycles; ++cycle, t += step) {
    if (next == w.jobs.size() && ends.empty() && sched.pending_count() == 0) break;
    std::vector<std::pair<model::Time, std::string>> done;
    for (const auto& [id, end] : ends) {
      if (end <= t) done.emplace_back(end, id);
    }
    std::sort(done.begin(), done.end());
    for (const auto& [end, id] : done) {
      EXPECT_TRUE(sched.Finish(id, t).ok()) << id;
      ends.erase(id);
    }
    if (cycle == 40) {
      EXPECT_TRUE(sched.SetNodeHealth(node, sched::NodeHealth::kDown, t).ok());
    }
    if (cycle == 70) {
      EXPECT_TRUE(sched.SetNodeHealth(node, sched::NodeHealth::kUp, t).ok());
    }
    if (cycle == 100) {
      EXPECT_TRUE(sched.SetSiteState(site, model::SiteState::kDown, t).ok());
    }
    if (cycle == 130) {
      EXPECT_TRUE(sched.SetSiteState(site, model::SiteState::kUp, t).ok());
    }
    for (; next < w.jobs.size() && w.jobs[next].job.submit_time <= t; ++next) {
      const TwinJob& tj = w.jobs[next];
      if (Status st = sched.Submit(tj.job); !st.ok()) {
        log << t << " rejected " << tj.job.id << ": " << st.message() << "\n";
        continue;
      }
      runtime[tj.job.id] = tj.runtime_s;
      submitted.push_back(tj.job.id);
    }
    const sched::CycleResult r = sched.RunCycle(t);
    log << t << " cycle " << cycle << ": pending " << r.stats.pending_before << " considered "
        << r.stats.considered << " started " << r.stats.started << " preempted "
        << r.stats.preempted << " reserved " << r.stats.reserved << " cached "
        << r.stats.equivalence_hits << "\n";
    for (const sched::Decision& d : r.decisions) {
      log << "  " << sched::DecisionKindName(d.kind) << " " << d.job;
      for (const auto& a : d.assignment) {
        log << " " << a.node << ":";
        for (auto x : a.accelerators) log << x << ",";
        log << "@" << a.milli_per_accelerator;
      }
      if (d.kind == sched::Decision::Kind::kReserve) {
        log << " from " << d.reserved_from << " on";
        for (auto n : d.reserved_nodes) log << " " << n;
      }
      log << " (" << d.reason << ")\n";
      if (d.kind == sched::Decision::Kind::kStart) {
        auto v = sched.Job(d.job);
        ends[d.job] = t + std::max<model::Duration>(1, runtime[d.job] - v->progress_s);
      } else if (d.kind != sched::Decision::Kind::kReserve) {
        ends.erase(d.job);
      }
    }
    if (cycle % 25 == 0) {
      int shown = 0;
      for (const auto& id : submitted) {
        auto v = sched.Job(id);
        if (!v.ok() || v->state != sched::JobState::kPending) continue;
        log << "  why " << id << ": " << *sched.Explain(id) << "\n";
        if (++shown == 5) break;
      }
    }
  }
  log << "end: pending " << sched.pending_count() << " running " << sched.running_count() << "\n";
  return log.str();
}

// Decisions, their reasons and pending reasons on a full grid, with
// preemption and backfill (philly.toml) and with a strict queue (small.toml).
TEST(SchedGolden, DecisionLog) {
  const model::Scenario philly = Load("philly.toml");
  const Workload pw = Synthetic(philly, 1500, 0.5, 5, 0);
  sched::SchedulerConfig pc = sched::SchedulerConfig::FromPolicies(philly.policies);
  pc.queue_order = "priority";
  pc.preemption = true;
  pc.backfill = true;
  pc.preemption_grace_s = 0;
  const model::Scenario small = Load("small.toml");
  const Workload sw = Synthetic(small, 400, 1, 9, 0);
  sched::SchedulerConfig sc = sched::SchedulerConfig::FromPolicies(small.policies);
  sc.queue_order = "fifo";
  sc.backfill = false;
  CompareWithGolden("decisions.log",
                    DecisionLog(philly, pw, pc, 1500) + DecisionLog(small, sw, sc, 1500));
}

}  // namespace
}  // namespace sovgrid::twin
