// The fill experiment of FGD (Weng et al., ATC'23) on the Alibaba
// cluster-trace-gpu-v2023: pods arrive one by one into a fixed cluster and
// never leave; a placement policy is judged by how much of the cluster's
// accelerator capacity it has allocated when the demand that arrived reaches
// 100 %, 110 %... of it. Placement is sched/node_placement.h, the scheduler's
// own node-level layer. docs/fill.md states every rule.
//
// Readers are strict: a malformed line fails the read with "FILE:LINE: what
// (column NAME)"; nothing is skipped silently. Runs are deterministic for a
// given (pod list, policy, seed).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "sched/node_placement.h"

namespace sovgrid::fill {

// The cluster: openb_node_list_*.csv (sn, cpu_milli, memory_mib, gpu, model).
struct FillCluster {
  std::string path;
  std::vector<std::string> models;  // accelerator models in order of first appearance
  std::vector<std::string> names;   // per node
  std::vector<sched::NodeState> nodes;
  model::Milli gpu_capacity_milli = 0;
  std::vector<model::Milli> model_capacity_milli;  // per model
};
Result<FillCluster> ReadFillCluster(const std::string& path);

struct FillPod {
  std::string name;
  sched::PodRequest request;
  std::string gpu_spec;  // as written, "" = any model
  int shape = 0;         // pods with identical requests share a shape id (dense from 0)
};

// A pod list: openb_pod_list_*.csv (name, cpu_milli, memory_mib, num_gpu,
// gpu_milli, optional gpu_spec; other columns ignored). Models named in
// gpu_spec that the cluster lacks are kept in the text and match no node.
struct FillWorkload {
  std::string path;
  std::string family;  // "default", "gpushare40"... from the file name
  std::vector<FillPod> pods;
  int shape_count = 0;
  sched::WorkloadMix mix;  // typical pods of this list (the target workload of fgd and sovgrid)
};
Result<FillWorkload> ReadFillWorkload(const std::string& path, const FillCluster& cluster);

// The arrival order for one seed, as in the paper's artifact: the pods of the
// list shuffled; when they ask for less accelerator share than target_load x
// capacity, copies of pods drawn uniformly with replacement are appended until
// the next copy would pass the target; when they ask for more, random pods are
// dropped until the demand is within it. Indexes into workload.pods.
std::vector<std::size_t> ArrivalOrder(const FillWorkload& workload, model::Milli capacity_milli,
                                      double target_load, std::uint64_t seed);

// Failed pods of one class, with why they failed (what no node had enough of
// at that moment: "accelerator", "cpu" or "memory").
struct FailedPods {
  int gpus = 0;
  model::Milli gpu_milli = 0;
  std::string gpu_spec;
  std::string reason;
  std::size_t count = 0;
  model::Milli gpu_demand_milli = 0;
};

// A pod class as people say it: "CPU only", "0.46 GPU", "8 GPUs"; and its
// accepted models ("any" when unrestricted).
std::string PodRequestLabel(int gpus, model::Milli gpu_milli);
std::string GpuSpecLabel(const std::string& gpu_spec);

struct FillRun {
  std::string workload;  // family
  std::string policy;
  std::uint64_t seed = 0;
  std::size_t pods = 0;
  std::size_t failed_pods = 0;
  double wall_s = 0;
  // One point per whole percent of arrived load: (arrived %, allocated %) just
  // after the pod whose arrival took the arrived demand to that percent.
  std::vector<std::pair<int, double>> curve;
  double arrived_pct = 0, allocated_pct = 0;  // at the end
  // Fragmentation (FGD's measure, sum over nodes of F_n(M)) when arrived
  // demand first reached 100 %: in % of capacity and in % of the idle share.
  double frag_pct_at_100 = -1, frag_ratio_at_100 = -1;
  std::vector<double> model_frag_pct_at_100;  // per cluster model, % of that model's capacity
  std::vector<FailedPods> failed;             // by class, most GPU demand first
  // With FillOptions::keep_placements: per arrival (in order) the pod index
  // into workload.pods and the node it went to (-1: failed) with its
  // accelerators, and the nodes as they ended.
  struct Placement {
    std::size_t pod = 0;
    int node = -1;
    sched::GpuChoice gpus;
  };
  std::vector<Placement> placements;
  std::vector<sched::NodeState> final_nodes;
};

struct FillOptions {
  double target_load = 1.3;
  // Called after each pod with (pods done, pods in the run); may be empty.
  std::function<void(std::size_t, std::size_t)> progress;
  bool keep_placements = false;  // fill FillRun::placements and final_nodes (tests, audits)
};

// One run. InvalidArgument for an unknown policy.
Result<FillRun> RunFill(const FillCluster& cluster, const FillWorkload& workload,
                        const std::string& policy, std::uint64_t seed, const FillOptions& options);

// Mean, min and max over seeds of one policy on one workload.
struct FillSummary {
  std::string workload, policy;
  std::size_t runs = 0;
  std::map<int, double> alloc_mean, alloc_min, alloc_max;  // by arrived % (90..130 step 10)
  double failed_pods_mean = 0;
  double frag_pct_at_100_mean = -1;
  double wall_s_mean = 0;
};
inline constexpr int kFillReportLoads[] = {90, 100, 110, 120, 130};
// In first-appearance order of (workload, policy) in `runs`.
std::vector<FillSummary> SummarizeFill(const std::vector<FillRun>& runs);

}  // namespace sovgrid::fill
