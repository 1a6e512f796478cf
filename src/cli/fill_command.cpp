#include "cli/fill_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/table.h"
#include "fill/fill.h"
#include "report/fill_report.h"
#include "sched/node_placement.h"

namespace sovgrid::cli {
namespace {

struct Options {
  std::string nodes;
  std::vector<std::string> pods;
  std::string policies;
  std::string seeds = "42";
  double target_load = 1.3;
  std::string json;
  std::string csv;
  std::string report;
  bool quiet = false;
};

void PrintTables(const report::FillReport& report, std::ostream& out) {
  const auto summary = fill::SummarizeFill(report.runs);
  std::vector<std::string> header = {"pod list", "policy"};
  for (int load : fill::kFillReportLoads) header.push_back(fmt::format("alloc@{}%", load));
  header.insert(header.end(), {"failed pods", "frag@100%", "wall s"});
  TextTable table(header);
  for (const auto& s : summary) {
    std::vector<std::string> row = {s.workload, s.policy};
    for (int load : fill::kFillReportLoads) {
      auto it = s.alloc_mean.find(load);
      if (it == s.alloc_mean.end()) {
        row.emplace_back("-");
      } else if (s.runs > 1) {
        row.push_back(fmt::format("{:.2f} ({:.2f}-{:.2f})", it->second, s.alloc_min.at(load),
                                  s.alloc_max.at(load)));
      } else {
        row.push_back(fmt::format("{:.2f}", it->second));
      }
    }
    row.push_back(fmt::format("{:.1f}", s.failed_pods_mean));
    row.push_back(s.frag_pct_at_100_mean >= 0 ? fmt::format("{:.2f}", s.frag_pct_at_100_mean)
                                              : "-");
    row.push_back(fmt::format("{:.2f}", s.wall_s_mean));
    table.AddRow(std::move(row));
  }
  out << "Allocated GPU (% of capacity) when the arrived demand reaches 90..130 %; mean over "
      << report.seeds.size() << " seed" << (report.seeds.size() == 1 ? "" : "s")
      << " (min-max)\n\n";
  table.Print(out);

  const auto comparison = report::CompareWithBaselines(summary);
  if (!comparison.empty()) {
    out << "\nsovgrid against the best other policy at each load:\n";
    std::string current;
    for (const auto& c : comparison) {
      if (c.workload != current) {
        out << (current.empty() ? "" : "\n") << "  " << c.workload << ":";
        current = c.workload;
      }
      const double d = c.sovgrid - c.best_other;
      out << fmt::format("  {}% {}{:.2f} ({})", c.load, d >= 0 ? "+" : "", d, c.best_other_policy);
    }
    out << "\n";
  }

  // What failed, for the default policy when it ran.
  std::string focus = report.policies.empty() ? "" : report.policies.front();
  for (const auto& p : report.policies) {
    if (p == "sovgrid") focus = p;
  }
  for (const auto& w : report.workloads) {
    for (const auto& r : report.runs) {
      if (r.workload != w || r.policy != focus) continue;
      out << fmt::format("\n{} / {} / seed {}: {} of {} pods failed", w, focus, r.seed,
                         r.failed_pods, r.pods);
      if (!r.failed.empty()) {
        out << "; the largest classes:\n";
        TextTable failed({"request", "accepted models", "short of", "pods", "GPUs asked"});
        for (std::size_t i = 0; i < r.failed.size() && i < 5; ++i) {
          const auto& f = r.failed[i];
          failed.AddRow({fill::PodRequestLabel(f.gpus, f.gpu_milli), fill::GpuSpecLabel(f.gpu_spec),
                         f.reason, std::to_string(f.count),
                         fmt::format("{:.1f}", static_cast<double>(f.gpu_demand_milli) / 1000)});
        }
        failed.Print(out);
      } else {
        out << "\n";
      }
      if (!r.model_frag_pct_at_100.empty()) {
        out << "  fragmentation at 100 % arrived, % of each model:";
        for (std::size_t m = 0; m < r.model_frag_pct_at_100.size(); ++m) {
          out << fmt::format(" {} {:.1f}", report.cluster->models[m], r.model_frag_pct_at_100[m]);
        }
        out << "\n";
      }
      break;  // the first seed is enough on a terminal; --json has them all
    }
  }
}

int Run(const Options& o) {
  auto cluster = fill::ReadFillCluster(o.nodes);
  if (!cluster.ok()) {
    std::cerr << "error: " << cluster.status().message() << "\n";
    return 1;
  }
  std::vector<fill::FillWorkload> workloads;
  for (const auto& list : o.pods) {
    for (const auto& path : SplitCommaList(list)) {
      auto w = fill::ReadFillWorkload(path, *cluster);
      if (!w.ok()) {
        std::cerr << "error: " << w.status().message() << "\n";
        return 1;
      }
      workloads.push_back(std::move(w).value());
    }
  }
  if (workloads.empty()) {
    std::cerr << "error: --pods: no pod list given\n";
    return 2;
  }
  std::vector<std::string> policies =
      o.policies.empty() ? sched::NodeScorerNames() : SplitCommaList(o.policies);
  for (const auto& p : policies) {
    if (auto s = sched::MakeNodeScorer(p); !s.ok()) {
      std::cerr << "error: --policy: " << s.status().message() << "\n";
      return 2;
    }
  }
  report::FillReport report;
  report.cluster = &*cluster;
  report.policies = policies;
  report.target_load = o.target_load;
  for (const auto& s : SplitCommaList(o.seeds)) {
    std::uint64_t seed = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), seed);
    if (ec != std::errc() || end != s.data() + s.size()) {
      std::cerr << "error: --seeds: '" << s << "' is not a non-negative integer\n";
      return 2;
    }
    report.seeds.push_back(seed);
  }
  if (report.seeds.empty()) {
    std::cerr << "error: --seeds: no seed given\n";
    return 2;
  }
  for (const auto& w : workloads) report.workloads.push_back(w.family);

