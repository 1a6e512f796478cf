// The Slurm execution backend: one real Slurm cluster per site.
//
// Each started job is submitted with sbatch to its site's cluster, pinned to
// the nodes sovgrid chose (--nodelist, --nodes, --gres=gpu:N per node,
// --exclusive when it takes whole nodes), tagged with the sovgrid id (job
// name "sovgrid-ID" and comment "sovgrid:INSTANCE:ID"), never requeued by
// Slurm itself (--no-requeue: sovgrid decides where a lost job goes), charged
// to the cluster's account if one is configured; its command runs once
// per node (srun for several) with SOVGRID_* variables as under `local`, and
// its output is appended to DIR/jobs/ID/{stdout,stderr}. Slurm's job id is
// the handle the control plane stores ("slurm:SITE:ID"). Starts of one
// cycle (StartAll) run their sbatch calls on up to submit_workers threads. A
// reconcile pass per cluster (at most every poll_interval_s, from Poll) reads
// scontrol ping, squeue and sinfo: ended jobs are reported with Slurm's state
// and exit code (TIMEOUT and the like fail), lost ones (NODE_FAIL, PREEMPTED,
// unknown to Slurm or its id reused) for requeueing, unless Slurm forgot a job
// that left an exit file for every rank (then that is how it ended); this
// instance's tagged jobs nobody tracks are cancelled, node states (down,
// drained) become health changes. A controller that does not answer makes its
// site draining at once and down after site_down_after_s (starts fail with
// IoError meanwhile) and is asked again with exponential backoff (up to
// retry_max_interval_s); cancels that could not reach it are retried until
// they do. Slurm picks the GPU indexes within a node; a fractional share gets
// a whole GPU. docs/backends.md ("slurm") has the flags, the state table and
// the limits; tests/backends/slurm_backend_test.cpp runs it on real Slurm.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/execution_backend.h"

namespace sovgrid::backends {

// Options (the daemon integration, `sovgrid serve --slurm-config FILE`, is to come);
// `scenario` must outlive the backend. Sites without a cluster are reported down
// by the first Health(). MakeSlurmBackend refuses (InvalidArgument) sites or
// pools the scenario lacks, a pool at another site or mapped twice, and a
// mapping whose node count differs from the pool's.
struct SlurmPoolMapping {
  std::string pool;                // scenario pool id
  std::string partition;           // Slurm partition its nodes are in
  std::vector<std::string> nodes;  // Slurm node names of the pool's nodes n00000, n00001, ...
};
struct SlurmClusterConfig {
  std::string site;        // scenario site id
  std::string slurm_conf;  // SLURM_CONF for the client commands
  std::string account;     // --account, "" for none
  std::vector<SlurmPoolMapping> pools;
};
struct SlurmBackendOptions {
  std::string dir;  // per-job scripts and output (must be readable by the site's nodes)
  std::vector<SlurmClusterConfig> clusters;
  double poll_interval_s = 1;     // squeue/sinfo at most this often per cluster
  double site_down_after_s = 60;  // unreachable controller: draining at once, down after this
  double command_timeout_s = 20;  // any Slurm client command
  int submit_workers = 8;         // sbatch calls at once when a cycle starts several jobs
  // A silent controller is asked again after poll_interval_s, then twice as
  // long after each silent pass, up to this.
  double retry_max_interval_s = 30;
  std::string bin_dir;  // where sbatch, squeue... are ("" = PATH)
  // Names this daemon's jobs in Slurm (comment "sovgrid:INSTANCE:ID"): a
  // reconcile pass adopts, reports and cancels only its own, so two daemons
  // may share a cluster. "": the one kept in DIR/instance (made on first use).
  std::string instance;
};
Result<std::unique_ptr<ExecutionBackend>> MakeSlurmBackend(const SlurmBackendOptions& options,
                                                           const model::Scenario& scenario);

// 1-32 characters of A-Z a-z 0-9 . _ - (SlurmBackendOptions::instance).
bool IsValidSlurmInstance(const std::string& name);

// "a-gpu[001-003,007],b-gpu009" -> a-gpu001, a-gpu002, a-gpu003, a-gpu007,
// b-gpu009 (Slurm's host list syntax, one bracket per name). InvalidArgument
// on a malformed list.
Result<std::vector<std::string>> ExpandSlurmHostList(const std::string& list);

}  // namespace sovgrid::backends
