// What a twin run measures, per policy, and the report that holds several
// policies side by side. Plain data: the engine fills it, the JSON, CSV and
// HTML writers read it.
#pragma once

#include <cstddef>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "accounting/accounting.h"

namespace sovgrid::twin {

struct TenantUsage {
  std::string id;          // tenant path, e.g. "msit/research/kisti"
  double gpu_hours = 0;    // accelerator-hours received
  double share = 0;        // of all accelerator-hours delivered (0..1)
  double entitlement = 0;  // its guarantee's share of the grid's capacity (0..1)
  // Jobs of the tenant's subtree: submitted to the scheduler, finished, and the
  // finished ones' queue wait (submission to first start) and completion time.
  std::size_t jobs = 0;
  std::size_t jobs_finished = 0;
  double mean_queue_s = 0, p95_queue_s = 0, mean_jct_s = 0;  // 0 when none finished
  // Its subtree's unfinished jobs by reason (as PolicyResult::unfinished_by_reason),
  // most frequent first; empty when all finished.
  std::vector<std::pair<std::string, std::size_t>> unfinished_by_reason{};
};

struct SiteUsage {
  std::string id;
  std::string operator_name;
  std::string region;
  int tier = 1;
  bool edge = false;
  long long accelerators = 0;
  double utilization = 0;  // mean allocated fraction over the run (0..1)
  double gpu_hours = 0;
};

struct PoolUsage {
  std::string id;
  std::string site;
  std::string accelerator;  // model
  long long accelerators = 0;
  bool edge = false;              // its site is an edge site
  double utilization = 0;         // mean allocated fraction over the run (0..1)
  double utilization_window = 0;  // the same over the arrival window
  // Accelerator-hours free on up nodes while at least one job waited: capacity
  // that the waiting work could not (or did not) use. See docs/twin.md.
  double stranded_accelerator_hours = 0;
  // The same hours split by why none of the waiting jobs could use them
  // (every name of kStrandedReasons, in that order; they sum to stranded_accelerator_hours).
  std::vector<std::pair<std::string, double>> stranded_by_reason;
  // The same two up to the last arrival (the arrival window): what the week
  // in question left unused, without the drain tail, where jobs held by a
  // grant valid later can keep the run going for months of idle capacity.
  // Equal to the whole run's when there were no arrivals.
  double stranded_window_accelerator_hours = 0;
  std::vector<std::pair<std::string, double>> stranded_window_by_reason;
  // Accelerator-hours the radio held (pools with a radio_load curve; 0 otherwise).
  double radio_accelerator_hours = 0;
};

// Why free accelerators of a pool went unused while jobs waited, nearest miss
// first: for each pool the twin takes the nearest among the waiting jobs (see
// docs/twin.md, "Stranded capacity"). "shape": a job could go there but the free
// accelerators did not form its shape (too few on a node or in a domain, or a
// node shape the pool lacks); "reserved": held for a reservation, a tenant's
// dedicated pool, or strict order; "quota_grant": its quota or grant stopped
// it; "latency": its latency objective excludes the site; "model": it does not
// accept the pool's model, or (a hybrid job) no QPU it may use is at the site;
// "residency": its datasets may not go there; "stack": the accelerators do not
// run its stack.
inline constexpr const char* kStrandedReasons[] = {"shape", "reserved",  "quota_grant", "latency",
                                                   "model", "residency", "stack"};
// The same reasons in words, for reports: "<pool> sat idle because <words>".
inline constexpr const char* kStrandedReasonWords[] = {
    // One element: the concatenation is parenthesised (clang's -Wstring-concatenation).
    ("the free accelerators did not form the waiting jobs' shape (too few on a node or in a "
     "domain)"),
    "it was held for reservations or a tenant's dedicated pools",
    "the jobs that could use it were held by their quota or grants",
    "it is too far from the waiting services' users",
    "the waiting jobs do not accept its model, or need a QPU the site lacks",
    "the waiting jobs' data may not go there",
    "it does not run the waiting jobs' software stack",
};
inline constexpr std::size_t kStrandedReasonCount = 7;
static_assert(std::size(kStrandedReasons) == kStrandedReasonCount &&
              std::size(kStrandedReasonWords) == kStrandedReasonCount);

// What one outage (--site-down, or a what-if's down period) did.
struct OutageFigures {
  std::string what;                     // "site naver-chuncheon" or "pool nacc-haenam-b200"
  double from_s = 0, until_s = 0;       // seconds after the start of the run
  long long accelerators = 0;           // taken down
  std::size_t jobs_requeued = 0;        // running jobs it stopped
  double lost_gpu_hours = 0;            // their work since their last checkpoint
  std::size_t jobs_pending_at_end = 0;  // jobs waiting when it ended (work pinned to it waits)
};

// A time series sampled every `PolicyResult::sample_interval_s` from the start.
struct Series {
  std::string name;
  std::vector<double> values;
};

// PolicyResult::variant of the run on the unchanged scenario when what-ifs ran.
inline constexpr const char* kBaseVariant = "base";

struct PolicyResult {
  std::string policy;   // e.g. "fifo" or "drf+topology,binpack"
  std::string variant;  // the what-if it ran on ("base" or the what-if's name); "" without any
  // How outputs for people name the run: "fifo", or "variant:fifo" with what-ifs.
  std::string Label() const { return variant.empty() ? policy : variant + ":" + policy; }
  std::size_t jobs = 0;  // submitted to the scheduler
  std::size_t jobs_finished = 0;
  std::size_t jobs_rejected = 0;    // refused at submission (invalid for this grid)
  std::size_t jobs_unfinished = 0;  // still pending or running when the run ended
  double mean_jct_s = 0, p50_jct_s = 0, p95_jct_s = 0, p99_jct_s = 0;
  double mean_queue_s = 0, p50_queue_s = 0, p95_queue_s = 0, p99_queue_s = 0;
  std::vector<double> jct_quantiles_s;  // 101 points: quantile 0, 0.01, ..., 1 (for the CDF)
  double utilization = 0;               // allocated accelerator-time / available accelerator-time
  // The same over the arrival window only (start to the last arrival), without
  // the drain tail in which the last jobs finish on an emptying grid.
  double utilization_window = 0;
  // Every job submitted but not finished at the end, counted once under why:
  // "running", or its pending reason (sched::WaitCodeName), most frequent first.
  std::vector<std::pair<std::string, std::size_t>> unfinished_by_reason;
  double fragmentation = 0;  // mean share of free accelerators stranded on partly used nodes
  std::size_t preemptions = 0;
  double lost_gpu_hours = 0;  // work lost to preemption and failures
  // Running jobs that base-station GPUs' radio load stopped (requeued), and
  // their work since their last checkpoint (also in lost_gpu_hours).
  std::size_t radio_preemptions = 0;
  double radio_lost_gpu_hours = 0;
  // Edge services: services whose latency objective only edge sites meet (see
  // docs/twin.md, "Edge"). Placed: started, every placement within the
  // objective. Attainment: placed / submitted. Served share: of their requested
  // time [submission, submission + duration), the part they ran. NaN when
  // there are none.
  std::size_t edge_services = 0;
  std::size_t edge_services_placed = 0;
  double edge_latency_attainment = 0;
  double edge_served_share = 0;
  double energy_mwh = 0;                 // accelerator board energy
  std::size_t residency_violations = 0;  // must be 0
  double jain_index = 0;                 // fairness of share / entitlement over tenants with demand
  std::vector<TenantUsage> tenants;
  std::vector<SiteUsage> sites;
  std::vector<PoolUsage> pools;
  std::vector<OutageFigures> outages;  // site outages first, then pool outages, in given order
  // Accounting of the simulated period (the daemon's GET /v1/accounting over
  // the same records): usage per UTC day, tenant, grant and pool; running
  // jobs counted up to the end of the run.
  std::vector<accounting::DailyUsage> usage_daily;
  double scheduler_cpu_s = 0;  // CPU time inside the scheduler
  std::size_t decisions = 0;
  std::size_t cycles = 0;
  double wall_s = 0;
  double peak_rss_mb = 0;
  double simulated_s = 0;  // virtual time covered
  // From the start to the last arrival (simulated_s when nothing arrived).
  double arrival_window_s = 0;
  // Time series.
  double sample_interval_s = 3600;
  Series utilization_total;  // allocated fraction of the grid
  std::vector<Series> utilization_by_site;
  std::vector<Series> utilization_by_model;
  Series queue_length;  // pending jobs
  Series running_jobs;
};

struct TwinReport {
  std::string scenario;  // scenario name
  std::string workload;  // Workload::description
  std::size_t lines_skipped = 0;
  std::vector<std::string> warnings;
  std::vector<PolicyResult> policies;
};

}  // namespace sovgrid::twin
