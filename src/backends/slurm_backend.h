// The Slurm execution backend: one real Slurm cluster per site.
//
// Each started job is submitted with sbatch to its site's cluster, pinned to
// the nodes sovgrid chose (--nodelist, --nodes, --gres=gpu:N per node,
// --exclusive when it takes whole nodes), tagged with the sovgrid id (job
// name and comment "sovgrid:ID"), never requeued by Slurm itself
// (--no-requeue: sovgrid decides where a lost job goes). Slurm's job id is the
// handle the control plane stores. A reconcile pass per cluster (at most every
// poll_interval_s) reads squeue and sinfo: ended jobs are reported with
// Slurm's state and exit code, lost ones (NODE_FAIL, PREEMPTED, unknown to
// Slurm) for requeueing, tagged jobs nobody tracks are cancelled, node states
// (down, drained) become health changes. A controller that does not answer
// makes its site draining at once and down after site_down_after_s; cancels
// that could not reach it are retried until they do. docs/backends.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/execution_backend.h"

namespace sovgrid::backends {

// `sovgrid serve --slurm-config FILE` reads the options (cli/slurm_config.h);
// `scenario` must outlive the backend. Sites without a cluster are reported down.
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
  std::string bin_dir;            // where sbatch, squeue... are ("" = PATH)
};
Result<std::unique_ptr<ExecutionBackend>> MakeSlurmBackend(const SlurmBackendOptions& options,
                                                           const model::Scenario& scenario);

// "a-gpu[001-003,007],b-gpu009" -> a-gpu001, a-gpu002, a-gpu003, a-gpu007,
// b-gpu009 (Slurm's host list syntax, one bracket per name). InvalidArgument
// on a malformed list.
Result<std::vector<std::string>> ExpandSlurmHostList(const std::string& list);

}  // namespace sovgrid::backends
