// Randomized invariants: thousands of cycles with random submissions,
// completions, cancellations and node/site failures, checked after every
// cycle against an independent record built from the decisions alone.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "scenario/loader.h"
#include "sched/scheduler.h"
#include "sched/test_grids.h"

namespace sovgrid::sched {
namespace {

using model::Milli;
using model::Time;

struct Running {
  std::vector<NodeAssignment> assignment;
  Time start = 0;
  Time end = 0;  // when the driver finishes it (start + runtime)
};

struct Config {
  std::string grid;  // "small" or "mid"
  std::string order;
  bool backfill;
  bool preemption;
  std::vector<std::string> scores;
};

void PrintTo(const Config& c, std::ostream* os) { *os << c.grid << "/" << c.order; }

#ifdef SOVGRID_SANITIZER_BUILD
constexpr int kCycleDivisor = 8;  // the same checks, fewer cycles
#else
constexpr int kCycleDivisor = 1;
#endif

class InvariantTest : public ::testing::TestWithParam<Config> {};

model::Scenario LoadGrid(const std::string& name) {
  if (name == "mid") return testing::MidSizeGrid();
  auto r =
      scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/" + name + ".toml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

// Runs the random driver; returns a transcript of all decisions (for determinism).
std::string Drive(const Config& cfg, int cycles, std::uint64_t seed) {
  const model::Scenario s = LoadGrid(cfg.grid);
  SchedulerConfig config;
  config.queue_order = cfg.order;
  config.backfill = cfg.backfill;
  config.preemption = cfg.preemption;
  config.preemption_grace_s = 900;
  config.scores = cfg.scores;
  auto created = Scheduler::Create(s, config);
  EXPECT_TRUE(created.ok()) << created.status().ToString();
  Scheduler& sched = **created;
  std::mt19937_64 rng(seed);
  std::map<std::string, Running> running;
  std::map<std::string, model::Job> jobs;
  std::map<std::string, Time> last_start;
  std::string transcript;
  Time now = s.epoch;
  int next_id = 0;
  std::set<NodeId> down_nodes;

  for (int cycle = 0; cycle < cycles; ++cycle) {
    now += 1 + static_cast<Time>(rng() % 600);
    // Completions at their runtime.
    for (auto it = running.begin(); it != running.end();) {
      if (it->second.end <= now) {
        EXPECT_TRUE(sched.Finish(it->first, now).ok());
        jobs.erase(it->first);
        it = running.erase(it);
      } else {
        ++it;
      }
    }
    const int submits = static_cast<int>(rng() % 6);
    for (int k = 0; k < submits; ++k) {
      model::Job j = testing::RandomJob(s, rng, "j" + std::to_string(next_id++), now);
      Status st = sched.Submit(j);
      if (st.ok()) jobs.emplace(j.id, j);
    }
    if (rng() % 10 == 0 && !jobs.empty()) {  // cancel a random job
      auto it = jobs.begin();
      std::advance(it, static_cast<long>(rng() % jobs.size()));
      EXPECT_TRUE(sched.Cancel(it->first, now).ok());
      running.erase(it->first);
      jobs.erase(it);
    }
    if (rng() % 25 == 0) {  // a node fails or comes back
      const NodeId n = static_cast<NodeId>(rng() % sched.grid().node_count());
      const bool down = down_nodes.count(n) == 0;
      EXPECT_TRUE(sched
                      .SetNodeHealth(sched.grid().NodeName(n),
                                     down ? NodeHealth::kDown : NodeHealth::kUp, now)
                      .ok());
      if (down) {
        down_nodes.insert(n);
      } else {
        down_nodes.erase(n);
      }
    }
    if (rng() % 150 == 0) {  // a site fails for a while
      const auto& site = s.sites[rng() % s.sites.size()];
      const bool up = sched.grid().SiteUp(static_cast<std::size_t>(s.FindSite(site.id)));
      EXPECT_TRUE(
          sched.SetSiteState(site.id, up ? model::SiteState::kDown : model::SiteState::kUp, now)
              .ok());
    }

    const CycleResult result = sched.RunCycle(now);
    std::vector<std::pair<std::set<NodeId>, Time>> reservations;
    for (const Decision& d : result.decisions) {
      transcript += std::string(DecisionKindName(d.kind)) + " " + d.job + "\n";
      switch (d.kind) {
        case Decision::Kind::kStart: {
          auto view = sched.Job(d.job);
          EXPECT_TRUE(view.ok());
          const model::Job& spec = jobs.at(d.job);
          // Reservations made earlier in this cycle are honoured.
          for (const auto& [nodes, start] : reservations) {
            for (const auto& a : d.assignment) {
              if (nodes.count(a.node) == 0) continue;
              const Time remaining = spec.runtime_estimate_s - view->progress_s;
              EXPECT_GT(spec.runtime_estimate_s, 0)
                  << d.job << " used reserved node without an estimate";
              EXPECT_LE(now + std::max<Time>(1, remaining), start)
                  << d.job << " delays a reservation";
            }
          }
          const Time runtime = spec.runtime_estimate_s > 0 ? spec.runtime_estimate_s : 3600;
          running[d.job] =
              Running{d.assignment, now, now + std::max<Time>(1, runtime - view->progress_s)};
          last_start[d.job] = now;
          break;
        }
        case Decision::Kind::kPreempt: {
          EXPECT_GE(now - last_start.at(d.job), 900)
              << d.job << " preempted within its grace period";
          EXPECT_TRUE(jobs.at(d.job).preemptible) << d.job;
          EXPECT_EQ(running.erase(d.job), 1u) << d.job;
          break;
        }
        case Decision::Kind::kRequeue:
          EXPECT_EQ(running.erase(d.job), 1u) << d.job;
          break;
        case Decision::Kind::kReserve:
          reservations.emplace_back(
              std::set<NodeId>(d.reserved_nodes.begin(), d.reserved_nodes.end()), d.reserved_from);
          break;
      }
    }

    // No accelerator (or fraction) allocated twice; the grid agrees.
    std::map<AccelId, Milli> used;
    std::map<std::pair<int, int>, Milli> usage;  // (tenant, class) subtree usage
    for (const auto& [id, r] : running) {
      const model::Job& spec = jobs.at(id);
      Milli total = 0;
      const int t = s.FindTenant(spec.tenant);
      for (const auto& a : r.assignment) {
        const NodeInfo& node = sched.grid().node(a.node);
        const model::Pool& pool = s.pools[node.pool];
        const model::Site& site = s.sites[pool.site_index];
        EXPECT_EQ(node.health, NodeHealth::kUp) << id << " runs on a failed node";
        EXPECT_TRUE(sched.grid().SiteUp(static_cast<std::size_t>(pool.site_index)))
            << id << " runs at a down site";
        for (AccelId x : a.accelerators) {
          used[x] += a.milli_per_accelerator;
          total += a.milli_per_accelerator;
          EXPECT_EQ(sched.grid().NodeOf(x), a.node);
        }
        // Residency.
        for (const auto& d : spec.datasets) {
          const model::Dataset& ds = s.datasets[s.FindDataset(d)];
          EXPECT_GE(site.tier, ds.min_tier) << id << " violates residency of " << d;
          if (!ds.jurisdictions.empty()) {
            EXPECT_NE(
                std::find(ds.jurisdictions.begin(), ds.jurisdictions.end(), site.jurisdiction),
                ds.jurisdictions.end())
                << id << " violates residency of " << d;
          }
          if (!ds.sites.empty()) {
            EXPECT_NE(std::find(ds.sites.begin(), ds.sites.end(), site.id), ds.sites.end())
                << id << " violates residency of " << d;
          }
        }
        if (!spec.accepted_models.empty()) {
          EXPECT_NE(
              std::find(spec.accepted_models.begin(), spec.accepted_models.end(), pool.accelerator),
              spec.accepted_models.end());
        }
        const int cls = sched.quota().ClassOfPool(static_cast<int>(node.pool));
        Milli part = 0;
        for (std::size_t k = 0; k < a.accelerators.size(); ++k) part += a.milli_per_accelerator;
        for (int at = t; at >= 0; at = s.tenants[at].parent_index) usage[{at, cls}] += part;
      }
      // Gangs whole: everything asked for, all at once.
      EXPECT_EQ(total, spec.accelerator_milli * spec.accelerators *
                           (spec.kind == model::JobKind::kService ? spec.replicas : 1))
          << id;
    }
    for (const auto& [x, m] : used) {
      EXPECT_LE(m, 1000) << "accelerator " << x << " over-allocated";
      EXPECT_EQ(sched.grid().FreeMilli(x), 1000 - m) << "grid disagrees on accelerator " << x;
    }
    // No tenant above its maximum.
    for (const auto& [key, m] : usage) {
      const Milli max = sched.quota().Maximum(key.first, key.second);
      if (max >= 0) {
        EXPECT_LE(m, max) << s.tenants[key.first].id << " above its maximum";
      }
      EXPECT_EQ(sched.quota().Usage(key.first, key.second), m);
    }
    EXPECT_EQ(sched.running_count(), running.size());
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "cycle " << cycle;
      break;
    }
    // Every pending job can be explained.
    if (cycle % 50 == 0) {
      for (const auto& [id, spec] : jobs) {
        if (running.count(id) == 0) {
          EXPECT_FALSE(sched.Explain(id)->empty()) << id;
        }
      }
    }
  }
  return transcript;
}

TEST_P(InvariantTest, HoldAfterEveryCycle) {
  const int cycles = (GetParam().grid == "mid" ? 1500 : 2500) / kCycleDivisor;
  const std::string transcript = Drive(GetParam(), cycles, 42);
  // The driver must exercise what it checks.
  std::map<std::string, int> kinds;
  for (std::size_t at = 0; at < transcript.size();) {
    const std::size_t space = transcript.find(' ', at);
    kinds[transcript.substr(at, space - at)]++;
    at = transcript.find('\n', at) + 1;
  }
  EXPECT_GT(kinds["start"], cycles / 40);
  EXPECT_GT(kinds["requeue"], 0);
  if (GetParam().preemption) {
    EXPECT_GT(kinds["preempt"], 0);
  }
  if (GetParam().backfill) {
    EXPECT_GT(kinds["reserve"], 0);
  }
  std::printf("starts %d preempts %d reserves %d requeues %d\n", kinds["start"], kinds["preempt"],
              kinds["reserve"], kinds["requeue"]);
}

TEST_P(InvariantTest, SameInputsGiveSameDecisions) {
  EXPECT_EQ(Drive(GetParam(), 300 / kCycleDivisor, 7), Drive(GetParam(), 300 / kCycleDivisor, 7));
}

std::vector<Config> Configs() {
  std::vector<Config> out;
  for (const char* order : {"fifo", "priority", "drf", "las", "sjf", "srtf", "edf"}) {
    out.push_back({"small", order, true, true, {"topology", "binpack"}});
    out.push_back({"mid", order, true, true, {"topology", "binpack", "fragmentation"}});
  }
  out.push_back({"mid", "fifo", false, false, {"spread", "throughput"}});
  out.push_back({"mid", "drf", true, false, {"fragmentation", "binpack"}});
  out.push_back({"small", "priority", false, true, {"binpack"}});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Random, InvariantTest, ::testing::ValuesIn(Configs()),
                         [](const auto& param_info) {
                           const Config& c = param_info.param;
                           return c.grid + "_" + c.order + (c.backfill ? "_backfill" : "") +
                                  (c.preemption ? "_preempt" : "") + "_" + c.scores[0];
                         });

}  // namespace
}  // namespace sovgrid::sched
