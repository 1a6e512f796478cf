#include "sched/node_placement.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

namespace sovgrid::sched {
namespace {

constexpr Milli kWhole = model::kMilliPerAccelerator;
// The normalisers of the published baselines: the largest node of the Alibaba
// cluster (128 CPUs, 8 GPUs). They are constants, not the node's own capacity.
constexpr double kMaxSpecCpu = 128000;
constexpr double kMaxSpecGpu = 8000;

bool ModelAccepted(const NodeState& n, const PodRequest& p) {
  if (p.cpu_only()) return true;
  if (n.model < 0 || n.gpu_count == 0) return false;
  return (p.models >> n.model) & 1U;
}

// Uniform in [0, n) from a 64-bit generator (bias below 2^-40 for n < 2^24).
std::size_t Draw(std::mt19937_64& rng, std::size_t n) {
  return static_cast<std::size_t>(rng() % static_cast<std::uint64_t>(n));
}

// Truncated to a whole number as the published scorers do (their ties matter).
double Trunc(double v) { return std::floor(v); }

// ---------------------------------------------------------------- baselines

// Random-fit: every feasible node ties; the mechanism's uniform tie-break picks
// one. A shared pod goes to a uniformly random fitting accelerator.
class RandomScorer final : public NodeScorer {
 public:
  std::string_view name() const override { return "random"; }
  bool cacheable() const override { return false; }
  ScoredOption Score(const NodeState& node, const PodRequest& pod,
                     const PlacementContext& ctx) const override {
    assert(ctx.rng != nullptr);
    ScoredOption o;
    // A uniform random score per node: the best is a uniform choice among the feasible.
    o.score = static_cast<double>((*ctx.rng)() >> 11);
    if (!pod.shares_gpu()) {
      o.gpus = LowestFreeGpus(node, pod);
      return o;
    }
    std::array<std::uint8_t, kMaxAcceleratorsPerNode> fit{};
    int n = 0;
    for (int g = 0; g < node.gpu_count; ++g) {
      if (node.gpu_free[g] >= pod.gpu_milli) fit[n++] = static_cast<std::uint8_t>(g);
    }
    assert(n > 0 && ctx.rng != nullptr);
    o.gpus.index[0] = fit[Draw(*ctx.rng, static_cast<std::size_t>(n))];
    o.gpus.count = 1;
    return o;
  }
};

GpuChoice DefaultGpus(const NodeState& node, const PodRequest& pod) {
  return pod.shares_gpu() ? TightestGpu(node, pod) : LowestFreeGpus(node, pod);
}

// Best-fit: the least CPU and accelerator left after placement, each over the
// largest node's size, weighted half and half.
class BestFitScorer final : public NodeScorer {
 public:
  std::string_view name() const override { return "bestfit"; }
  ScoredOption Score(const NodeState& node, const PodRequest& pod,
                     const PlacementContext&) const override {
    const double cpu_left = static_cast<double>(node.cpu_free - pod.cpu_milli) / kMaxSpecCpu;
    const double gpu_left =
        static_cast<double>(node.FreeGpuMilli() - pod.gpu_total()) / kMaxSpecGpu;
    return {Trunc(100 * (1 - (0.5 * cpu_left + 0.5 * gpu_left))), DefaultGpus(node, pod)};
  }
};

// Dot product of the node's free (CPU, accelerator) vector and the pod's
// request, both over the largest node's size, halved; the smallest product wins
// (the configuration the paper compared with: one vector per node, "max" norm).
class DotProductScorer final : public NodeScorer {
 public:
  std::string_view name() const override { return "dotprod"; }
  ScoredOption Score(const NodeState& node, const PodRequest& pod,
                     const PlacementContext&) const override {
    const double dot = (static_cast<double>(node.cpu_free) / kMaxSpecCpu) *
                           (static_cast<double>(pod.cpu_milli) / kMaxSpecCpu) +
                       (static_cast<double>(node.FreeGpuMilli()) / kMaxSpecGpu) *
                           (static_cast<double>(pod.gpu_total()) / kMaxSpecGpu);
    return {Trunc(100 * (1 - dot / 2)), DefaultGpus(node, pod)};
  }
};

// GPU packing: share an accelerator already in use (the fuller the better) >
// open a free accelerator on a node already in use > start an idle node (the
// smaller the better). CPU-only pods score alike everywhere.
class GpuPackingScorer final : public NodeScorer {
 public:
  std::string_view name() const override { return "gpu-packing"; }
  ScoredOption Score(const NodeState& node, const PodRequest& pod,
                     const PlacementContext&) const override {
    ScoredOption o;
    if (pod.cpu_only()) return o;
    o.gpus = DefaultGpus(node, pod);
    const int fully_free = node.FullyFreeGpus();
    if (fully_free == node.gpu_count) {
      o.score = std::max(33 - fully_free, fully_free);
      return o;
    }
    // Take accelerators in increasing free share, as the published scorer simulates.
    std::array<int, kMaxAcceleratorsPerNode> order{};
    for (int g = 0; g < node.gpu_count; ++g) order[g] = g;
    std::stable_sort(order.begin(), order.begin() + node.gpu_count,
                     [&](int a, int b) { return node.gpu_free[a] < node.gpu_free[b]; });
    int taken = 0, opened = 0;
    Milli left_sum = 0;
    for (int i = 0; i < node.gpu_count && taken < pod.gpus; ++i) {
      const Milli left = node.gpu_free[order[i]];
      if (left < pod.gpu_milli) continue;
      ++taken;
      if (left == kWhole) ++opened;
      left_sum += left * 100 / kWhole;  // whole percent of the accelerator, as published
    }
    const auto penalty = static_cast<int>(left_sum / 10);  // whole tenths, as published
    o.score = opened > 0 ? std::max(50 - opened, 33) : std::max(100 - penalty, 50);
    return o;
  }
};

// GPU clustering: pods of the same accelerator shape together; nodes that
// host only that shape first, then mixed ones, then empty ones, then nodes of
// other shapes only; fuller nodes first within each.
class GpuClusteringScorer final : public NodeScorer {
 public:
  std::string_view name() const override { return "gpu-clustering"; }
  ScoredOption Score(const NodeState& node, const PodRequest& pod,
                     const PlacementContext&) const override {
    ScoredOption o;
    if (pod.cpu_only()) return o;
    o.gpus = DefaultGpus(node, pod);
    const std::size_t shape = pod.shares_gpu() ? 0 : static_cast<std::size_t>(pod.gpus);
    bool same = false, other = false;
    for (std::size_t s = 0; s < node.pods_by_gpu_shape.size(); ++s) {
      if (node.pods_by_gpu_shape[s] == 0) continue;
      (s == shape ? same : other) = true;
    }
    const double base = same ? (other ? 50 : 75) : (other ? 0 : 25);
    const double used = kMaxSpecGpu - static_cast<double>(node.FreeGpuMilli());
    o.score = base + std::floor(25 * used / kMaxSpecGpu);
    return o;
  }
};

// The options worth scoring for a fragmentation-driven policy: for a shared pod
// one fitting accelerator per distinct free share (accelerators with the same
// free share are interchangeable), else the lowest free accelerators.
template <typename Fn>
void ForEachOption(const NodeState& node, const PodRequest& pod, Fn&& fn) {
  if (!pod.shares_gpu()) {
    fn(LowestFreeGpus(node, pod));
    return;
  }
  std::array<Milli, kMaxAcceleratorsPerNode> seen{};
  int seen_count = 0;
  for (int g = 0; g < node.gpu_count; ++g) {
    const Milli free = node.gpu_free[g];
    if (free < pod.gpu_milli) continue;
    if (std::find(seen.begin(), seen.begin() + seen_count, free) != seen.begin() + seen_count)
      continue;
    seen[seen_count++] = free;
    GpuChoice c;
    c.index[0] = static_cast<std::uint8_t>(g);
    c.count = 1;
    fn(c);
  }
}

// FGD (Weng et al., ATC'23): the placement that increases the node's
// fragmentation for the target workload least, scored as the published
// scorer does: 100 x sigmoid(-increase in accelerators), truncated; on equal
// truncated scores the lowest accelerator index wins within a node and a
// uniformly random node among nodes.
class FgdScorer final : public NodeScorer {
 public:
  std::string_view name() const override { return "fgd"; }
  ScoredOption Score(const NodeState& node, const PodRequest& pod,
                     const PlacementContext& ctx) const override {
    assert(ctx.mix != nullptr);
    const double before = NodeFragmentation(node, *ctx.mix, false);
    ScoredOption best;
    best.score = -1;
    std::array<ScoredOption, kMaxAcceleratorsPerNode> options{};
    int n = 0;
    ForEachOption(node, pod, [&](const GpuChoice& c) {
      const double after = NodeFragmentation(Apply(node, pod, c), *ctx.mix, false);
      const double x = (before - after) / 1000.0;
      options[n++] = {Trunc(100.0 / (1.0 + std::exp(-x))), c};
    });
    // Lowest accelerator index among the best truncated scores.
    for (int i = 0; i < n; ++i) {
      if (best.score < options[i].score ||
          (best.score == options[i].score && options[i].gpus.index[0] < best.gpus.index[0]))
        best = options[i];
    }
    return best;
  }
};

// sovgrid: FGD's gradient step with a complete fit test. A typical pod that
// would no longer fit for lack of memory strands the node's free accelerators
// as surely as one short of CPU, so memory counts in the fragmentation measure
// (FGD ignores it). The increase is scored on FGD's coarse scale (100 x
// sigmoid, whole numbers): measured on the Alibaba trace, the coarse scale
// with a fixed node order for ties packs better than exact comparisons, which
// chase differences of a few thousandths of an accelerator across the whole
// cluster (docs/fill.md). Within a node the lowest accelerator index wins a tie.
class SovgridScorer final : public NodeScorer {
 public:
  std::string_view name() const override { return "sovgrid"; }
  ScoredOption Score(const NodeState& node, const PodRequest& pod,
                     const PlacementContext& ctx) const override {
    assert(ctx.mix != nullptr);
    const WorkloadMix& mix = *ctx.mix;
    const double before = NodeFragmentation(node, mix, true);
    ScoredOption best;
    bool have = false;
    ForEachOption(node, pod, [&](const GpuChoice& c) {
      const NodeState after = Apply(node, pod, c);
      const double decrease = before - NodeFragmentation(after, mix, true);
      ScoredOption o;
      o.gpus = c;
      o.score = Trunc(100.0 / (1.0 + std::exp(-decrease / 1000.0)));
      if (!have || best.score < o.score) best = o;
      have = true;
    });
    return best;
  }
};

}  // namespace

Milli NodeState::FreeGpuMilli() const {
  Milli sum = 0;
  for (int g = 0; g < gpu_count; ++g) sum += gpu_free[g];
  return sum;
}

int NodeState::FullyFreeGpus() const {
  int n = 0;
  for (int g = 0; g < gpu_count; ++g) n += gpu_free[g] == kWhole ? 1 : 0;
  return n;
}

bool Fits(const NodeState& node, const PodRequest& pod) {
  if (pod.cpu_milli > node.cpu_free || pod.memory_mib > node.memory_free) return false;
  if (pod.cpu_only()) return true;
  if (!ModelAccepted(node, pod)) return false;
  if (pod.shares_gpu()) {
    for (int g = 0; g < node.gpu_count; ++g) {
      if (node.gpu_free[g] >= pod.gpu_milli) return true;
    }
    return false;
  }
  return node.FullyFreeGpus() >= pod.gpus;
}

GpuChoice LowestFreeGpus(const NodeState& node, const PodRequest& pod) {
  GpuChoice c;
  if (pod.cpu_only()) return c;
  for (int g = 0; g < node.gpu_count && c.count < pod.gpus; ++g) {
    if (node.gpu_free[g] == kWhole) c.index[c.count++] = static_cast<std::uint8_t>(g);
  }
  return c;
}

GpuChoice TightestGpu(const NodeState& node, const PodRequest& pod) {
  GpuChoice c;
  Milli best = kWhole + 1;
  for (int g = 0; g < node.gpu_count; ++g) {
    const Milli free = node.gpu_free[g];
    if (free >= pod.gpu_milli && free < best) {
      best = free;
      c.index[0] = static_cast<std::uint8_t>(g);
      c.count = 1;
    }
  }
  return c;
}

NodeState Apply(NodeState node, const PodRequest& pod, const GpuChoice& choice) {
  node.cpu_free -= pod.cpu_milli;
  node.memory_free -= pod.memory_mib;
  for (int i = 0; i < choice.count; ++i) node.gpu_free[choice.index[i]] -= pod.gpu_milli;
  if (!pod.cpu_only()) {
    const std::size_t shape = pod.shares_gpu() ? 0 : static_cast<std::size_t>(pod.gpus);
    if (shape < node.pods_by_gpu_shape.size()) ++node.pods_by_gpu_shape[shape];
  }
  return node;
}

WorkloadMix WorkloadMix::FromPods(const std::vector<PodRequest>& pods, double coverage) {
  using Key = std::tuple<std::int64_t, Milli, int, std::uint64_t>;  // cpu, share, gpus, models
  std::map<Key, std::pair<std::size_t, std::map<std::int64_t, std::size_t>>> groups;
  for (const auto& p : pods) {
    auto& g = groups[{p.cpu_milli, p.cpu_only() ? 0 : p.gpu_milli, p.cpu_only() ? 0 : p.gpus,
                      p.cpu_only() ? kAnyModel : p.models}];
    ++g.first;
    ++g.second[p.memory_mib];
  }
  std::vector<std::pair<std::size_t, Key>> order;
  order.reserve(groups.size());
  for (const auto& [key, g] : groups) order.emplace_back(g.first, key);
  // Most common first; on equal counts the larger key first.
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  WorkloadMix mix;
  const double want = coverage * static_cast<double>(pods.size());
  std::size_t kept = 0;
  for (const auto& [count, key] : order) {
    if (static_cast<double>(kept) >= want && !mix.types.empty()) break;
    const auto& memories = groups[key].second;
    const auto common =
        std::max_element(memories.begin(), memories.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    TypicalPod t;
    t.shape.cpu_milli = std::get<0>(key);
    t.shape.gpu_milli = std::get<1>(key);
    t.shape.gpus = std::get<2>(key);
    t.shape.models = std::get<3>(key);
    t.shape.memory_mib = common->first;
    t.popularity = static_cast<double>(count);
    mix.types.push_back(t);
    kept += count;
  }
  for (auto& t : mix.types) t.popularity /= static_cast<double>(std::max<std::size_t>(kept, 1));
  return mix;
}

Milli TaskFragmentation(const NodeState& node, const PodRequest& m, bool memory_counts) {
  const Milli free = node.FreeGpuMilli();
  if (m.cpu_only() || !ModelAccepted(node, m)) return free;
  if (m.cpu_milli > node.cpu_free || (memory_counts && m.memory_mib > node.memory_free))
    return free;
  Milli unusable = 0;
  int usable = 0;
  for (int g = 0; g < node.gpu_count; ++g) {
    if (node.gpu_free[g] < m.gpu_milli) {
      unusable += node.gpu_free[g];
    } else {
      ++usable;
    }
  }
  return usable >= m.gpus ? unusable : free;
}

double NodeFragmentation(const NodeState& node, const WorkloadMix& mix, bool memory_counts) {
  double f = 0;
  for (const auto& t : mix.types)
    f += t.popularity * static_cast<double>(TaskFragmentation(node, t.shape, memory_counts));
  return f;
}

const std::vector<std::string>& NodeScorerNames() {
  static const std::vector<std::string> kNames = {
      "random", "bestfit", "dotprod", "gpu-packing", "gpu-clustering", "fgd", "sovgrid"};
  return kNames;
}

Result<std::unique_ptr<NodeScorer>> MakeNodeScorer(std::string_view name) {
  if (name == "random") return std::unique_ptr<NodeScorer>(new RandomScorer());
  if (name == "bestfit") return std::unique_ptr<NodeScorer>(new BestFitScorer());
  if (name == "dotprod") return std::unique_ptr<NodeScorer>(new DotProductScorer());
  if (name == "gpu-packing") return std::unique_ptr<NodeScorer>(new GpuPackingScorer());
  if (name == "gpu-clustering") return std::unique_ptr<NodeScorer>(new GpuClusteringScorer());
  if (name == "fgd") return std::unique_ptr<NodeScorer>(new FgdScorer());
  if (name == "sovgrid") return std::unique_ptr<NodeScorer>(new SovgridScorer());
  std::string known;
  for (const auto& n : NodeScorerNames()) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown placement policy '" + std::string(name) + "' (known: " + known +
                         ")");
}

NodeTable::NodeTable(std::vector<NodeState> nodes)
    : nodes_(std::move(nodes)), version_(nodes_.size(), 0) {}

NodeTable::Placed NodeTable::Place(const PodRequest& pod, int shape_id, const NodeScorer& scorer,
                                   const PlacementContext& ctx) {
  assert(ctx.rng != nullptr);
  const bool use_cache = shape_id >= 0 && scorer.cacheable();
  if (use_cache && cache_owner_ != &scorer) {
    cache_.clear();
    cache_owner_ = &scorer;
  }
  std::vector<CachedScore>* cache = nullptr;
  if (use_cache) {
    if (static_cast<std::size_t>(shape_id) >= cache_.size()) cache_.resize(shape_id + 1);
    cache = &cache_[shape_id];
    if (cache->empty()) cache->resize(nodes_.size());
  }
  Placed best;
  ScoredOption best_option;
  if (order_.empty()) {
    order_.resize(nodes_.size());
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    for (std::size_t i = order_.size(); i > 1; --i)
      std::swap(order_[i - 1], order_[Draw(*ctx.rng, i)]);
  }
  for (std::size_t k = 0; k < nodes_.size(); ++k) {
    const std::size_t i = order_[k];
    const NodeState& n = nodes_[i];
    if (!Fits(n, pod)) continue;
    ScoredOption option;
    if (cache != nullptr && (*cache)[i].version == version_[i] + 1) {
      option = (*cache)[i].option;
    } else {
      option = scorer.Score(n, pod, ctx);
      if (cache != nullptr) (*cache)[i] = {version_[i] + 1, option};
    }
    if (best.node < 0 || best_option.score < option.score) {
      best.node = static_cast<int>(i);
      best_option = option;
    }
  }
  if (best.node < 0) return best;
  best.gpus = best_option.gpus;
  NodeState& n = nodes_[static_cast<std::size_t>(best.node)];
  n = Apply(n, pod, best.gpus);
  ++version_[static_cast<std::size_t>(best.node)];
  return best;
}

}  // namespace sovgrid::sched