  const bool tty = isatty(STDOUT_FILENO) == 1 && !o.quiet;
  const std::size_t total = workloads.size() * policies.size() * report.seeds.size();
  if (!o.quiet) {
    std::cout << fmt::format(
        "sovgrid fill: {} nodes, {} GPUs; {} pod list{} x {} polic{} x {} seed{} = {} runs\n",
        cluster->nodes.size(), cluster->gpu_capacity_milli / 1000, workloads.size(),
        workloads.size() == 1 ? "" : "s", policies.size(), policies.size() == 1 ? "y" : "ies",
        report.seeds.size(), report.seeds.size() == 1 ? "" : "s", total);
  }
  std::size_t done = 0;
  for (const auto& w : workloads) {
    for (const auto& p : policies) {
      for (auto seed : report.seeds) {
        fill::FillOptions options;
        options.target_load = o.target_load;
        const std::string label = fmt::format("{}/{}/{}", w.family, p, seed);
        if (tty) {
          options.progress = [&](std::size_t i, std::size_t n) {
            if (i % 256 != 0 && i != n) return;
            std::fprintf(stdout, "\r  [%zu/%zu] %-40s %5.1f%%", done + 1, total, label.c_str(),
                         100.0 * static_cast<double>(i) / static_cast<double>(n));
            std::fflush(stdout);
          };
        }
        auto run = fill::RunFill(*cluster, w, p, seed, options);
        if (!run.ok()) {
          std::cerr << "\nerror: " << label << ": " << run.status().message() << "\n";
          return 1;
        }
        ++done;
        if (!o.quiet && !tty) {
          std::cout << fmt::format("  [{}/{}] {}: {:.2f} % allocated, {} failed pods, {:.2f} s\n",
                                   done, total, label, run->allocated_pct, run->failed_pods,
                                   run->wall_s);
        }
        report.runs.push_back(std::move(run).value());
      }
    }
  }
  if (tty) std::fprintf(stdout, "\n");
  if (!o.quiet) {
    std::cout << "\n";
    PrintTables(report, std::cout);
  }
  int rc = 0;
  auto write = [&](const Status& st, const std::string& what) {
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      rc = 1;
    } else if (!o.quiet) {
      std::cout << what << "\n";
    }
  };
  if (!o.quiet && (!o.json.empty() || !o.csv.empty() || !o.report.empty())) std::cout << "\n";
  if (!o.json.empty()) write(report::WriteFillJson(report, o.json), "JSON written to " + o.json);
  if (!o.csv.empty()) write(report::WriteFillCsv(report, o.csv), "CSV written to " + o.csv + "/");
  if (!o.report.empty()) {
    write(report::WriteFillHtml(report, o.report),
          "HTML report written to " + (std::filesystem::path(o.report) / "index.html").string());
  }
  return rc;
}

}  // namespace

void AddFillCommand(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "fill",
      "The fill experiment of FGD (ATC'23) on Alibaba's GPU-sharing trace: pods arrive into a "
      "fixed cluster and never leave; each placement policy is judged by the GPU it has "
      "allocated when the arrived demand reaches 100 %, 110 %... of capacity.");
  cmd->add_option("--nodes", o->nodes, "Node list (openb_node_list_*.csv)")->required();
  cmd->add_option("--pods", o->pods,
                  "Pod list (openb_pod_list_*.csv); several, comma-separated or repeated, give "
                  "one chart per workload family")
      ->required();
  cmd->add_option("--policy", o->policies,
                  "Comma-separated placement policies: random, bestfit, dotprod, gpu-packing, "
                  "gpu-clustering, fgd, sovgrid (default: all)");
  cmd->add_option("--seeds", o->seeds, "Comma-separated seeds; results are averaged over them")
      ->capture_default_str();
  cmd->add_option("--target-load", o->target_load,
                  "Arrived GPU demand to inflate the pod list to, as a multiple of capacity")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 10.0));
  cmd->add_option("--json", o->json, "Write runs, curves and the summary as JSON to FILE");
  cmd->add_option("--csv", o->csv,
                  "Write curves, summary, failed pods and fragmentation as CSV into DIR");
  cmd->add_option("--report", o->report, "Write a self-contained HTML report into DIR");
  cmd->add_flag("--quiet", o->quiet, "Print nothing but errors");
  cmd->callback([o] {
    if (int rc = Run(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sovgrid::cli
