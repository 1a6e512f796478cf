#include "cli/simulate_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/table.h"
#include "model/policy_names.h"
#include "report/twin_report.h"
#include "scenario/loader.h"
#include "scenario/what_if.h"
#include "traces/synthetic.h"
#include "traces/trace_reader.h"
#include "twin/engine.h"

namespace sovgrid::cli {
namespace {

struct Options {
  std::string scenario = "scenarios/korea-2027.toml";
  std::string nodes;  // alibaba2023 node list defining the grid
  std::string trace;
  std::string trace_format;
  bool synthetic = false;
  std::size_t jobs = 20'000;
  double days = 7;
  double max_load = traces::SyntheticOptions{}.max_load;
  std::size_t max_jobs = 0;
  std::uint64_t seed = 42;
  std::string policies;
  std::string scores;
  std::string backfill;        // "", "on", "off"
  std::string preemption;      // "", "on", "off"
  std::string explain = "on";  // TwinOptions::explain
  std::string radio = "on";    // TwinOptions::radio_load
  double grace_s = -1;
  std::vector<std::string> site_down;
  double node_mtbf_hours = 0;
  double repair_hours = 4;
  double sample_hours = 1;
  double cycle_interval_s = 0;
  double end_days = 0;
  double horizon_days = 400;  // TwinOptions::horizon_s
  bool strict = false;
  std::string trace_window;
  double load_scale = 1;
  long long trace_checkpoint_s = -1;
  bool only_scenario_groups = false;
  std::vector<std::string> what_ifs;
  std::string json;
  std::string csv;
  std::string report;
  bool quiet = false;
};

// "SITE:FROM_H:TO_H" -> outage, hours after the start of the run.
Result<twin::SiteOutage> ParseOutage(const std::string& spec, model::Time start) {
  const auto a = spec.find(':');
  const auto b = spec.rfind(':');
  if (a == std::string::npos || a == b) {
    return InvalidArgument("--site-down '" + spec + "': expected SITE:FROM_HOURS:TO_HOURS");
  }
  try {
    const double from = std::stod(spec.substr(a + 1, b - a - 1));
    const double to = std::stod(spec.substr(b + 1));
    if (from < 0 || to <= from)
      return InvalidArgument("--site-down '" + spec + "': expected 0 <= FROM < TO");
    return twin::SiteOutage{spec.substr(0, a), start + static_cast<model::Time>(from * 3600),
                            start + static_cast<model::Time>(to * 3600)};
  } catch (const std::exception&) {
    return InvalidArgument("--site-down '" + spec + "': FROM and TO must be numbers of hours");
  }
}

// "YYYY-MM-DD,YYYY-MM-DD" (UTC) -> [from, until) in Unix seconds.
Result<std::pair<model::Time, model::Time>> ParseWindow(const std::string& spec) {
  auto day = [](const std::string& d) -> std::optional<model::Time> {
    int y = 0, m = 0, dd = 0;
    if (std::sscanf(d.c_str(), "%4d-%2d-%2d", &y, &m, &dd) != 3 || m < 1 || m > 12 || dd < 1 ||
        dd > 31) {
      return std::nullopt;
    }
    return model::DaysFromCivil(y, m, dd) * 86400;
  };
  const auto comma = spec.find(',');
  if (comma == std::string::npos)
    return InvalidArgument("--trace-window '" + spec + "': expected FROM,UNTIL dates");
  auto from = day(spec.substr(0, comma));
  auto until = day(spec.substr(comma + 1));
  if (!from || !until || *until <= *from) {
    return InvalidArgument("--trace-window '" + spec +
                           "': expected FROM,UNTIL as YYYY-MM-DD with FROM < UNTIL");
  }
  return std::make_pair(*from, *until);
}

// The same jobs arriving `factor` times as fast (deadlines keep their slack).
void CompressArrivals(traces::Workload* w, model::Time epoch, double factor) {
  for (auto& tj : w->jobs) {
    const model::Time offset = tj.job.submit_time - epoch;
    const model::Time scaled = static_cast<model::Time>(static_cast<double>(offset) / factor);
    if (tj.job.deadline > 0) tj.job.deadline -= offset - scaled;
    tj.job.submit_time = epoch + scaled;
  }
}

// One scenario the policies run on: the base, or a what-if applied to it.
struct Variant {
  std::string name;  // "" without what-ifs; else "base" or the what-if's name
  model::Scenario scenario;
  const traces::Workload* workload = nullptr;
  traces::Workload own_workload;  // when the what-if changes the demand
  std::vector<twin::PoolOutage> pool_outages;
};

// How a run shows its progress: a bar redrawn in place on a terminal;
// elsewhere (a log, CI) a line at each tenth of the jobs done, with the time
// so far, so that a long run is seen to advance; nothing when quiet.
enum class ProgressMode { kOff, kBar, kLines };

class ProgressBar {
 public:
  explicit ProgressBar(ProgressMode mode) : mode_(mode) {}
  void Show(const std::string& label, double fraction) {
    if (mode_ == ProgressMode::kOff) return;
    if (mode_ == ProgressMode::kLines) {
      const int tenth = static_cast<int>(fraction * 10);
      if (tenth <= shown_tenth_ || tenth >= 10) return;
      shown_tenth_ = tenth;
      const double s = std::chrono::duration<double>(Clock::now() - start_).count();
      std::fprintf(stdout, "  %s: %d %% of the jobs done, %.1f s\n", label.c_str(), tenth * 10, s);
      std::fflush(stdout);
      return;
    }
    const int width = 40;
    const int filled = static_cast<int>(fraction * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(static_cast<std::size_t>(width), '.');
    std::fprintf(stdout, "\r  %-28s [%s] %5.1f%%", label.c_str(), bar.c_str(), fraction * 100);
    std::fflush(stdout);
  }
  void Done() {
    if (mode_ == ProgressMode::kBar) std::fprintf(stdout, "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  ProgressMode mode_;
  int shown_tenth_ = 0;
  Clock::time_point start_ = Clock::now();
};

int Run(const Options& o) {
  // The grid.
  model::Scenario grid;
  if (!o.nodes.empty()) {
    auto s = traces::ScenarioFromAlibabaNodes(o.nodes);
    if (!s.ok()) {
      std::cerr << "error: " << s.status().message() << "\n";
      return 1;
    }
    grid = std::move(s).value();
  } else {
    std::vector<scenario::Diagnostic> diagnostics;
    auto s = scenario::LoadScenarioFile(o.scenario, &diagnostics);
    if (!s.ok()) {
      for (const auto& d : diagnostics) std::cerr << "error: " << d.ToString() << "\n";
      if (diagnostics.empty()) std::cerr << "error: " << s.status().message() << "\n";
      return 1;
    }
    grid = std::move(s).value();
  }

  // The workload.
  if (o.trace.empty() == !o.synthetic && !(o.trace.empty() && !o.synthetic)) {
    std::cerr << "error: give either --trace FILE --trace-format NAME or --synthetic, not both\n";
    return 2;
  }
  traces::Workload workload;
  if (!o.trace.empty()) {
    if (o.trace_format.empty()) {
      std::cerr << "error: --trace needs --trace-format (one of";
      for (const auto& f : traces::TraceFormats()) std::cerr << " " << f;
      std::cerr << ")\n";
      return 2;
    }
    traces::TraceOptions to;
    to.strict = o.strict;
    to.epoch = grid.epoch;
    to.scenario = &grid;
    to.max_jobs = o.max_jobs;
    to.drop_unknown_groups = o.only_scenario_groups;
    if (!o.trace_window.empty()) {
      auto window = ParseWindow(o.trace_window);
      if (!window.ok()) {
        std::cerr << "error: " << window.status().message() << "\n";
        return 2;
      }
      to.window_from = window->first;
      to.window_until = window->second;
    }
    auto w = traces::ReadTrace(o.trace_format, o.trace, to);
    if (!w.ok()) {
      std::cerr << "error: " << w.status().message() << "\n";
      return 1;
    }
    workload = std::move(w).value();
    if (o.load_scale != 1) {
      // Compress (or stretch) the arrivals: the same jobs, F times the load.
      CompressArrivals(&workload, grid.epoch, o.load_scale);
      workload.description += fmt::format(", arrivals compressed {:g}x", o.load_scale);
    }
    if (o.trace_checkpoint_s >= 0) {
      for (auto& tj : workload.jobs) tj.job.checkpoint_interval_s = o.trace_checkpoint_s;
    }
    for (const auto& warning : workload.warnings) std::cerr << "warning: " << warning << "\n";
    if (workload.lines_skipped > workload.warnings.size()) {
      std::cerr << "warning: " << workload.lines_skipped - workload.warnings.size()
                << " more bad lines skipped\n";
    }
  } else {
    traces::SyntheticOptions so;
    so.jobs = o.jobs;
    so.days = o.days;
    so.max_load = o.max_load;
    so.seed = o.seed;
    auto w = traces::GenerateSynthetic(grid, so);
    if (!w.ok()) {
      std::cerr << "error: " << w.status().message() << "\n";
      return 2;
    }
    workload = std::move(w).value();
  }

  // Policies: queue orders, each run on the same workload.
  std::vector<std::string> orders = SplitCommaList(o.policies);
  if (orders.empty()) orders = {grid.policies.queue_order};
  for (const auto& order : orders) {
    if (!model::IsKnownQueueOrder(order)) {
      std::cerr << "error: --policy: unknown queue order '" << order << "' (expected one of "
                << model::KnownPolicyList(model::kQueueOrderNames) << ")\n";
      return 2;
    }
  }
  twin::TwinOptions base;
  base.config = sched::SchedulerConfig::FromPolicies(grid.policies);
  if (!o.scores.empty()) base.config.scores = SplitCommaList(o.scores);
  for (const auto& score : base.config.scores) {
    if (!model::IsKnownScore(score)) {
      std::cerr << "error: --scores: unknown score '" << score << "'\n";
      return 2;
    }
  }
  if (!o.backfill.empty()) base.config.backfill = o.backfill == "on";
  if (!o.preemption.empty()) base.config.preemption = o.preemption == "on";
  base.explain = o.explain == "on";
  base.radio_load = o.radio == "on";
  if (o.grace_s >= 0) base.config.preemption_grace_s = static_cast<model::Duration>(o.grace_s);
  base.seed = o.seed;
  base.sample_interval_s =
      std::max<model::Duration>(1, static_cast<model::Duration>(o.sample_hours * 3600));
  base.cycle_interval_s = static_cast<model::Duration>(o.cycle_interval_s);
  base.horizon_s = static_cast<model::Duration>(o.horizon_days * 86400);
  const model::Time start =
      workload.jobs.empty() ? grid.epoch : workload.jobs.front().job.submit_time;
  if (o.end_days > 0) base.end = start + static_cast<model::Time>(o.end_days * 86400);
  base.failures.default_node_mtbf_hours = o.node_mtbf_hours;
  base.failures.node_repair_s = static_cast<model::Duration>(o.repair_hours * 3600);
  for (const auto& spec : o.site_down) {
    auto outage = ParseOutage(spec, start);
    if (!outage.ok()) {
      std::cerr << "error: " << outage.status().message() << "\n";
      return 2;
    }
    if (grid.FindSite(outage->site) < 0) {
      std::cerr << "error: --site-down: unknown site '" << outage->site << "'\n";
      return 2;
    }
    base.failures.outages.push_back(*outage);
  }

  // What-ifs: each a changed copy of the grid (and of the demand, and down
  // periods), run with every policy on the same workload as the base.
  std::deque<Variant> variants;  // stable addresses: the scheduler keeps the scenario
  variants.push_back({o.what_ifs.empty() ? "" : twin::kBaseVariant, grid, &workload, {}, {}});
  for (const auto& path : o.what_ifs) {
    std::vector<scenario::Diagnostic> diagnostics;
    auto w = scenario::LoadWhatIfFile(path, &diagnostics);
    if (!w.ok()) {
      for (const auto& d : diagnostics) std::cerr << "error: " << d.ToString() << "\n";
      if (diagnostics.empty()) std::cerr << "error: " << w.status().message() << "\n";
      return 2;
    }
    auto changed = scenario::ApplyWhatIf(grid, *w);
    if (!changed.ok()) {
      std::cerr << "error: " << changed.status().message() << "\n";
      return 2;
    }
    auto downs = scenario::ResolveDowns(*changed, *w);
    if (!downs.ok()) {
      std::cerr << "error: " << downs.status().message() << "\n";
      return 2;
    }
    for (const auto& v : variants) {
      if (v.name == w->name) {
        std::cerr << "error: " << path << ": a what-if named '" << w->name
                  << "' is given twice (name = \"...\" tells them apart)\n";
        return 2;
      }
    }
    Variant& v = variants.emplace_back();
    v.name = w->name;
    v.scenario = std::move(changed).value();
    v.workload = &workload;
    for (const auto& d : *downs) {
      for (const auto& pool : d.pools) v.pool_outages.push_back({pool, d.from, d.until});
    }
    if (w->demand != 1) {
      if (o.synthetic || o.trace.empty()) {
        // More (or fewer) jobs of the same mix over the same days.
        traces::SyntheticOptions so;
        so.jobs = std::max<std::size_t>(
            1, static_cast<std::size_t>(static_cast<double>(o.jobs) * w->demand));
        so.days = o.days;
        so.max_load = o.max_load;
        so.seed = o.seed;
        auto more = traces::GenerateSynthetic(grid, so);
        if (!more.ok()) {
          std::cerr << "error: " << path << ": " << more.status().message() << "\n";
          return 2;
        }
        v.own_workload = std::move(more).value();
      } else {
        v.own_workload = workload;
        CompressArrivals(&v.own_workload, grid.epoch, w->demand);
      }
      v.own_workload.description += fmt::format(", demand x{:g}", w->demand);
      v.workload = &v.own_workload;
    }
  }

  twin::TwinReport report;
  report.scenario = grid.name;
  report.workload = workload.description;
  report.lines_skipped = workload.lines_skipped;
  report.warnings = workload.warnings;
  const ProgressMode progress = o.quiet                      ? ProgressMode::kOff
                                : isatty(STDOUT_FILENO) == 1 ? ProgressMode::kBar
                                                             : ProgressMode::kLines;
  if (!o.quiet) {
    std::cout << fmt::format("sovgrid twin: {} on {} ({} nodes, {} accelerators), {} polic{}\n",
                             workload.description, grid.name, grid.TotalNodes(),
                             grid.TotalAccelerators(), orders.size(),
                             orders.size() == 1 ? "y" : "ies")
              << std::flush;
  }
  if (!o.quiet && variants.size() > 1) {
    std::cout << fmt::format("  what-ifs: {}\n", o.what_ifs.size());
  }
  for (const Variant& v : variants) {
    for (const auto& order : orders) {
      twin::TwinOptions options = base;
      options.config.queue_order = order;
      options.label = order;
      for (const auto& outage : v.pool_outages) options.failures.pool_outages.push_back(outage);
      const std::string label = v.name.empty() ? order : v.name + ":" + order;
      ProgressBar bar(progress);
      options.progress = [&bar, &label](double f) { bar.Show(label, f); };
      auto result = twin::Simulate(v.scenario, *v.workload, options);
      bar.Done();
      if (!result.ok()) {
        std::cerr << "error: " << label << ": " << result.status().message() << "\n";
        return 1;
      }
      if (progress == ProgressMode::kLines) {
        std::cout << fmt::format("  {}: {} jobs finished in {:.1f} s\n", label,
                                 result->jobs_finished, result->wall_s);
      }
      result->variant = v.name;
      report.policies.push_back(std::move(result).value());
    }
  }

  if (!o.quiet) std::cout << "\n" << report::SummaryTable(report) << "\n";
  if (!o.quiet) {
    if (const std::string why = report::ExplanationsText(report); !why.empty())
      std::cout << why << "\n";
  }
  if (!o.quiet && variants.size() > 1) std::cout << report::WhatIfTable(report) << "\n";
  int rc = 0;
  auto write = [&](const Status& st, const std::string& what) {
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      rc = 1;
    } else if (!o.quiet) {
      std::cout << what << "\n";
    }
  };
  if (!o.json.empty()) write(report::WriteJson(report, o.json), "JSON written to " + o.json);
  if (!o.csv.empty())
    write(report::WriteCsv(report, o.csv), "CSV time series written to " + o.csv + "/");
  if (!o.report.empty()) {
    write(report::WriteHtmlReport(report, o.report),
          "HTML report written to " + (std::filesystem::path(o.report) / "index.html").string());
  }
  for (const auto& p : report.policies) {
    if (p.residency_violations > 0) {
      std::cerr << "error: policy " << p.policy << " violated data residency "
                << p.residency_violations << " times\n";
      rc = 4;
    }
  }
  return rc;
}

}  // namespace

void AddSimulateCommand(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("simulate",
                         "Run the digital twin: replay a public trace or a synthetic national "
                         "workload on a scenario, with "
                         "the production scheduler, for one or more policies side by side.");
  cmd->add_option("--scenario", o->scenario, "Scenario TOML file")->capture_default_str();
  cmd->add_option("--nodes", o->nodes,
                  "Alibaba 2023 node list (openb_node_list_*.csv) defining the grid instead");
  cmd->add_option("--trace", o->trace, "Trace file (or, for gavel, a directory of .trace files)");
  cmd->add_option("--trace-format", o->trace_format,
                  "philly | gavel | alibaba2023 | tiresias | elasticflow");
  cmd->add_flag("--synthetic", o->synthetic,
                "Generate a national workload for the scenario (the default without --trace)");
  cmd->add_option("--jobs", o->jobs, "Synthetic: number of jobs")->capture_default_str();
  cmd->add_option("--days", o->days, "Synthetic: days over which jobs arrive")
      ->capture_default_str();
  cmd->add_option("--max-load", o->max_load,
                  "Synthetic: cap on the offered load (fraction of the grid's accelerator-time "
                  "over the days); above it training and batch durations are scaled down; 0 = "
                  "no cap")
      ->capture_default_str();
  cmd->add_option("--max-jobs", o->max_jobs, "Trace: read at most this many jobs (0 = all)");
  cmd->add_option("--seed", o->seed, "Seed for every random choice (workload, failures)")
      ->capture_default_str();
  cmd->add_option("--policy", o->policies,
                  "Comma-separated queue orders to compare: fifo,priority,drf,las,sjf,srtf,edf "
                  "(default: the scenario's)");
  cmd->add_option("--scores", o->scores,
                  "Comma-separated scores, first weighs most (default: the scenario's)");
  cmd->add_option("--backfill", o->backfill, "on | off (default: the scenario's)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--preemption", o->preemption, "on | off (default: the scenario's)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--explain", o->explain,
                  "on | off: the explanations (stranded capacity, unfinished_by_reason, tenants' "
                  "job figures, edge figures, utilization_window); off leaves them empty and "
                  "changes no decision")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--radio", o->radio,
                  "on | off: base-station pools lose nodes to their radio_load curve (off: the "
                  "radio takes nothing)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--preemption-grace", o->grace_s,
                  "Seconds a started job is safe from preemption");
  cmd->add_option("--site-down", o->site_down,
                  "SITE:FROM_HOURS:TO_HOURS, hours after the start; repeatable");
  cmd->add_option("--node-mtbf", o->node_mtbf_hours,
                  "Mean time between failures of a node, hours (pools may set their own)");
  cmd->add_option("--repair-hours", o->repair_hours, "Hours a failed node stays down")
      ->capture_default_str();
  cmd->add_option("--sample-hours", o->sample_hours, "Time-series sampling interval, hours")
      ->capture_default_str();
  cmd->add_option("--cycle-interval", o->cycle_interval_s,
                  "Seconds of virtual time between scheduling cycles (0 = at every event)")
      ->capture_default_str();
  cmd->add_option("--end-days", o->end_days,
                  "Stop after this many days of virtual time (0 = when all jobs are done)");
  cmd->add_option("--horizon-days", o->horizon_days,
                  "Refuse a workload whose arrivals span more than this many days")
      ->check(CLI::Range(1.0, 36500.0))
      ->capture_default_str();
  cmd->add_flag("--strict", o->strict, "Stop at the first bad trace line instead of skipping it");
  cmd->add_option("--trace-window", o->trace_window,
                  "Trace: only jobs submitted in FROM,UNTIL (YYYY-MM-DD, UTC)");
  cmd->add_option("--load-scale", o->load_scale,
                  "Trace: compress arrivals by this factor (2 = twice the load)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--trace-checkpoint", o->trace_checkpoint_s,
                  "Trace: checkpoint interval of every job, seconds (1 = preemption loses nothing, "
                  "as in Helios)");
  cmd->add_flag("--only-scenario-groups", o->only_scenario_groups,
                "Trace: leave out jobs of groups (VCs) that are not tenants of the scenario");
  cmd->add_option("--what-if", o->what_ifs,
                  "A what-if TOML file (pools added, removed or resized, sites, pools or a "
                  "vendor down for a period, quotas and grants, a demand multiplier) to run "
                  "beside the base and compare; repeatable (docs/twin.md, \"Capacity planning\")");
  cmd->add_option("--json", o->json, "Write the figures per policy as JSON to FILE");
  cmd->add_option("--csv", o->csv, "Write time series and per-tenant figures as CSV into DIR");
  cmd->add_option("--report", o->report, "Write a self-contained HTML report into DIR");
  cmd->add_flag("--quiet", o->quiet, "Print nothing but errors");
  cmd->callback([o] {
    if (int rc = Run(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sovgrid::cli
