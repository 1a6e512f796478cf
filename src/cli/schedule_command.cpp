#include "cli/schedule_command.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/table.h"
#include "scenario/job_reader.h"
#include "scenario/loader.h"
#include "scenario/toml_limits.h"
#include "sched/scheduler.h"

namespace sovgrid::cli {
namespace {

struct Options {
  std::string scenario;
  std::string jobs;
  std::string queue_order;
  std::string scores;
  bool no_backfill = false;
  bool no_preemption = false;
  bool json = false;
  std::int64_t at = 0;
};

// Reads [[jobs]] from a TOML file. Bad jobs are reported with file:line and
// skipped; the good ones are kept.
std::vector<model::Job> ReadJobFile(const std::string& path,
                                    std::vector<scenario::Diagnostic>* problems) {
  std::vector<model::Job> jobs;
  toml::table doc;
  if (auto problem = scenario::ParseTomlFile(path, &doc)) {
    problems->push_back(std::move(*problem));
    return jobs;
  }
  scenario::DiagnosticSink sink(path);
  scenario::TableReader root(sink, doc, "");
  root.Tables("jobs", [&](scenario::TableReader& r, std::size_t) {
    const std::size_t before = sink.diagnostics().size();
    model::Job job;
    scenario::ReadJob(r, &job);
    r.Finish();
    if (sink.diagnostics().size() == before) jobs.push_back(std::move(job));
  });
  root.Finish();
  for (auto& d : sink.diagnostics()) problems->push_back(d);
  return jobs;
}

std::string Placement(const sched::Scheduler& s, const sched::Decision& d) {
  std::map<std::string, int> nodes_by_pool;
  for (const auto& a : d.assignment)
    nodes_by_pool[s.scenario().pools[s.grid().node(a.node).pool].id]++;
  std::string out;
  for (const auto& [pool, n] : nodes_by_pool)
    out += (out.empty() ? "" : ", ") + fmt::format("{} ({} node{})", pool, n, n == 1 ? "" : "s");
  return out;
}

int Run(const Options& o) {
  std::vector<scenario::Diagnostic> diagnostics;
  auto loaded = scenario::LoadScenarioFile(o.scenario, &diagnostics);
  if (!loaded.ok()) {
    for (const auto& d : diagnostics) std::cerr << "error: " << d.ToString() << "\n";
    return 1;
  }
  const model::Scenario& grid = *loaded;
  sched::SchedulerConfig config = sched::SchedulerConfig::FromPolicies(grid.policies);
  if (!o.queue_order.empty()) config.queue_order = o.queue_order;
  if (!o.scores.empty()) {
    config.scores.clear();
    std::stringstream list(o.scores);
    for (std::string item; std::getline(list, item, ',');) config.scores.push_back(item);
  }
  if (o.no_backfill) config.backfill = false;
  if (o.no_preemption) config.preemption = false;
  auto created = sched::Scheduler::Create(grid, config);
  if (!created.ok()) {
    std::cerr << "error: " << created.status().message() << "\n";
    return 2;
  }
  sched::Scheduler& s = **created;

  std::vector<scenario::Diagnostic> problems;
  std::vector<model::Job> jobs = ReadJobFile(o.jobs, &problems);
  const model::Time now = grid.epoch + o.at;
  std::vector<std::pair<std::string, std::string>> rejected;
  std::vector<std::string> accepted;
  for (auto& j : jobs) {
    if (j.submit_time == 0) j.submit_time = now;
    const std::string id = j.id;
    Status st = s.Submit(std::move(j));
    if (st.ok()) {
      accepted.push_back(id);
    } else {
      rejected.emplace_back(id, st.message());
    }
  }
  for (const auto& d : problems) std::cerr << "warning: " << d.ToString() << " (job skipped)\n";
  for (const auto& [id, why] : rejected)
    std::cerr << "warning: job " << id << " rejected: " << why << "\n";

  const sched::CycleResult cycle = s.RunCycle(now);
  if (o.json) {
    nlohmann::json out;
    out["decisions"] = nlohmann::json::array();
    for (const auto& d : cycle.decisions) {
      nlohmann::json nodes = nlohmann::json::array();
      for (const auto& a : d.assignment) {
        nlohmann::json accels = nlohmann::json::array();
        for (auto x : a.accelerators) accels.push_back(x - s.grid().node(a.node).first_accel);
        nodes.push_back({{"node", s.grid().NodeName(a.node)},
                         {"accelerators", accels},
                         {"share", static_cast<double>(a.milli_per_accelerator) / 1000.0}});
      }
      nlohmann::json reserved = nlohmann::json::array();
      for (auto n : d.reserved_nodes) reserved.push_back(s.grid().NodeName(n));
      out["decisions"].push_back({{"kind", sched::DecisionKindName(d.kind)},
                                  {"job", d.job},
                                  {"nodes", nodes},
                                  {"reserved_nodes", reserved},
                                  {"reserved_from", d.reserved_from},
                                  {"reason", d.reason}});
    }
    out["pending"] = nlohmann::json::array();
    for (const auto& id : accepted) {
      auto why = s.Explain(id);
      if (why.ok() && !why->empty()) out["pending"].push_back({{"job", id}, {"reason", *why}});
    }
    out["rejected"] = nlohmann::json::array();
    for (const auto& [id, why] : rejected) out["rejected"].push_back({{"job", id}, {"error", why}});
    for (const auto& d : problems)
      out["rejected"].push_back({{"job", nullptr}, {"error", d.ToString()}});
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << fmt::format(
        "{} jobs read, {} accepted; one cycle at t+{} s with queue order {}\n\n", jobs.size(),
        accepted.size(), o.at, config.queue_order);
    TextTable decisions({"decision", "job", "where", "reason"});
    for (const auto& d : cycle.decisions) {
      std::string where = Placement(s, d);
      if (d.kind == sched::Decision::Kind::kReserve) {
        where = fmt::format("{} nodes from t+{} s", d.reserved_nodes.size(),
                            d.reserved_from - grid.epoch);
      }
      decisions.AddRow({std::string(sched::DecisionKindName(d.kind)), d.job, where, d.reason});
    }
    decisions.Print(std::cout);
    std::cout << "\nPending\n";
    TextTable pending({"job", "why it waits"});
    for (const auto& id : accepted) {
      auto why = s.Explain(id);
      if (why.ok() && !why->empty()) pending.AddRow({id, *why});
    }
    pending.Print(std::cout);
    std::cout << fmt::format("\nstarted {}, preempted {}, reserved {}, pending {}, rejected {}\n",
                             cycle.stats.started, cycle.stats.preempted, cycle.stats.reserved,
                             s.pending_count(), rejected.size() + problems.size());
  }
  return problems.empty() && rejected.empty() ? 0 : 3;
}

}  // namespace

void AddScheduleCommand(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "schedule",
      "Run one scheduling cycle of a job file on an empty grid and print the decisions and why "
      "each "
      "pending job waits. Exit 0; 3 if some jobs were skipped or rejected (each is reported).");
  cmd->add_option("SCENARIO", o->scenario, "Scenario TOML file")->required();
  cmd->add_option("JOBS", o->jobs, "Job file: TOML with [[jobs]] tables (see docs/scheduler.md)")
      ->required();
  cmd->add_option("--queue-order", o->queue_order,
                  "fifo|priority|drf|las|sjf|srtf|edf (default: the scenario's)");
  cmd->add_option("--scores", o->scores,
                  "Comma-separated scores, first weighs most (default: the scenario's)");
  cmd->add_flag("--no-backfill", o->no_backfill, "Strict queue order, no reservations");
  cmd->add_flag("--no-preemption", o->no_preemption, "Never preempt");
  cmd->add_option("--at", o->at, "Cycle time in seconds after the scenario's epoch")
      ->default_val(0);
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o] {
    if (int rc = Run(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sovgrid::cli
