// A real single-host Slurm cluster for integration tests, owned by the test:
// Debian's slurmctld, N `slurmd -N NAME` and a private munged, all on
// loopback, all state under one directory, stopped by PID. See docs/slurm.md
// for the exact configuration and what Slurm's commands print.
//
// Contract:
// - `Start` writes DIR/etc/slurm.conf (the daemons'), DIR/etc/client.conf (the
//   same with a short MessageTimeout, for commands) and DIR/etc/gres.conf,
//   makes fake GPUs (DIR/dev/nvidiaN, `mknod c 1 3`), starts munged (as user
//   munge), slurmctld and one slurmd per node, and returns once `sinfo` shows
//   every node idle. Every wait is bounded; on failure the message carries the
//   tails of the daemons' logs and every process started is stopped again.
//   Earlier contents of DIR's sub-folders (etc, munge, state, spool, log, run,
//   dev, jobs) are removed, so each Start is a fresh cluster.
// - Missing binaries (packages slurmctld, slurmd, slurm-client, munge, which
//   scripts/setup.sh installs) are a FAILED_PRECONDITION error, never a skip.
// - Ports: 0 picks a free block (controller port P, nodes P+1..P+N) and holds
//   a lock on it (/tmp/sovgrid-slurm-port-P.lock) for the life of the object,
//   so clusters in parallel test processes never collide.
// - The destructor (or `Stop`) stops slurmctld (SIGTERM), then SIGKILLs every
//   other process of the cluster: the daemons started here, and the
//   slurmstepd and job processes they spawned (found by the cluster's
//   directory), and waits (bounded) for them to vanish. Daemons also die
//   with the thread that started them (PR_SET_PDEATHSIG), so a crashed test
//   leaves no daemons behind.
// - Commands run against the cluster with `Env()` (SLURM_CONF=client.conf)
//   or through `Run`.
// Not thread-safe; use one object from one thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "testing/run_command.h"

namespace sovgrid::testing {

struct SlurmPartition {
  std::string name;
  std::string nodes;  // a Slurm host list, e.g. "gpu[001-002]"; empty = every node
  // More of the partition's line, e.g. "PriorityTier=2" or "DefaultTime=1 MaxTime=1"
  // (MaxTime=INFINITE unless it says otherwise).
  std::string extra;
};

struct SlurmClusterOptions {
  std::string cluster_name = "sovgrid";  // [a-z0-9_-], at most 32 characters
  std::string dir;                       // absolute; created if missing, made mode 0755
  int nodes = 4;                         // 1..999
  std::string node_prefix = "gpu";       // nodes are PREFIX001..PREFIX<nodes>
  int gpus_per_node = 8;                 // 0..64 fake GPUs (gres gpu, File=DIR/dev/nvidia[..])
  int cpus_per_node = 8;                 // declared; may exceed the host (config_overrides)
  int memory_mb_per_node = 16384;        // declared RealMemory
  int controller_port = 0;               // 0: pick a free block, see above
  int first_node_port = 0;               // 0: controller_port + 1
  // The first partition is the default one.
  std::vector<SlurmPartition> partitions = {{"batch", "", ""}};
  // slurm.conf lines "Key=Value": one whose key is a key this fixture writes
  // replaces that line (e.g. "SlurmdTimeout=30"; "Key=" removes it); others
  // are appended.
  std::vector<std::string> extra_config;
  int client_message_timeout_s = 10;  // MessageTimeout in client.conf; see docs/slurm.md
  double start_timeout_s = 60;        // for Start and StartController
};

class SlurmCluster {
 public:
  static Result<std::unique_ptr<SlurmCluster>> Start(const SlurmClusterOptions& options);
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  // Kills every process of the cluster (SIGKILL) and waits, at most 10 s, for
  // them to vanish. Idempotent; the destructor calls it.
  void Stop();

  // Stops slurmctld only: SIGTERM (it saves its state; 0.1-0.2 s) when
  // `graceful`, else SIGKILL (a crash: the last ~0.5 s of changes may be lost).
  // The slurmd and running jobs go on.
  Status StopController(bool graceful = true);
  // Starts slurmctld again on the same state (StateSaveLocation=DIR/state) and
  // waits until it answers and every node has registered again (no node
  // "unk" or not responding); jobs it knew are recovered.
  Status StartController();
  bool controller_running() const { return ctld_pid_ > 0; }

  // Waits until every node is idle (no job on any node), at most `timeout_s`.
  Status WaitForIdle(double timeout_s = 60);

  // SLURM_CONF pointing at client.conf: the environment for sbatch, squeue,
  // scontrol, scancel and sinfo against this cluster.
  std::map<std::string, std::string> Env() const;
  // Runs `command` with /bin/sh in that environment, killed after `timeout_s`
  // (exit code 124 then).
  CommandResult Run(const std::string& command, double timeout_s = 30) const;

  const std::string& dir() const { return dir_; }
  const std::string& conf_path() const { return conf_path_; }  // the daemons' slurm.conf
  const std::string& client_conf_path() const { return client_conf_path_; }
  const std::string& jobs_dir() const { return jobs_dir_; }  // empty; for --chdir
  const std::string& cluster_name() const { return options_.cluster_name; }
  const std::vector<std::string>& node_names() const { return node_names_; }
  const std::string& node_list() const { return node_list_; }  // "gpu[001-004]"
  const std::vector<std::string>& partitions() const { return partition_names_; }
  int controller_port() const { return controller_port_; }
  int first_node_port() const { return first_node_port_; }
  pid_t controller_pid() const { return ctld_pid_; }

  // The last lines of slurmctld's, munged's and the slurmd logs, for failure
  // messages.
  std::string LogTails(int lines = 15) const;

 private:
  explicit SlurmCluster(SlurmClusterOptions options);
  Status Launch();
  Status PickPorts();
  Status WriteFiles();
  Status StartMunge();
  Status SpawnController();
  Status WaitForController(double timeout_s);
  // Polls `sinfo` until `done(state of each node)` holds for every node.
  Status WaitForNodes(const std::string& what, bool (*done)(const std::string& state),
                      double timeout_s);
  std::vector<pid_t> ClusterProcesses() const;  // every live process of this cluster

  SlurmClusterOptions options_;
  std::string dir_, conf_path_, client_conf_path_, jobs_dir_, hostname_, node_list_;
  std::vector<std::string> node_names_, partition_names_, daemon_env_;
  int controller_port_ = 0, first_node_port_ = 0;
  int port_lock_fd_ = -1;
  pid_t munged_pid_ = -1, ctld_pid_ = -1;
  std::vector<pid_t> slurmd_pids_;
};

}  // namespace sovgrid::testing
