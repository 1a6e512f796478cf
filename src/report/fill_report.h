// Outputs of the fill experiment (fill/fill.h): JSON, CSV and a self-contained
// HTML report (the terminal table is the CLI's). docs/fill.md describes every key and file.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "fill/fill.h"

namespace sovgrid::report {

struct FillReport {
  const fill::FillCluster* cluster = nullptr;
  std::vector<std::string> workloads;  // families, in the order given
  std::vector<std::string> policies;
  std::vector<std::uint64_t> seeds;
  double target_load = 1.3;
  std::vector<fill::FillRun> runs;
};

// Where sovgrid's placement stands against the best other policy on one
// workload at one load (mean over seeds).
struct FillComparison {
  std::string workload;
  int load = 0;
  double sovgrid = 0;
  double best_other = 0;
  std::string best_other_policy;
};
// One entry per (workload, load of kFillReportLoads) both reached; empty unless
// "sovgrid" and at least one other policy ran.
std::vector<FillComparison> CompareWithBaselines(const std::vector<fill::FillSummary>& summary);

// {"cluster": {...}, "runs": [...], "summary": [...], "comparison": [...]}.
std::string FillJson(const FillReport& report);
Status WriteFillJson(const FillReport& report, const std::string& path);
// DIR/curves.csv, DIR/summary.csv, DIR/failed_pods.csv, DIR/frag_by_model.csv.
Status WriteFillCsv(const FillReport& report, const std::string& dir);
std::string FillHtml(const FillReport& report);
// DIR/index.html.
Status WriteFillHtml(const FillReport& report, const std::string& dir);

}  // namespace sovgrid::report
