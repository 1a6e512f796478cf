// The twin's outputs: the terminal summary table, JSON, CSV time series and a
// self-contained HTML report with inline SVG charts. All of them read a
// twin::TwinReport (twin/metrics.h) and nothing else; docs/twin.md describes every file,
// key and column.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "twin/metrics.h"

namespace sovgrid::report {

// The terminal summary: one column per policy, one row per figure (jobs, JCT
// percentiles in human units, utilization, fairness, scheduler cost...).
std::string SummaryTable(const twin::TwinReport& report);

// Below the summary in the terminal, per run: why jobs did not finish
// (unfinished_by_reason), the three pools with the most stranded
// accelerator-hours, and each outage's figures. "" when there is nothing to say.
std::string ExplanationsText(const twin::TwinReport& report);

// What the runs say, in sentences generated from their figures (never fixed
// text): how the policies compare (waits, finished jobs, fairness), which
// policy serves which tenants better, who waits longest and why, where
// capacity sat idle while jobs waited and why, and the edge services. Only
// runs on the unchanged scenario (no variant, or "base") are compared. The
// HTML report opens with them; empty without runs.
std::vector<std::string> StoryLines(const twin::TwinReport& report);

// With what-ifs (runs whose PolicyResult::variant is set, "base" among them):
// per what-if and policy, the changes from the base run of the same policy
// that a planner weighs first: jobs that did not finish, mean and p95 queue
// wait, utilization over the arrival window, energy, and the tenants whose
// mean wait changed most. "" when no run has a variant.
std::string WhatIfTable(const twin::TwinReport& report);

// {"scenario", "workload", "lines_skipped", "warnings", "policies": [...]}; one
// object per policy (and what-if variant: a "variant" key) with every scalar of PolicyResult under
// its own name, plus "jct_quantiles_s", "tenants" and "sites". Time series are not included (see
// WriteCsv). Non-finite numbers are written as null.
std::string ReportJson(const twin::TwinReport& report);
// ReportJson into `path` (its folder must exist). IoError naming the path on failure.
Status WriteJson(const twin::TwinReport& report, const std::string& path);

// Into DIR (created if needed): DIR/<policy>-timeseries.csv, DIR/<policy>-tenants.csv
// for every policy and DIR/summary.csv. <policy> is PolicyFileStems()[i].
// IoError naming the path on failure.
Status WriteCsv(const twin::TwinReport& report, const std::string& dir);

// The policy names made safe for file names, one per policy, in order: characters
// other than letters, digits, '.', '_', '+' and '-' become '_'; duplicates (also
// when only upper/lower case differs) get "-2", "-3"...
std::vector<std::string> PolicyFileStems(const twin::TwinReport& report);

// The HTML report as one string: inline CSS and inline SVG, no scripts, no
// fonts, images or anything else fetched from anywhere.
std::string ReportHtml(const twin::TwinReport& report);
// ReportHtml into DIR/index.html (DIR created if needed). IoError naming the path on failure.
Status WriteHtmlReport(const twin::TwinReport& report, const std::string& dir);

}  // namespace sovgrid::report
