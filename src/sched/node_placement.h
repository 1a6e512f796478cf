// Node-level placement: which node, and which accelerators on it, take one pod
// whose CPU, memory and accelerator request (whole accelerators or a share of
// one) must all fit. This is the layer that GPU-sharing placement policies
// compete on (FGD, ATC'23, and the baselines it was compared with); the fill
// experiment (fill/fill.h) drives it and the live Scheduler uses the sovgrid
// policy's rule for shared accelerators (see docs/fill.md).
//
// Shape of the layer, as in the Kubernetes scheduler framework:
//   * one filter for everyone (Fits: CPU, memory, accelerator model, free shares);
//   * a NodeScorer per policy (registry: MakeNodeScorer), which scores one
//     feasible node and names the accelerators it would take;
//   * one mechanism (NodeTable::Place) that filters, scores every node, keeps
//     the best score (ties broken uniformly at random with the caller's seeded
//     generator, as kube-scheduler does) and applies the placement.
//
// Depends on the model only. Not thread-safe; everything is deterministic for
// a given seed.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"

namespace sovgrid::sched {

using model::Milli;

inline constexpr int kMaxAcceleratorsPerNode = 16;
inline constexpr int kMaxModels = 64;  // accelerator models a NodeTable can tell apart
inline constexpr std::uint64_t kAnyModel = ~std::uint64_t{0};

// One pod's request. `gpus` == 0: CPU and memory only; `gpus` == 1 with
// `gpu_milli` < 1000: that share of one accelerator; otherwise `gpus` whole
// accelerators on one node (`gpu_milli` == 1000).
struct PodRequest {
  std::int64_t cpu_milli = 0;
  std::int64_t memory_mib = 0;
  int gpus = 0;
  Milli gpu_milli = 0;               // per accelerator
  std::uint64_t models = kAnyModel;  // accepted models, bit i = model index i
  Milli gpu_total() const { return gpu_milli * gpus; }
  bool shares_gpu() const { return gpus == 1 && gpu_milli > 0 && gpu_milli < 1000; }
  bool cpu_only() const { return gpus == 0 || gpu_milli == 0; }
};

// A node as placement sees it.
struct NodeState {
  int model = -1;  // accelerator model index, -1 when the node has none
  std::int64_t cpu_capacity = 0, cpu_free = 0;        // milli-CPU
  std::int64_t memory_capacity = 0, memory_free = 0;  // MiB
  int gpu_count = 0;
  std::array<Milli, kMaxAcceleratorsPerNode> gpu_free{};  // per accelerator, 0..1000
  // Pods on the node by accelerator shape (what gpu-clustering groups by):
  // [0] pods sharing an accelerator, [k] pods of k whole accelerators.
  std::array<std::uint32_t, kMaxAcceleratorsPerNode + 1> pods_by_gpu_shape{};

  Milli FreeGpuMilli() const;  // sum of gpu_free
  int FullyFreeGpus() const;
};

// Accelerators chosen on one node.
struct GpuChoice {
  std::array<std::uint8_t, kMaxAcceleratorsPerNode> index{};
  int count = 0;
};

// The one filter: CPU, memory, model and accelerator shares.
bool Fits(const NodeState& node, const PodRequest& pod);
// The lowest-index fully free accelerators for a whole-accelerator pod (every policy
// takes these: fully free accelerators of a node are interchangeable). Assumes Fits.
GpuChoice LowestFreeGpus(const NodeState& node, const PodRequest& pod);
// The fitting accelerator with the least free share (lowest index on a tie). Assumes
// Fits and pod.shares_gpu().
GpuChoice TightestGpu(const NodeState& node, const PodRequest& pod);
// `node` after taking `pod` on `choice`.
NodeState Apply(NodeState node, const PodRequest& pod, const GpuChoice& choice);

// The target workload of fragmentation measures (FGD's M): the most common pod
// shapes and how often each occurs.
struct TypicalPod {
  PodRequest shape;   // memory: the most common memory of pods with this key
  double popularity;  // shares sum to 1
};
struct WorkloadMix {
  std::vector<TypicalPod> types;
  // FGD's construction: group pods by (CPU, accelerator share, accelerators,
  // accepted models), memory ignored; keep the most common groups until they
  // cover `coverage` of the pods (ties: larger key first); renormalise.
  static WorkloadMix FromPods(const std::vector<PodRequest>& pods, double coverage = 0.95);
};

// F_n(m) of FGD, in milli-accelerators: the free accelerator share of `node`
// that pod shape `m` cannot use. Everything free when m takes no accelerator,
// cannot use the node's model, or does not fit (CPU, accelerators, and memory
// when `memory_counts`); otherwise the free shares of accelerators with less
// free than m asks of each.
Milli TaskFragmentation(const NodeState& node, const PodRequest& m, bool memory_counts);
// F_n(M) = sum over the mix of popularity x F_n(m).
double NodeFragmentation(const NodeState& node, const WorkloadMix& mix, bool memory_counts);

// One placement option on a node: its score (higher wins) and the accelerators it takes.
struct ScoredOption {
  double score = 0;
  GpuChoice gpus;
};

// What a scorer may look at besides the node and the pod.
struct PlacementContext {
  const WorkloadMix* mix = nullptr;  // the target workload (fgd, sovgrid)
  std::mt19937_64* rng = nullptr;    // random choices (random)
};

// A placement policy. Score is called only for nodes that pass Fits.
class NodeScorer {
 public:
  virtual ~NodeScorer() = default;
  virtual std::string_view name() const = 0;
  virtual ScoredOption Score(const NodeState& node, const PodRequest& pod,
                             const PlacementContext& ctx) const = 0;
  // True when Score depends on the node and the pod only (not on the generator),
  // so that a NodeTable may reuse it while the node is unchanged.
  virtual bool cacheable() const { return true; }
};

// random, bestfit, dotprod, gpu-packing, gpu-clustering, fgd, sovgrid.
const std::vector<std::string>& NodeScorerNames();
// InvalidArgument naming the known policies for an unknown name.
Result<std::unique_ptr<NodeScorer>> MakeNodeScorer(std::string_view name);

// Nodes and what is free on them; places pods one at a time.
class NodeTable {
 public:
  explicit NodeTable(std::vector<NodeState> nodes);

  const std::vector<NodeState>& nodes() const { return nodes_; }
  const NodeState& node(std::size_t i) const { return nodes_[i]; }

  struct Placed {
    int node = -1;  // -1: the pod fits nowhere
    GpuChoice gpus;
  };
  // Filters, scores every feasible node with `scorer`, takes the best (ties
  // uniformly at random from ctx.rng, which must be set) and applies it.
  // `shape_id` identifies pods with identical requests (dense, from 0) so that
  // scores of unchanged nodes can be reused; -1 disables reuse for this pod.
  Placed Place(const PodRequest& pod, int shape_id, const NodeScorer& scorer,
               const PlacementContext& ctx);

 private:
  struct CachedScore {
    std::uint32_t version = 0;  // node version + 1 the entry was made at; 0 = empty
    ScoredOption option;
  };
  std::vector<NodeState> nodes_;
  std::vector<std::size_t> order_;
  std::vector<std::uint32_t> version_;           // per node, bumped on every change
  std::vector<std::vector<CachedScore>> cache_;  // [shape][node]
  const NodeScorer* cache_owner_ = nullptr;      // the scorer the cache belongs to
};

}  // namespace sovgrid::sched
