// Readers for public GPU-cluster job traces (Philly, Gavel, Alibaba 2023,
// Tiresias, ElasticFlow) into a twin Workload. docs/traces.md documents every
// column of every format and what sovgrid does with it.
//
// Contract:
//  * the result's jobs are sorted by submit time (stable: file order breaks
//    ties), ids are unique, runtime_s >= 1, job.accelerators >= 1 (or one
//    accelerator with job.accelerator_milli < 1000 for shared-GPU pods);
//  * the trace's earliest submission is shifted to options.epoch and every
//    other time (submits, deadlines) by the same amount;
//  * job.runtime_estimate_s is the true runtime (an oracle estimate, as the
//    SJF/SRTF baselines of Helios and Tiresias use);
//  * a bad data line is skipped with a warning "FILE:LINE: what (column NAME)"
//    and counted in lines_skipped; with options.strict it fails the whole read
//    with InvalidArgument carrying that message. A missing or unreadable file
//    is IoError; a file whose header lacks a needed column is InvalidArgument.
//  * never throws, never crashes: truncated files and random bytes give
//    warnings or an error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"
#include "traces/workload.h"

namespace sovgrid::traces {

struct TraceOptions {
  bool strict = false;  // a bad line stops the read (error with file:line) instead of being skipped
  model::Time epoch =
      0;  // the trace's first submission is shifted to this time (seconds since Unix epoch)
  const model::Scenario* scenario =
      nullptr;                 // to map trace groups (Philly VCs...) to tenants and to check models
  std::string default_tenant;  // tenant for jobs whose group is not a tenant of the scenario; empty
                               // = first tenant of the scenario
  std::size_t max_jobs = 0;    // 0 = all; else the first max_jobs jobs in submit order
  std::size_t max_warnings = 20;  // kept in Workload::warnings; all bad lines are still counted
  // Only jobs submitted in [window_from, window_until), in the trace's own
  // clock (Unix seconds for philly); 0 = no bound. Applied before the shift.
  model::Time window_from = 0;
  model::Time window_until = 0;
  // Leave out jobs whose group (VC) is not a tenant of the scenario, instead
  // of giving them to the default tenant.
  bool drop_unknown_groups = false;
};

// Formats: "philly", "gavel", "alibaba2023", "tiresias", "elasticflow".
// `path` is a file; for gavel it may also be a directory of per-VC .trace files (read all, VC =
// file stem); for alibaba2023 it is a pod list csv (openb_pod_list_*.csv).
Result<Workload> ReadTrace(std::string_view format, const std::string& path,
                           const TraceOptions& options);

// The formats ReadTrace knows, for --help and errors.
const std::vector<std::string>& TraceFormats();

// alibaba2023: a grid from the openb node list (sn,cpu_milli,memory_mib,gpu,model): one site, one
// pool per (GPU model, GPUs per node) with that many nodes; nodes with 0 GPUs are left out; a
// single top-level tenant "alibaba" with no guarantee; no datasets. Validated with scenario
// Resolve(). Any malformed line fails the call (InvalidArgument with file:line); a missing file is
// IoError.
Result<model::Scenario> ScenarioFromAlibabaNodes(const std::string& path);

// Gavel traces give work as total_steps; a job's runtime is total_steps divided by this rate
// (steps per second of the job type on one V100, recovered from the traces themselves — see
// docs/traces.md). 0 for an unknown job type.
double GavelStepsPerSecond(std::string_view job_type);

}  // namespace sovgrid::traces
